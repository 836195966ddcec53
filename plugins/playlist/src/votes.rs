//! Skip votes: who voted to skip the item playing now, and how many votes it takes.
//!
//! Votes belong to one playlist item, by its uid: [`SkipVotes::follow`] starts afresh when
//! another item plays, so a vote never carries over to the next song, even when the plugin
//! missed the `media.change` that also clears them. Names are kept lowercased (CyTube names
//! are unique without ASCII case), and only the votes of users still present count.

/// The votes to skip one playlist item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipVotes {
    /// The uid of the item voted on; `None` before any vote.
    pub uid: Option<u64>,
    /// Who voted, lowercased, in voting order.
    pub voters: Vec<String>,
}

impl SkipVotes {
    /// Votes for item `uid` from now on: the votes so far are dropped when they were for
    /// another item.
    pub fn follow(&mut self, uid: u64) {
        if self.uid != Some(uid) {
            self.uid = Some(uid);
            self.voters.clear();
        }
    }

    /// Counts `user`'s vote; `false` when they had voted already.
    pub fn vote(&mut self, user: &str) -> bool {
        let user = user.to_lowercase();
        if self.voters.contains(&user) {
            return false;
        }
        self.voters.push(user);
        true
    }

    /// How many of the voters are among `present` (lowercased names).
    pub fn count_among(&self, present: &[String]) -> usize {
        self.voters
            .iter()
            .filter(|voter| present.contains(voter))
            .count()
    }

    /// Drops every vote (the item changed, or was skipped).
    pub fn clear(&mut self) {
        self.uid = None;
        self.voters.clear();
    }
}

/// How many votes skip an item when `present` users could vote: `threshold` of them, rounded
/// up, and at least one.
pub fn needed(present: usize, threshold: f64) -> usize {
    // A hair below, so that 10 × 0.7 (7.000000000000001 in floating point) needs 7, not 8.
    let share = (present as f64 * threshold - 1e-9).ceil();
    if share.is_finite() && share >= 1.0 {
        share as usize
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_rounds_up_and_needs_at_least_one_vote() {
        assert_eq!(needed(4, 0.5), 2);
        assert_eq!(needed(5, 0.5), 3);
        assert_eq!(needed(10, 0.7), 7);
        assert_eq!(needed(3, 0.6), 2);
        assert_eq!(needed(3, 1.0), 3);
        assert_eq!(needed(1, 0.5), 1);
        assert_eq!(needed(0, 0.5), 1);
        assert_eq!(needed(2, 0.01), 1);
    }

    #[test]
    fn one_vote_each_per_item_counting_only_those_present() {
        let mut votes = SkipVotes::default();
        votes.follow(7);
        assert!(votes.vote("Alice"));
        assert!(!votes.vote("alice"), "once each");
        assert!(votes.vote("bob"));
        let present = ["alice".to_owned(), "carol".to_owned()];
        assert_eq!(votes.count_among(&present), 1, "bob left");
        votes.follow(7);
        assert_eq!(votes.voters.len(), 2, "the same item keeps its votes");
        votes.follow(8);
        assert_eq!(votes.voters.len(), 0, "another item starts afresh");
        assert_eq!(votes.uid, Some(8));
        votes.clear();
        assert_eq!(votes, SkipVotes::default());
    }
}
