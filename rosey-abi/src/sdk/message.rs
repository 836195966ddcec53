//! What a hook is handed: a routed [`Command`] or a subscribed [`Event`].

use crate::{
    ffi::{FfiCommand, FfiEvent},
    rank::Rank,
};

use super::{MessageSource, Origin};

/// A routed chat command.
#[derive(Debug)]
pub struct Command<'a> {
    raw: &'a FfiCommand,
    rank: Option<Rank>,
}

impl<'a> Command<'a> {
    #[doc(hidden)]
    pub fn new(raw: &'a FfiCommand) -> Self {
        Command { raw, rank: None }
    }

    #[doc(hidden)]
    pub fn with_rank(mut self, rank: Option<Rank>) -> Self {
        self.rank = rank;
        self
    }

    /// The sender's rank in the channel, when the chat said (`None` on a host too old to
    /// know). A command only moderators may use is better declared with `min_rank` in the
    /// manifest, which the bot enforces before the plugin is woken; this is for finer
    /// choices (`!trivia` for all, `!trivia stop` for moderators).
    pub fn rank(&self) -> Option<Rank> {
        self.rank
    }

    /// Unique id of the message that carried the command.
    pub fn id(&self) -> &'a str {
        &self.raw.id
    }

    /// The command word, without the `!`.
    pub fn name(&self) -> &'a str {
        &self.raw.command
    }

    /// Everything after the command word, trimmed.
    pub fn args(&self) -> &'a str {
        &self.raw.args
    }

    /// Who sent it.
    pub fn user(&self) -> &'a str {
        &self.raw.user
    }

    /// The channel it was sent in.
    pub fn channel(&self) -> &'a str {
        &self.raw.channel
    }

    /// Chat or PM.
    pub fn source(&self) -> MessageSource {
        self.raw.source
    }

    /// Whether it came by private message (a reply then goes back by PM).
    pub fn by_pm(&self) -> bool {
        self.raw.source == MessageSource::Pm
    }

    /// Where an answer to this command goes, owned, to answer later with
    /// [`super::Handle::reply`] (from a timer or a thread of the plugin's own).
    pub fn origin(&self) -> Origin {
        Origin {
            user: self.user().to_owned(),
            by_pm: self.by_pm(),
            message_id: self.id().to_owned(),
        }
    }

    /// When it was sent, in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.raw.time_ms
    }
}

/// A subscribed event.
#[derive(Debug)]
pub struct Event<'a> {
    raw: &'a FfiEvent,
    rank: Option<Rank>,
}

impl<'a> Event<'a> {
    #[doc(hidden)]
    pub fn new(raw: &'a FfiEvent) -> Self {
        Event { raw, rank: None }
    }

    #[doc(hidden)]
    pub fn with_rank(mut self, rank: Option<Rank>) -> Self {
        self.rank = rank;
        self
    }

    /// The channel rank of the user the event concerns, when known.
    pub fn rank(&self) -> Option<Rank> {
        self.rank
    }

    /// Unique id of the event.
    pub fn id(&self) -> &'a str {
        &self.raw.id
    }

    /// The event kind, e.g. `chat.message`.
    pub fn kind(&self) -> &'a str {
        &self.raw.kind
    }

    /// The user the event is about, if any.
    pub fn user(&self) -> Option<&'a str> {
        self.raw
            .user
            .as_ref()
            .map(|user| user.as_str())
            .into_option()
    }

    /// The plain text of a chat message or PM, if the event carries one.
    pub fn text(&self) -> Option<&'a str> {
        self.raw
            .text
            .as_ref()
            .map(|text| text.as_str())
            .into_option()
    }

    /// The full payload as JSON.
    pub fn payload_json(&self) -> &'a str {
        &self.raw.payload_json
    }

    /// When it happened, in milliseconds since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        self.raw.time_ms
    }
}

/// A timer that is due (see [`super::Plugin::on_timer`]).
#[derive(Debug)]
pub struct Timer<'a> {
    name: &'a str,
    due_ms: u64,
}

impl<'a> Timer<'a> {
    #[doc(hidden)]
    pub fn new(name: &'a str, due_ms: u64) -> Self {
        Timer { name, due_ms }
    }

    /// The name it was armed with.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// When it was due, in milliseconds since the Unix epoch (on the host's clock: see
    /// [`super::Handle::now_ms`]); it fires as soon after as the plugin is free.
    pub fn due_ms(&self) -> u64 {
        self.due_ms
    }
}
