//! [`Handle`]: what a plugin keeps to act on its own (from a thread of its own, or from a
//! later hook), and what it learns about the channel; [`Handle::channel`] leads on to acting
//! on the channel itself ([`Channel`]).
//!
//! Everything a handle sends goes through the host and the plugin's actor like a reply does:
//! the manifest's permissions apply, and the bot's outbox paces it. A handle outlives nothing:
//! once the plugin has unloaded, every call returns an error instead of reaching a host that
//! may be serving the next instance.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use abi_stable::std_types::{ROption, RStr};

use super::{Channel, Error, PluginResult};
use crate::{
    rank::Rank,
    services::{FfiMedia, FfiUser, ServicesRef},
};

/// An owned, cheap-to-clone way to reach the chat from anywhere in the plugin, until it unloads.
///
/// Get one from [`super::Context::handle`] (in `load` or any hook) and move clones into
/// threads. Methods return `Err` (never panic) when the plugin has unloaded, when the host is
/// older than this SDK and lacks the service, or when the host refuses (a bad event kind, too
/// many timers).
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

struct Inner {
    services: Option<ServicesRef>,
    open: AtomicBool,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("open", &self.is_open())
            .field("services", &self.inner.services)
            .finish()
    }
}

/// Why a [`Handle`] cannot reach a service of the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unreachable {
    /// The plugin has unloaded: the host may be serving the next instance.
    Unloaded,
    /// The host is older than this SDK and lacks the service.
    Older,
}

/// Where an answer goes: the chat, or a PM to the user who asked by PM. Taken from a command
/// with [`super::Command::origin`] and kept, to answer later with [`Handle::reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Who asked.
    pub user: String,
    /// `true` when they asked by PM (the answer goes back by PM).
    pub by_pm: bool,
    /// The id of the message that asked.
    pub message_id: String,
}

/// A user in the channel, from [`Handle::users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatUser {
    /// The name as the chat shows it.
    pub name: String,
    /// Their rank in the channel.
    pub rank: Rank,
    /// Whether the chat marks them away.
    pub afk: bool,
}

/// What is playing, from [`Handle::media`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Its title.
    pub title: String,
    /// The provider's short code (`yt`, `vi`, `cu`, …).
    pub kind: String,
    /// The provider's id for it.
    pub id: String,
    /// Its length (zero for a live stream or when unknown).
    pub duration: Duration,
}

impl Handle {
    #[doc(hidden)]
    pub fn new(services: Option<ServicesRef>) -> Handle {
        Handle {
            inner: Arc::new(Inner {
                services,
                open: AtomicBool::new(true),
            }),
        }
    }

    /// Ends the handle and its clones: the plugin has unloaded.
    pub(crate) fn close(&self) {
        self.inner.open.store(false, Ordering::Release);
    }

    /// Whether the plugin is still loaded (calls can still reach the chat).
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Service `pick` of the host's table (with the context to pass it), when the plugin is
    /// still loaded and the host offers it; otherwise why not.
    pub(super) fn lookup<F>(
        &self,
        pick: impl FnOnce(&ServicesRef) -> Option<F>,
    ) -> Result<(F, *const std::ffi::c_void), Unreachable> {
        if !self.is_open() {
            return Err(Unreachable::Unloaded);
        }
        let table = self.inner.services.as_ref();
        table
            .and_then(|table| pick(table).map(|service| (service, table.ctx())))
            .ok_or(Unreachable::Older)
    }

    /// As [`Handle::lookup`], with the reason as the plugin's error (`what`: what it tried).
    pub(super) fn service<F>(
        &self,
        what: &str,
        pick: impl FnOnce(&ServicesRef) -> Option<F>,
    ) -> PluginResult<(F, *const std::ffi::c_void)> {
        self.lookup(pick).map_err(|why| match why {
            Unreachable::Unloaded => {
                Error::msg(format!("cannot {what}: the plugin has unloaded"))
            }
            Unreachable::Older => Error::msg(format!(
                "cannot {what}: this rosey host is older than the plugin's SDK (rosey-abi {}); upgrade rosey",
                crate::SDK_VERSION
            )),
        })
    }

    /// The channel's playlist, polls, moderation and the bot itself (see [`Channel`]).
    pub fn channel(&self) -> Channel {
        Channel::new(self.clone())
    }

    fn send(&self, to: Option<&str>, in_reply_to: Option<&str>, text: &str) -> PluginResult<()> {
        let (say, ctx) = self.service("send", ServicesRef::say)?;
        let to = to.map(RStr::from);
        let in_reply_to = in_reply_to.map(RStr::from);
        say(
            ctx,
            ROption::from(to),
            ROption::from(in_reply_to),
            RStr::from(text),
        )
        .into_result()
        .map_err(|err| Error::msg(err.into_string()))
    }

