//! The channel as CyTube describes it to the bot: its own rank, the channel's permission table
//! and options, who is present (with rank and mute state), the playlist and the open poll.
//!
//! [`ChannelModel::note`] reads every frame in order and returns the events it means for
//! plugins (playlist changes, media progress at most every [`PROGRESS_EVERY`], polls, mutes,
//! kicks and bans seen in the server's notices). Channel actions are checked against this model
//! before anything is sent ([`super::actions`]), because CyTube ignores most requests it does
//! not permit without a word.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::html;
use crate::messaging::{self, PlaylistEntry, PlaylistState, PollState};

/// The least time between two `media.progress` events (a pause or resume is always told).
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// A user present, as far as actions need to know.
#[derive(Debug, Clone)]
pub struct Present {
    /// The name as the chat shows it.
    pub name: String,
    /// Their effective rank (CyTube's leader has 1.5).
    pub rank: f64,
    /// Muted (or shadow-muted, as far as the bot may know).
    pub muted: bool,
}

/// An event for plugins: kind, the user it concerns, data.
pub type ModelEvent = (&'static str, Option<String>, Value);

/// What the bot knows of the channel.
#[derive(Debug, Default)]
pub struct ChannelModel {
    /// The name the bot is logged in as.
    pub self_name: String,
    /// The bot's own rank (the last `rank` frame); -1 before any.
    pub bot_rank: f64,
    /// The channel's permission table (`setPermissions`): key → least rank.
    pub permissions: HashMap<String, f64>,
    /// Whether `setPermissions` came (before it, nothing can be checked).
    pub knows_permissions: bool,
    /// The channel's options (`channelOpts`).
    pub options: Value,
    /// Present users by lowercased name.
    pub users: HashMap<String, Present>,
    /// The playlist.
    pub playlist: PlaylistState,
    /// The open poll.
    pub poll: Option<PollState>,
    /// The uid the bot voted to skip, if it voted for what plays now.
    pub voted_skip: Option<u64>,
    last_progress: Option<(Instant, bool)>,
}

impl ChannelModel {
    /// A model for a new connection of the bot named `self_name`.
    pub fn new(self_name: &str) -> ChannelModel {
        ChannelModel {
            self_name: self_name.to_owned(),
            bot_rank: -1.0,
            ..ChannelModel::default()
        }
    }

    /// Whether the bot holds permission `key`. A key starting with `playlist` whose `o` twin
    /// exists is also granted by the twin while the playlist is unlocked (CyTube's rule). A key
    /// the table lacks (an unregistered channel has no moderation keys) is held by nobody.
    pub fn allows(&self, key: &str) -> bool {
        self.needed_rank(key)
            .is_some_and(|needed| self.bot_rank >= needed)
    }

    /// The least rank that holds `key` now, `None` when nobody can.
    pub fn needed_rank(&self, key: &str) -> Option<f64> {
        let plain = self.permissions.get(key).copied();
        let open = (key.starts_with("playlist") && !self.playlist.locked)
            .then(|| self.permissions.get(&format!("o{key}")).copied())
            .flatten();
        match (plain, open) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The present user called `name` (any case).
    pub fn user(&self, name: &str) -> Option<&Present> {
        self.users.get(&name.to_lowercase())
    }

    /// The playlist item with `uid`.
    pub fn item(&self, uid: u64) -> Option<&PlaylistEntry> {
        self.playlist.items.iter().find(|item| item.uid == uid)
    }

    /// Takes in frame `name` with `data`; returns the events it means for plugins.
    pub fn note(&mut self, name: &str, data: &Value) -> Vec<ModelEvent> {
        let mut events = Vec::new();
        match name {
            "rank" => {
                if let Some(rank) = data.as_f64() {
                    self.bot_rank = rank;
                }
            }
            "setPermissions" => {
                if let Some(table) = data.as_object() {
                    self.permissions = table
                        .iter()
                        .filter_map(|(key, rank)| Some((key.clone(), rank.as_f64()?)))
                        .collect();
                    self.knows_permissions = true;
                }
            }
            "channelOpts" => self.options = data.clone(),
            "userlist" => {
                self.users.clear();
                for user in data.as_array().map(Vec::as_slice).unwrap_or_default() {
                    self.note_user(user);
                }
            }
            "addUser" => self.note_user(data),
            "userLeave" => {
                if let Some(name) = data["name"].as_str() {
                    self.users.remove(&name.to_lowercase());
                }
            }
            "setUserRank" => {
                if let (Some(name), Some(rank)) = (data["name"].as_str(), data["rank"].as_f64()) {
                    if let Some(user) = self.users.get_mut(&name.to_lowercase()) {
                        user.rank = rank;
                    }
                }
            }
            "setUserMeta" => {
                if let Some(name) = data["name"].as_str() {
                    let meta = &data["meta"];
                    let muted = meta["muted"].as_bool().unwrap_or(false);
                    let smuted = meta["smuted"].as_bool().unwrap_or(false);
                    let changed = match self.users.get_mut(&name.to_lowercase()) {
                        Some(user) if user.muted != (muted || smuted) => {
                            user.muted = muted || smuted;
                            true
                        }
                        Some(_) => false,
                        None => true,
                    };
                    if changed {
                        let mut event = json!({ "name": name, "muted": muted });
                        if meta.get("smuted").is_some() {
                            event["smuted"] = json!(smuted);
                        }
                        events.push((messaging::EVENT_USER_MUTE, Some(name.to_owned()), event));
                    }
                }
            }
            "setPlaylistLocked" => {
                if let Some(locked) = data.as_bool() {
                    if locked != self.playlist.locked {
                        self.playlist.locked = locked;
                        events.push((
                            messaging::EVENT_PLAYLIST_LOCK,
                            None,
                            json!({ "locked": locked }),
                        ));
                    }
                }
            }
            "playlist" => {
                let items = data.as_array().map(Vec::as_slice).unwrap_or_default();
                self.playlist.items = items.iter().filter_map(entry).collect();
                if self
                    .playlist
                    .current
                    .is_some_and(|uid| self.item(uid).is_none())
                {
                    self.playlist.current = None;
                }
                events.push((
                    messaging::EVENT_PLAYLIST_SET,
                    None,
                    json!({ "items": self.playlist.items, "current": self.playlist.current }),
                ));
            }
            "queue" => {
                if let Some(item) = entry(&data["item"]) {
                    let at = match &data["after"] {
                        Value::Number(after) => after
                            .as_u64()
                            .and_then(|after| self.position(after))
                            .map_or(self.playlist.items.len(), |i| i + 1),
                        _ => 0,
                    };
                    self.playlist.items.insert(at, item.clone());
                    events.push((
                        messaging::EVENT_PLAYLIST_ADD,
                        Some(item.queued_by.clone()).filter(|by| !by.is_empty()),
                        json!({ "item": item, "after": data["after"].as_u64() }),
                    ));
                }
            }
            "delete" => {
                if let Some(uid) = data["uid"].as_u64() {
                    if let Some(i) = self.position(uid) {
                        self.playlist.items.remove(i);
                    }
                    events.push((
                        messaging::EVENT_PLAYLIST_DELETE,
                        None,
                        json!({ "uid": uid }),
                    ));
                }
            }
            "moveVideo" => {
                if let Some(from) = data["from"].as_u64() {
                    self.move_item(from, &data["after"]);
                    events.push((
                        messaging::EVENT_PLAYLIST_MOVE,
                        None,
                        json!({ "from": from, "after": data["after"] }),
                    ));
                }
            }
            "setCurrent" => {
                let uid = data.as_u64().or_else(|| data.as_str()?.parse().ok());
                if uid != self.playlist.current {
                    self.voted_skip = None;
                }
                self.playlist.current = uid;
            }
            "changeMedia" => {
                self.voted_skip = None;
                self.note_progress(data);
            }
            "mediaUpdate" => {
                let paused = data["paused"].as_bool().unwrap_or(false);
                self.note_progress(data);
                let now = Instant::now();
                let due = match self.last_progress {
                    Some((at, was_paused)) => {
                        was_paused != paused || now.duration_since(at) >= PROGRESS_EVERY
                    }
                    None => true,
                };
                if due {
                    self.last_progress = Some((now, paused));
                    events.push((
                        messaging::EVENT_MEDIA_PROGRESS,
                        None,
                        json!({ "time": data["currentTime"], "paused": paused, "uid": self.playlist.current }),
                    ));
                }
            }
            "newPoll" | "updatePoll" => {
                let opening = name == "newPoll";
                let poll = poll_state(data);
                self.poll = Some(poll.clone());
                let kind = if opening {
                    messaging::EVENT_POLL_OPEN
                } else {
                    messaging::EVENT_POLL_UPDATE
                };
                events.push((kind, Some(poll.opened_by.clone()), json!(poll)));
            }
            "closePoll" => {
                let last = self.poll.take();
                events.push((messaging::EVENT_POLL_CLOSE, None, json!(last)));
            }
            "chatMsg" if data["username"].as_str() == Some("[server]") => {
                if let Some(event) = notice_event(data["msg"].as_str().unwrap_or_default()) {
                    events.push(event);
                }
            }
            _ => {}
        }
        events
    }

    fn note_user(&mut self, user: &Value) {
        if let Some(name) = user["name"].as_str() {
            let meta = &user["meta"];
            self.users.insert(
                name.to_lowercase(),
                Present {
                    name: name.to_owned(),
                    rank: user["rank"].as_f64().unwrap_or(0.0),
                    muted: meta["muted"].as_bool().unwrap_or(false)
                        || meta["smuted"].as_bool().unwrap_or(false),
                },
            );
        }
    }

    fn note_progress(&mut self, data: &Value) {
        if let Some(time) = data["currentTime"].as_f64() {
            self.playlist.position_ms = (time.max(0.0) * 1000.0) as u64;
        }
        if let Some(paused) = data["paused"].as_bool() {
            self.playlist.paused = paused;
        }
    }

    fn position(&self, uid: u64) -> Option<usize> {
        self.playlist.items.iter().position(|item| item.uid == uid)
    }

    fn move_item(&mut self, from: u64, after: &Value) {
        let Some(i) = self.position(from) else { return };
        let item = self.playlist.items.remove(i);
        let at = match after {
            Value::String(word) if word == "prepend" => 0,
            Value::String(word) if word == "append" => self.playlist.items.len(),
            other => other
                .as_u64()
                .or_else(|| other.as_str()?.parse().ok())
                .and_then(|after| self.position(after))
                .map_or(self.playlist.items.len(), |i| i + 1),
        };
        self.playlist.items.insert(at, item);
    }
}

/// A playlist item frame (`{uid, temp, queueby, media: {id, title, seconds, type}}`).
fn entry(item: &Value) -> Option<PlaylistEntry> {
    let media = &item["media"];
    Some(PlaylistEntry {
        uid: item["uid"].as_u64()?,
        title: media["title"].as_str().unwrap_or_default().to_owned(),
        kind: media["type"].as_str().unwrap_or_default().to_owned(),
        id: media["id"].as_str().unwrap_or_default().to_owned(),
        seconds: media["seconds"].as_f64().map_or(0, |s| s.max(0.0) as u64),
        temp: item["temp"].as_bool().unwrap_or(false),
        queued_by: item["queueby"].as_str().unwrap_or_default().to_owned(),
    })
}

/// A poll frame (`{title, options, counts, initiator, timestamp}`): counts are numbers, or
/// `"n?"` (hidden, shown to moderators) or `"?"` (hidden from the bot). A hidden poll is
/// revealed (plain numbers) just before it closes.
fn poll_state(data: &Value) -> PollState {
    let counts = data["counts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = |value: &Value| html::to_plain_text(value.as_str().unwrap_or_default());
    PollState {
        title: text(&data["title"]),
        options: data["options"]
            .as_array()
            .map(|options| options.iter().map(text).collect())
            .unwrap_or_default(),
        counts: counts
            .iter()
            .map(|count| {
                count
                    .as_u64()
                    .or_else(|| count.as_str()?.strip_suffix('?')?.parse().ok())
            })
            .collect(),
        hidden: counts.iter().any(Value::is_string),
        opened_by: data["initiator"].as_str().unwrap_or_default().to_owned(),
        opened_ms: data["timestamp"].as_u64().unwrap_or(0),
    }
}

/// The event a `[server]` notice tells of: `<by> kicked <name>`, `<by> namebanned <name>`.
fn notice_event(text: &str) -> Option<ModelEvent> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [by, verb, name] = words.as_slice() else {
        return None;
    };
    let kind = match *verb {
        "kicked" => messaging::EVENT_USER_KICK,
        "namebanned" => messaging::EVENT_USER_BAN,
        _ => return None,
    };
    if !rosey_abi::channel::is_valid_user_name(name) {
        return None;
    }
    Some((
        kind,
        Some((*name).to_owned()),
        json!({ "name": name, "by": by }),
    ))
}

#[cfg(test)]
mod tests;
