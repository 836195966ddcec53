//! Who is in the channel, with which rank, and what plays, as the chat server announces it.
//!
//! CyTube sends the user list with each user's rank when the bot joins, and every join, leave,
//! rank change and away flag after (`user.list`, `user.join`, `user.leave`, `user.rank`,
//! `user.afk` events; ranks: -1 anonymous, 0 guest, 1 registered, 2 moderator, 3 admin,
//! 4 owner, 5 founder, 255 site admin), and the media each time it changes (`media.change`).
//! The router reads them from the events it routes anyway: ranks spare the channel's moderators
//! the rate limits meant for strangers and decide who may use a command; the whole roster
//! answers plugins that ask who is here and what plays ([`Roster::state`]). A user who left is
//! forgotten; one the server never ranked (the local connector's users) has no rank.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{
    connector::ChannelEvent,
    messaging::{self, ChannelMedia, ChannelState, ChannelUser},
    rank::Rank,
};

/// One user, as the chat last described them.
#[derive(Debug, Clone)]
struct Member {
    name: String,
    rank: Rank,
    afk: bool,
}

impl Member {
    fn as_user(&self) -> ChannelUser {
        ChannelUser {
            name: self.name.clone(),
            rank: self.rank.0,
            afk: self.afk,
        }
    }
}

/// The channel's users (by lowercased name: CyTube's names are case-insensitive) and media.
#[derive(Debug, Default)]
pub struct Roster {
    by_name: BTreeMap<String, Member>,
    media: Option<ChannelMedia>,
}

impl Roster {
    /// Takes in what `event` says about the channel, if anything.
    pub fn note(&mut self, event: &ChannelEvent) {
        match event.kind.as_str() {
            messaging::EVENT_USER_LIST => {
                self.by_name.clear();
                let users = event.data["users"].as_array().map(Vec::as_slice);
                for user in users.unwrap_or_default() {
                    self.note_user(user);
                }
            }
            messaging::EVENT_USER_JOIN => self.note_user(&event.data),
            messaging::EVENT_USER_RANK | messaging::EVENT_BOT_RANK => {
                let rank = event.data["rank"].as_i64();
                match (self.member(event), rank) {
                    (Some(member), Some(rank)) => member.rank = Rank(rank),
                    _ => self.note_user(&event.data),
                }
            }
            messaging::EVENT_USER_AFK => {
                let afk = event.data["afk"].as_bool();
                if let (Some(member), Some(afk)) = (self.member(event), afk) {
                    member.afk = afk;
                }
            }
            messaging::EVENT_USER_LEAVE => {
                if let Some(name) = event.data["name"].as_str().or(event.user.as_deref()) {
                    self.by_name.remove(&name.to_lowercase());
                }
            }
            messaging::EVENT_MEDIA_CHANGE => {
                let media = &event.data;
                self.media = media["title"].as_str().map(|title| ChannelMedia {
                    title: title.to_owned(),
                    kind: media["type"].as_str().unwrap_or_default().to_owned(),
                    id: media["id"].as_str().unwrap_or_default().to_owned(),
                    seconds: media["seconds"].as_u64().unwrap_or(0),
                });
            }
            _ => {}
        }
    }

    /// `user`'s rank, if the server said.
    pub fn of(&self, user: &str) -> Option<Rank> {
        self.by_name
            .get(&user.to_lowercase())
            .map(|member| member.rank)
    }

    /// `user` (any case) as the chat last described them, if present.
    pub fn user(&self, user: &str) -> Option<ChannelUser> {
        self.by_name.get(&user.to_lowercase()).map(Member::as_user)
    }

    /// Who is here and what plays, for a plugin that asks.
    pub fn state(&self) -> ChannelState {
        ChannelState {
            users: self.by_name.values().map(Member::as_user).collect(),
            media: self.media.clone(),
        }
    }

    /// The member an event is about (`data.name`, else its user).
    fn member(&mut self, event: &ChannelEvent) -> Option<&mut Member> {
        let name = event.data["name"].as_str().or(event.user.as_deref())?;
        self.by_name.get_mut(&name.to_lowercase())
    }

    fn note_user(&mut self, user: &Value) {
        if let (Some(name), Some(rank)) = (user["name"].as_str(), user["rank"].as_i64()) {
            let afk = user["meta"]["afk"].as_bool().unwrap_or(false);
            let member = Member {
                name: name.to_owned(),
                rank: Rank(rank),
                afk,
            };
            self.by_name.insert(name.to_lowercase(), member);
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
        let mut ranks = Roster::default();
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

    #[test]
    fn the_state_lists_users_as_the_chat_names_them_with_away_flags_and_the_media() {
        let mut roster = Roster::default();
        roster.note(&event(
            messaging::EVENT_USER_LIST,
            json!({ "users": [
                { "name": "Alice", "rank": 2, "meta": { "afk": false } },
                { "name": "bob", "rank": 1, "meta": { "afk": true } },
            ] }),
        ));
        roster.note(&event(
            messaging::EVENT_USER_AFK,
            json!({ "name": "alice", "afk": true }),
        ));
        roster.note(&event(
            messaging::EVENT_MEDIA_CHANGE,
            json!({ "id": "dQw4w9WgXcQ", "title": "A song", "seconds": 212, "duration": "03:32", "type": "yt" }),
        ));
        let state = roster.state();
        assert_eq!(
            state.users,
            vec![
                ChannelUser {
                    name: "Alice".to_owned(),
                    rank: 2,
                    afk: true
                },
                ChannelUser {
                    name: "bob".to_owned(),
                    rank: 1,
                    afk: true
                },
            ]
        );
        assert_eq!(
            state.media,
            Some(ChannelMedia {
                title: "A song".to_owned(),
                kind: "yt".to_owned(),
                id: "dQw4w9WgXcQ".to_owned(),
                seconds: 212,
            })
        );
        roster.note(&event(
            messaging::EVENT_USER_RANK,
            json!({ "name": "BOB", "rank": 3 }),
        ));
        assert_eq!(roster.of("bob"), Some(Rank::ADMIN));
        assert!(
            roster.state().users[1].afk,
            "a rank change keeps the away flag"
        );
    }
}
