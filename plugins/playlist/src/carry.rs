//! What one instance hands the next across a reload ([`rosey_abi::Plugin::unload`] →
//! [`rosey_abi::LoadContext::state`]): the skip votes on the item playing, who asked for the
//! items the bot queued, and whether the bot's missing rank was reported already.
//!
//! A few lines of text, versioned by the first:
//!
//! ```text
//! playlist state 1
//! votes 42 alice bob
//! added 43 carol
//! rank_reported
//! ```
//!
//! None of it is precious: a restart without state only forgets who asked for what (the
//! chat's own `queued_by` then names the bot) and the votes cast on the item playing.

use crate::votes::SkipVotes;

/// The first line of the handed-over state.
const HEADER: &str = "playlist state 1";

/// Everything handed to the next instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// The votes on the item playing.
    pub votes: SkipVotes,
    /// Items the bot queued for someone: uid and who asked.
    pub added: Vec<(u64, String)>,
    /// Whether "I can't skip here" was said already.
    pub rank_reported: bool,
}

impl Carried {
    /// The state as `unload` returns it. A name with whitespace in it (only a local chat
    /// allows one) is left out rather than break the line.
    pub fn encode(&self) -> Vec<u8> {
        let plain = |name: &&String| !name.is_empty() && !name.contains(char::is_whitespace);
        let mut text = format!("{HEADER}\n");
        if let Some(uid) = self.votes.uid {
            let voters: Vec<&str> = (self.votes.voters.iter().filter(plain))
                .map(String::as_str)
                .collect();
            text.push_str(&format!("votes {uid} {}\n", voters.join(" ")));
        }
        for (uid, user) in &self.added {
            if plain(&user) {
                text.push_str(&format!("added {uid} {user}\n"));
            }
        }
        if self.rank_reported {
            text.push_str("rank_reported\n");
        }
        text.into_bytes()
    }

    /// The state [`Carried::encode`] made; `Err` says why it cannot be read.
    pub fn decode(bytes: &[u8]) -> Result<Carried, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("it does not start with {HEADER:?}"));
        }
        let mut carried = Carried::default();
        for line in lines {
            let mut words = line.split_whitespace();
            let bad = || format!("bad line {line:?}");
            match words.next() {
                Some("votes") => {
                    let uid = words.next().and_then(|uid| uid.parse().ok());
                    carried.votes = SkipVotes {
                        uid: Some(uid.ok_or_else(bad)?),
                        voters: words.map(str::to_lowercase).collect(),
                    };
                }
                Some("added") => {
                    let uid = words.next().and_then(|uid| uid.parse().ok());
                    let user = words.next();
                    match (uid, user, words.next()) {
                        (Some(uid), Some(user), None) => carried.added.push((uid, user.to_owned())),
                        _ => return Err(bad()),
                    }
                }
                Some("rank_reported") => carried.rank_reported = true,
                None => {}
                Some(_) => return Err(format!("unknown line {line:?}")),
            }
        }
        Ok(carried)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips() {
        let carried = Carried {
            votes: SkipVotes {
                uid: Some(42),
                voters: vec!["alice".to_owned(), "bob".to_owned()],
            },
            added: vec![(43, "Carol".to_owned()), (44, "dave".to_owned())],
            rank_reported: true,
        };
        assert_eq!(Carried::decode(&carried.encode()), Ok(carried));
        let empty = Carried::default();
        assert_eq!(Carried::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn unreadable_state_says_why() {
        assert!(Carried::decode(b"playlist state 9\n").is_err());
        assert!(Carried::decode(&[0xff]).is_err());
        let bad = Carried::decode(b"playlist state 1\nvotes x alice\n");
        assert!(bad.unwrap_err().contains("bad line"));
        let bad = Carried::decode(b"playlist state 1\nadded 3\n");
        assert!(bad.unwrap_err().contains("bad line"));
        let bad = Carried::decode(b"playlist state 1\nshuffle\n");
        assert!(bad.unwrap_err().contains("unknown line"));
    }

    #[test]
    fn names_that_would_break_a_line_are_left_out() {
        let carried = Carried {
            added: vec![(1, "two words".to_owned()), (2, "ok".to_owned())],
            ..Carried::default()
        };
        let decoded = Carried::decode(&carried.encode()).unwrap_or_default();
        assert_eq!(decoded.added, [(2, "ok".to_owned())]);
    }
}
