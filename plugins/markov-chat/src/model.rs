//! The Markov model: learning word transitions, generating sentences, and the byte format the
//! model is carried over a reload in.

use std::{collections::HashMap, fmt};

/// Version of the byte format written by [`Model::encode`]; its first byte.
pub const FORMAT_VERSION: u8 = 1;

/// The id standing for "start of message" before the first word and "end" after the last.
const BOUNDARY: u32 = 0;

/// The most words of one message that are learned.
const MAX_WORDS_PER_MESSAGE: usize = 100;

/// A state: the previous two word ids (order 2), or `BOUNDARY` and the previous word (order 1).
type State = (u32, u32);

/// A word-transition model of order 1 or 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    order: u8,
    /// Word `id` is `words[id - 1]`; id 0 is [`BOUNDARY`].
    words: Vec<String>,
    index: HashMap<String, u32>,
    /// For each state, the words seen after it and how often.
    transitions: HashMap<State, Vec<(u32, u32)>>,
    /// Distinct (state, next word) pairs.
    transition_count: u64,
    messages: u64,
}

/// Why a sentence could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerateError {
    /// Nothing learned yet.
    NotEnough,
    /// The seed word was never seen.
    UnknownWord(String),
}

/// Why carried-over bytes are not a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The first byte is not [`FORMAT_VERSION`].
    Version(u8),
    /// The bytes end too early or carry something impossible.
    Corrupt(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Version(version) => write!(
                f,
                "state format version {version} is not the supported version {FORMAT_VERSION}"
            ),
            DecodeError::Corrupt(what) => write!(f, "state is corrupt: {what}"),
        }
    }
}

impl Model {
    /// An empty model of `order` (1 or 2; anything else counts as 1).
    pub fn new(order: u8) -> Model {
        Model {
            order: if order == 2 { 2 } else { 1 },
            words: Vec::new(),
            index: HashMap::new(),
            transitions: HashMap::new(),
            transition_count: 0,
            messages: 0,
        }
    }

    /// The order: how many previous words choose the next.
    pub fn order(&self) -> u8 {
        self.order
    }

    /// Distinct transitions learned.
    pub fn transition_count(&self) -> u64 {
        self.transition_count
    }

