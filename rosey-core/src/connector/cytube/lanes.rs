//! Fair queueing of what the bot says, between the chat users it speaks for.
//!
//! Every message waits in the lane of the user it answers (names compared without ASCII case,
//! as CyTube compares them), or in the one lane for messages said on nobody's behalf. Lanes are
//! served round robin, one message per turn: after its turn a lane goes to the back of the line
//! if it still holds messages, and is dropped once empty (a user who speaks again starts a new
//! lane at the back). So with `n` lanes waiting, a message newly queued in a lane of its own
//! goes out after at most `n` others, however many any one user queued; within a lane, order is
//! kept.

use std::collections::{HashMap, VecDeque};

/// Whose lane a message waits in: `None` for nobody's, otherwise the user's name folded to
/// ASCII lowercase.
type Key = Option<String>;

/// Per-user FIFO lanes taken in turn, so one talkative user cannot hold back everyone else.
#[derive(Debug)]
pub struct Lanes<T> {
    lanes: HashMap<Key, VecDeque<T>>,
    /// The lanes holding messages, next to be served first; each key appears once.
    turns: VecDeque<Key>,
    len: usize,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            lanes: HashMap::new(),
            turns: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> Lanes<T> {
    /// Queues `item` at the back of `user`'s lane (`None`, or a blank name, for nobody's): a
    /// lane that was empty joins the back of the line, so those already waiting go first.
    pub fn push(&mut self, user: Option<&str>, item: T) {
        let key = user
            .filter(|user| !user.trim().is_empty())
            .map(str::to_ascii_lowercase);
        let lane = self.lanes.entry(key.clone()).or_default();
        if lane.is_empty() {
            self.turns.push_back(key);
        }
        lane.push_back(item);
        self.len += 1;
    }

    /// Takes the oldest message of the lane whose turn it is; that lane then waits behind the
    /// others, or is dropped if it has nothing left.
    pub fn pop(&mut self) -> Option<T> {
        while let Some(key) = self.turns.pop_front() {
            let Some(lane) = self.lanes.get_mut(&key) else {
                continue;
            };
            let Some(item) = lane.pop_front() else {
                self.lanes.remove(&key);
                continue;
            };
            if lane.is_empty() {
                self.lanes.remove(&key);
            } else {
                self.turns.push_back(key);
            }
            self.len -= 1;
            return Some(item);
        }
        None
    }

    /// How many messages wait, in all lanes together.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no lane holds a message.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many lanes hold messages (empty lanes are not kept).
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(lanes: &mut Lanes<String>) -> Vec<String> {
        std::iter::from_fn(|| lanes.pop()).collect()
    }

    #[test]
    fn lanes_take_turns_one_message_each() {
        let mut lanes = Lanes::default();
        for n in 0..3 {
            lanes.push(Some("alice"), format!("a{n}"));
        }
        lanes.push(Some("bob"), "b0".to_owned());
        lanes.push(None, "n0".to_owned());
        lanes.push(Some("bob"), "b1".to_owned());
        assert_eq!((lanes.len(), lanes.lanes()), (6, 3));
        assert_eq!(drain(&mut lanes), ["a0", "b0", "n0", "a1", "b1", "a2"]);
        assert!(lanes.is_empty());
        assert_eq!(lanes.lanes(), 0, "empty lanes are dropped");
    }

    #[test]
    fn names_are_compared_without_ascii_case_and_blank_is_nobody() {
        let mut lanes = Lanes::default();
        lanes.push(Some("Alice"), "a0".to_owned());
        lanes.push(Some("ALICE"), "a1".to_owned());
        lanes.push(Some(""), "n0".to_owned());
        lanes.push(None, "n1".to_owned());
        assert_eq!(lanes.lanes(), 2);
        assert_eq!(drain(&mut lanes), ["a0", "n0", "a1", "n1"]);
    }

    #[test]
    fn a_lane_that_empties_rejoins_at_the_back() {
        let mut lanes = Lanes::default();
        lanes.push(Some("alice"), "a0".to_owned());
        lanes.push(Some("bob"), "b0".to_owned());
        lanes.push(Some("bob"), "b1".to_owned());
        assert_eq!(lanes.pop().as_deref(), Some("a0"));
        lanes.push(Some("alice"), "a1".to_owned());
        assert_eq!(drain(&mut lanes), ["b0", "a1", "b1"]);
    }

    #[test]
    fn many_users_do_not_grow_the_lanes_kept() {
        let mut lanes = Lanes::default();
        for n in 0..1000 {
            lanes.push(Some(&format!("user{n}")), n.to_string());
            assert_eq!(lanes.pop(), Some(n.to_string()));
        }
        assert_eq!((lanes.len(), lanes.lanes()), (0, 0));
    }
}
