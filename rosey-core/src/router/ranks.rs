//! Who in the channel holds which rank, as the chat server announces it.
//!
//! CyTube sends the user list with each user's rank when the bot joins, and every join and
//! rank change after (`user.list`, `user.join`, `user.rank` events; ranks: -1 anonymous,
//! 0 guest, 1 registered, 2 moderator, 3 admin, 4 owner, 5 founder, 255 site admin). The router
//! reads them from the events it routes anyway, so the channel's moderators can be spared the
//! rate limits meant for strangers. A user who left is forgotten; one the server never ranked
//! (the local connector's users) has no rank.

use std::collections::HashMap;

use serde_json::Value;

use crate::{connector::ChannelEvent, messaging, rank::Rank};

/// Ranks by user name (lowercased: CyTube's names are case-insensitive).
#[derive(Debug, Default)]
pub struct Ranks {
    by_name: HashMap<String, Rank>,
}

impl Ranks {
    /// Takes in what `event` says about ranks, if anything.
    pub fn note(&mut self, event: &ChannelEvent) {
        match event.kind.as_str() {
            messaging::EVENT_USER_LIST => {
                self.by_name.clear();
                let users = event.data["users"].as_array().map(Vec::as_slice);
                for user in users.unwrap_or_default() {
                    self.note_user(user);
                }
            }
            messaging::EVENT_USER_JOIN | messaging::EVENT_USER_RANK => self.note_user(&event.data),
            messaging::EVENT_USER_LEAVE => {
                if let Some(name) = event.data["name"].as_str().or(event.user.as_deref()) {
                    self.by_name.remove(&name.to_lowercase());
                }
            }
            _ => {}
        }
    }

    /// `user`'s rank, if the server said.
    pub fn of(&self, user: &str) -> Option<Rank> {
        self.by_name.get(&user.to_lowercase()).copied()
    }

    fn note_user(&mut self, user: &Value) {
        if let (Some(name), Some(rank)) = (user["name"].as_str(), user["rank"].as_i64()) {
            self.by_name.insert(name.to_lowercase(), Rank(rank));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, data: Value) -> ChannelEvent {
        ChannelEvent {
            kind: kind.to_owned(),
            user: data["name"].as_str().map(str::to_owned),
            time_ms: 1,
            id: "e".to_owned(),
            data,
        }
    }

    #[test]
    fn ranks_follow_the_list_joins_changes_and_leaves() {
        let mut ranks = Ranks::default();
        ranks.note(&event(
            messaging::EVENT_USER_LIST,
            json!({ "users": [{ "name": "Mod", "rank": 2 }, { "name": "guest", "rank": 0 }] }),
        ));
        assert_eq!(ranks.of("mod"), Some(Rank::MODERATOR));
        assert_eq!(ranks.of("guest"), Some(Rank::GUEST));
        ranks.note(&event(
            messaging::EVENT_USER_RANK,
            json!({ "name": "guest", "rank": 3 }),
        ));
        assert_eq!(ranks.of("GUEST"), Some(Rank::ADMIN));
        ranks.note(&event(
            messaging::EVENT_USER_JOIN,
            json!({ "name": "new", "rank": 1, "meta": {} }),
        ));
        assert_eq!(ranks.of("new"), Some(Rank::REGISTERED));
        ranks.note(&event(
            messaging::EVENT_USER_LEAVE,
            json!({ "name": "Mod" }),
        ));
        assert_eq!(ranks.of("mod"), None);
        ranks.note(&event(
            messaging::EVENT_USER_JOIN,
            json!({ "name": "odd", "rank": "high" }),
        ));
        assert_eq!(
            ranks.of("odd"),
            None,
            "a rank that is not a number is ignored"
        );
    }
}