    /// Messages learned from.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Distinct words known.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.index.get(word) {
            return id;
        }
        self.words.push(word.to_owned());
        let id = self.words.len() as u32;
        self.index.insert(word.to_owned(), id);
        id
    }

    fn advance(&self, state: State, next: u32) -> State {
        if self.order == 2 {
            (state.1, next)
        } else {
            (BOUNDARY, next)
        }
    }

    /// Learns the transitions in one message; `false` when it has no words.
    pub fn learn(&mut self, text: &str) -> bool {
        let ids: Vec<u32> = text
            .split_whitespace()
            .take(MAX_WORDS_PER_MESSAGE)
            .map(|word| self.intern(word))
            .collect();
        if ids.is_empty() {
            return false;
        }
        let mut state = (BOUNDARY, BOUNDARY);
        for next in ids.into_iter().chain([BOUNDARY]) {
            let followers = self.transitions.entry(state).or_default();
            match followers.iter_mut().find(|(word, _)| *word == next) {
                Some((_, count)) => *count = count.saturating_add(1),
                None => {
                    followers.push((next, 1));
                    self.transition_count += 1;
                }
            }
            state = self.advance(state, next);
        }
        self.messages += 1;
        true
    }

    fn word(&self, id: u32) -> &str {
        self.words
            .get((id as usize).wrapping_sub(1))
            .map_or("", String::as_str)
    }

    /// The id of `word`, matched exactly or else ignoring case.
    fn find_word(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied().or_else(|| {
            let lower = word.to_lowercase();
            self.words
                .iter()
                .position(|known| known.to_lowercase() == lower)
                .map(|i| i as u32 + 1)
        })
    }

    /// Makes up a sentence of at most `max_words` words, starting with `seed` when given.
    pub fn generate(
        &self,
        seed: Option<&str>,
        max_words: usize,
        rng: &mut fastrand::Rng,
    ) -> Result<String, GenerateError> {
        if self.transitions.is_empty() {
            return Err(GenerateError::NotEnough);
        }
        let mut output: Vec<&str> = Vec::new();
        let mut state = match seed {
            None => (BOUNDARY, BOUNDARY),
            Some(seed) => {
                let id = self
                    .find_word(seed)
                    .ok_or_else(|| GenerateError::UnknownWord(seed.to_owned()))?;
                output.push(self.word(id));
                if self.order == 2 {
                    // Any context the seed was seen in.
                    let mut states: Vec<State> = self
                        .transitions
                        .keys()
                        .filter(|state| state.1 == id)
                        .copied()
                        .collect();
                    states.sort_unstable();
                    if states.is_empty() {
                        return Err(GenerateError::UnknownWord(seed.to_owned()));
                    }
                    states[rng.usize(..states.len())]
                } else {
                    (BOUNDARY, id)
                }
            }
        };
        while output.len() < max_words {
            let Some(next) = self.pick(state, rng) else {
                break;
            };
            if next == BOUNDARY {
                break;
            }
            output.push(self.word(next));
            state = self.advance(state, next);
        }
        if output.is_empty() {
            return Err(GenerateError::NotEnough);
        }
        Ok(output.join(" "))
    }

    /// A follower of `state`, chosen in proportion to how often it was seen.
    fn pick(&self, state: State, rng: &mut fastrand::Rng) -> Option<u32> {
        let followers = self.transitions.get(&state)?;
        let total: u64 = followers.iter().map(|&(_, count)| u64::from(count)).sum();
        if total == 0 {
            return None;
        }
        let mut ticket = rng.u64(..total);
        for &(word, count) in followers {
            if ticket < u64::from(count) {
                return Some(word);
            }
            ticket -= u64::from(count);
        }
        None
    }

    /// The model as bytes: version, order, message count, the words, then every state with its
    /// followers. Integers are little-endian; states are sorted so equal models encode equally.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION, self.order];
        out.extend_from_slice(&self.messages.to_le_bytes());
        put_u32(&mut out, self.words.len() as u32);
        for word in &self.words {
            put_u32(&mut out, word.len() as u32);
            out.extend_from_slice(word.as_bytes());
        }
        let mut states: Vec<(&State, &Vec<(u32, u32)>)> = self.transitions.iter().collect();
        states.sort_unstable_by_key(|(state, _)| **state);
        put_u32(&mut out, states.len() as u32);
        for ((a, b), followers) in states {
            put_u32(&mut out, *a);
            put_u32(&mut out, *b);
            put_u32(&mut out, followers.len() as u32);
            for &(word, count) in followers {
                put_u32(&mut out, word);
                put_u32(&mut out, count);
            }
        }
        out
    }

    /// Reads bytes written by [`Model::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Model, DecodeError> {
        let mut input = Reader { rest: bytes };
        let version = input.u8()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::Version(version));
        }
        let order = input.u8()?;
        if order != 1 && order != 2 {
            return Err(DecodeError::Corrupt("order is neither 1 nor 2"));
        }
        let mut model = Model::new(order);
        model.messages = u64::from_le_bytes(input.array()?);

        let word_count = input.u32()?;
        for _ in 0..word_count {
            let len = input.u32()? as usize;
            let word = std::str::from_utf8(input.take(len)?)
                .map_err(|_| DecodeError::Corrupt("a word is not UTF-8"))?;
            if word.is_empty() || model.index.contains_key(word) {
                return Err(DecodeError::Corrupt("a word is empty or repeated"));
            }
            model.intern(word);
        }

        let valid = |id: u32| id <= word_count;
        let state_count = input.u32()?;
        for _ in 0..state_count {
            let state = (input.u32()?, input.u32()?);
            let follower_count = input.u32()? as usize;
            if !valid(state.0) || !valid(state.1) || follower_count == 0 {
                return Err(DecodeError::Corrupt("a state is out of range or empty"));
            }
            // Each follower takes 8 bytes: refuse counts the input cannot hold before allocating.
            if follower_count > input.rest.len() / 8 {
                return Err(DecodeError::Corrupt("truncated"));
            }
            let mut followers = Vec::with_capacity(follower_count);
            for _ in 0..follower_count {
                let (word, count) = (input.u32()?, input.u32()?);
                if !valid(word) || count == 0 {
                    return Err(DecodeError::Corrupt("a transition is out of range"));
                }
                followers.push((word, count));
            }
            model.transition_count += follower_count as u64;
            if model.transitions.insert(state, followers).is_some() {
                return Err(DecodeError::Corrupt("a state is repeated"));
            }
        }
        if !input.rest.is_empty() {
            return Err(DecodeError::Corrupt("trailing bytes"));
        }
        Ok(model)
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Reads the encoding front to back.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::Corrupt("truncated"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained(order: u8) -> Model {
        let mut model = Model::new(order);
        for text in [
            "the cat sat on the mat",
            "the dog sat on the log",
            "a cat and a dog",
        ] {
            assert!(model.learn(text));
        }
        model
    }

    #[test]
    fn counts_distinct_transitions() {
        let mut model = Model::new(1);
        assert!(!model.learn("   "));
        assert!(model.learn("a b a b"));
        // start→a, a→b, b→a, b→end
        assert_eq!(model.transition_count(), 4);
        assert!(model.learn("a b"));
        assert_eq!((model.transition_count(), model.messages()), (4, 2));
        assert_eq!(model.word_count(), 2);
    }

    #[test]
    fn generates_only_learned_words_within_the_limit() {
        for order in [1, 2] {
            let model = trained(order);
            let mut rng = fastrand::Rng::with_seed(9);
            for _ in 0..50 {
                let text = model.generate(None, 5, &mut rng).unwrap_or_default();
                let words: Vec<&str> = text.split(' ').collect();
                assert!((1..=5).contains(&words.len()), "{text}");
                assert!(words.iter().all(|w| model.index.contains_key(*w)), "{text}");
            }
        }
    }

    #[test]
    fn order_two_repeats_a_single_sentence_exactly() {
        let mut model = Model::new(2);
        model.learn("one two three four five");
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            model.generate(None, 30, &mut rng).as_deref(),
            Ok("one two three four five")
        );
        assert_eq!(
            model.generate(Some("THREE"), 30, &mut rng).as_deref(),
            Ok("three four five")
        );
    }

    #[test]
    fn explains_what_it_cannot_do() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            Model::new(1).generate(None, 30, &mut rng),
            Err(GenerateError::NotEnough)
        );
        assert_eq!(
            trained(1).generate(Some("zebra"), 30, &mut rng),
            Err(GenerateError::UnknownWord("zebra".to_owned()))
        );
    }

    #[test]
    fn encoding_round_trips() {
        for order in [1, 2] {
            let model = trained(order);
            let bytes = model.encode();
            assert_eq!(bytes[0], FORMAT_VERSION);
            let decoded = Model::decode(&bytes);
            assert_eq!(decoded.as_ref(), Ok(&model));
            assert_eq!(decoded.map(|m| m.encode()), Ok(bytes));
        }
        let empty = Model::new(1);
        assert_eq!(Model::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn refuses_bad_state() {
        let bytes = trained(1).encode();
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 99;
        assert_eq!(Model::decode(&wrong_version), Err(DecodeError::Version(99)));
        assert!(Model::decode(&[]).is_err());
        for cut in [1, 5, 10, bytes.len() - 1] {
            assert!(Model::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            Model::decode(&trailing),
            Err(DecodeError::Corrupt("trailing bytes"))
        );
        let mut bad_order = bytes;
        bad_order[1] = 3;
        assert!(Model::decode(&bad_order).is_err());
    }
}