    /// Say `text` in the channel's chat (needs `send_messages`).
    pub fn say(&self, text: impl AsRef<str>) -> PluginResult<()> {
        self.send(None, None, text.as_ref())
    }

    /// Send `text` to `user` by PM (needs `send_pms`).
    pub fn pm(&self, user: &str, text: impl AsRef<str>) -> PluginResult<()> {
        self.send(Some(user), None, text.as_ref())
    }

    /// Answer a command later, the way it came: in chat, or by PM to whoever asked by PM (a
    /// late PM is a PM: it needs `send_pms`).
    pub fn reply(&self, origin: &Origin, text: impl AsRef<str>) -> PluginResult<()> {
        let to = origin.by_pm.then_some(origin.user.as_str());
        self.send(to, Some(&origin.message_id), text.as_ref())
    }

    /// Publish an event of the plugin's own, `plugin.<name>.<kind>` (needs `publish_events`
    /// and `kind` in the manifest's `publishes`).
    pub fn publish(&self, kind: &str, payload_json: &str) -> PluginResult<()> {
        let (publish, ctx) = self.service("publish", ServicesRef::publish)?;
        publish(ctx, RStr::from(kind), RStr::from(payload_json))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    fn set_timer(&self, name: &str, after: Duration, every: Option<Duration>) -> PluginResult<()> {
        let (set_timer, ctx) = self.service("set a timer", ServicesRef::set_timer)?;
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        set_timer(
            ctx,
            RStr::from(name),
            ms(after),
            every.map_or(0, |every| ms(every).max(1)),
        )
        .into_result()
        .map_err(|err| Error::msg(err.into_string()))
    }

    /// Call [`super::super::Plugin::on_timer`] with `name` once, `delay` from now. A timer of
    /// the same name is replaced. Timers end with the instance: a plugin re-arms what it still
    /// needs in `load`, from its handed-over state or its storage.
    pub fn after(&self, delay: Duration, name: &str) -> PluginResult<()> {
        self.set_timer(name, delay, None)
    }

    /// Call [`super::super::Plugin::on_timer`] with `name` once, at `due_ms` on the host's
    /// clock ([`Handle::now_ms`]); at once if that is past. For what a plugin keeps in
    /// storage with its due time, armed again in `load`.
    pub fn at(&self, due_ms: u64, name: &str) -> PluginResult<()> {
        let delay = Duration::from_millis(due_ms.saturating_sub(self.now_ms()));
        self.set_timer(name, delay, None)
    }

    /// Call [`super::super::Plugin::on_timer`] with `name` every `period` (at least 100 ms)
    /// until cancelled; the first time one period from now.
    pub fn every(&self, period: Duration, name: &str) -> PluginResult<()> {
        self.set_timer(name, period, Some(period))
    }

    /// Disarm timer `name`; `true` when it was armed. A cancelled timer's `on_timer` is not
    /// called, even if it was due while this ran.
    pub fn cancel(&self, name: &str) -> PluginResult<bool> {
        let (cancel_timer, ctx) = self.service("cancel a timer", ServicesRef::cancel_timer)?;
        cancel_timer(ctx, RStr::from(name))
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))
    }

    /// Who is in the channel now, as the chat last told the bot.
    pub fn users(&self) -> PluginResult<Vec<ChatUser>> {
        let (users, ctx) = self.service("list the channel's users", ServicesRef::users)?;
        let users = users(ctx)
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))?;
        Ok(users.into_iter().map(ChatUser::from).collect())
    }

    /// What is playing now, if anything.
    pub fn media(&self) -> PluginResult<Option<Media>> {
        let (media, ctx) = self.service("ask what is playing", ServicesRef::media)?;
        let media = media(ctx)
            .into_result()
            .map_err(|err| Error::msg(err.into_string()))?;
        Ok(media.into_option().map(Media::from))
    }

    /// The host's clock in milliseconds since the Unix epoch: the wall clock in a real host,
    /// the test's clock under the testing kit (`rosey_abi::testing`). Use it for what timers schedule, so tests
    /// can move time.
    pub fn now_ms(&self) -> u64 {
        let clock = self.inner.services.as_ref();
        match clock.and_then(|table| table.now_ms().map(|now| (now, table.ctx()))) {
            Some((now_ms, ctx)) => now_ms(ctx),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| {
                    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
                }),
        }
    }
}

impl From<FfiUser> for ChatUser {
    fn from(user: FfiUser) -> ChatUser {
        ChatUser {
            name: user.name.into_string(),
            rank: Rank(user.rank),
            afk: user.afk,
        }
    }
}

impl From<FfiMedia> for Media {
    fn from(media: FfiMedia) -> Media {
        Media {
            title: media.title.into_string(),
            kind: media.kind.into_string(),
            id: media.id.into_string(),
            duration: Duration::from_secs(media.duration_secs),
        }
    }
}
