//! The host's services a plugin reaches outside a hook: sending on its own, timers, the
//! channel's state (users, media, playlist, poll, the bot itself), acting on the channel
//! ([`crate::channel`]), the clock. A table of plain C function pointers the host hands the library
//! through [`crate::SERVICES_SYMBOL`] just before `load`, outside the layout `abi_stable`
//! checks (see [`crate::export::sender`] for why nothing new may be reachable from the root
//! module).
//!
//! The table grows at its end only. Its first field is its size as the host built it: a
//! library reads a field only when the size covers it ([`ServicesRef`]), so a library
//! built against a later table still runs on an earlier host (the missing services answer
//! "this host does not offer …"), and a library built against an earlier table never looks
//! past what it knows. A change to a field that exists gets a new symbol name (`…_v2`).
//!
//! Every function may be called from any thread, at any time while the process lives, and
//! never unwinds: a host's error comes back as an `RErr` with a one-line reason.

use std::ffi::c_void;

use abi_stable::{
    std_types::{ROption, RResult, RSlice, RStr, RString, RVec},
    StableAbi,
};

pub use crate::SERVICES_SYMBOL;

/// A user in the channel, as [`HostServices::users`] lists them.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiUser {
    /// The name as the chat shows it.
    pub name: RString,
    /// CyTube's rank number (see [`crate::Rank`]).
    pub rank: i64,
    /// Whether the chat marks them away.
    pub afk: bool,
}

/// What is playing, as [`HostServices::media`] tells it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiMedia {
    /// The media's title.
    pub title: RString,
    /// The provider's short code (`yt` YouTube, `vi` Vimeo, `cu` custom, …).
    pub kind: RString,
    /// The provider's id of the media (for `yt`, the video id).
    pub id: RString,
    /// Its length in seconds (0 for a live stream or when the chat did not say).
    pub duration_secs: u64,
}

/// An item of the channel's playlist, as [`HostServices::playlist`] lists them.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiPlaylistItem {
    /// The chat server's id for this entry (what delete, move and jump name).
    pub uid: u64,
    /// The media's title.
    pub title: RString,
    /// The provider's short code (`yt`, `vi`, `cu`, …).
    pub kind: RString,
    /// The provider's id of the media.
    pub id: RString,
    /// Its length in seconds (0 for a live stream or when unknown).
    pub duration_secs: u64,
    /// Removed once played.
    pub temp: bool,
    /// Who queued it.
    pub queued_by: RString,
}

/// The channel's playlist, as [`HostServices::playlist`] tells it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiPlaylist {
    /// Every item, in playing order.
    pub items: RVec<FfiPlaylistItem>,
    /// The uid of the item playing now.
    pub current: ROption<u64>,
    /// How far into the current item playback is, in milliseconds (as last reported).
    pub position_ms: u64,
    /// Whether playback is paused.
    pub paused: bool,
    /// Whether the playlist is locked (only those the channel allows may change it).
    pub locked: bool,
}

/// The channel's open poll, as [`HostServices::poll`] tells it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct FfiPoll {
    /// The question.
    pub title: RString,
    /// The answers.
    pub options: RVec<RString>,
    /// Votes per option, in the order of `options`; `-1` where the chat hides the count.
    pub counts: RVec<i64>,
    /// Whether votes are hidden until the poll closes.
    pub hidden: bool,
    /// Who opened it.
    pub opened_by: RString,
    /// When it was opened, ms since the Unix epoch.
    pub opened_ms: u64,
}

/// Says `text` in the channel's chat (`to` absent) or by PM to `to`, in reply to message
/// `in_reply_to` when set.
pub type SayFn = extern "C" fn(
    ctx: *const c_void,
    to: ROption<RStr<'_>>,
    in_reply_to: ROption<RStr<'_>>,
    text: RStr<'_>,
) -> RResult<(), RString>;
/// Publishes an event of the plugin's own (`kind` without the `plugin.<name>.` prefix).
pub type PublishFn = extern "C" fn(
    ctx: *const c_void,
    kind: RStr<'_>,
    payload_json: RStr<'_>,
) -> RResult<(), RString>;
/// Arms timer `name` to fire in `after_ms`, then every `every_ms` (0: once), replacing a timer
/// of that name.
pub type SetTimerFn = extern "C" fn(
    ctx: *const c_void,
    name: RStr<'_>,
    after_ms: u64,
    every_ms: u64,
) -> RResult<(), RString>;
/// Disarms timer `name`; `true` when it was armed.
pub type CancelTimerFn =
    extern "C" fn(ctx: *const c_void, name: RStr<'_>) -> RResult<bool, RString>;
/// Who is in the channel now.
pub type UsersFn = extern "C" fn(ctx: *const c_void) -> RResult<RVec<FfiUser>, RString>;
/// What is playing now, if anything.
pub type MediaFn = extern "C" fn(ctx: *const c_void) -> RResult<ROption<FfiMedia>, RString>;
/// The host's clock, in milliseconds since the Unix epoch (a test's clock in
/// `rosey_abi::testing`).
pub type NowFn = extern "C" fn(ctx: *const c_void) -> u64;
/// Asks the bot to act on the channel: `verb` and `args` as [`crate::channel::Action::to_wire`]
/// makes them. `Ok` carries what the action yields (for `queue`: the new item's uid, a tab,
/// its title; otherwise empty); `Err` an [`crate::channel::ActionError::encode`]d error.
pub type ActFn = extern "C" fn(
    ctx: *const c_void,
    verb: RStr<'_>,
    args: RSlice<'_, RString>,
) -> RResult<RString, RString>;
/// The channel's playlist now.
pub type PlaylistFn = extern "C" fn(ctx: *const c_void) -> RResult<FfiPlaylist, RString>;
/// The channel's open poll, if any.
pub type PollFn = extern "C" fn(ctx: *const c_void) -> RResult<ROption<FfiPoll>, RString>;
/// The bot itself as the channel sees it: its name and rank.
pub type BotFn = extern "C" fn(ctx: *const c_void) -> RResult<FfiUser, RString>;

/// The host's services, as a table of function pointers (`ctx` is the host's, passed back to
/// each). Built by the host, which keeps it alive for the life of the process; read by the
/// library only through [`ServicesRef`], which never reads past `size`.
#[repr(C)]
#[derive(Debug)]
pub struct HostServices {
    /// `size_of::<HostServices>()` as the host was compiled.
    pub size: usize,
    /// The host's context, passed back as each function's first argument.
    pub ctx: *const c_void,
    /// See [`SayFn`].
    pub say: SayFn,
    /// See [`PublishFn`].
    pub publish: PublishFn,
    /// See [`SetTimerFn`].
    pub set_timer: SetTimerFn,
    /// See [`CancelTimerFn`].
    pub cancel_timer: CancelTimerFn,
    /// See [`UsersFn`].
    pub users: UsersFn,
    /// See [`MediaFn`].
    pub media: MediaFn,
    /// See [`NowFn`].
    pub now_ms: NowFn,
    /// See [`ActFn`].
    pub act: ActFn,
    /// See [`PlaylistFn`].
    pub playlist: PlaylistFn,
    /// See [`PollFn`].
    pub poll: PollFn,
    /// See [`BotFn`].
    pub bot: BotFn,
}

/// The byte offset just past field `field` of [`HostServices`].
macro_rules! end_of {
    ($field:ident) => {{
        let table = std::mem::MaybeUninit::<HostServices>::uninit();
        let base = table.as_ptr();
        // SAFETY: `addr_of!` on a field of a (never read) uninitialised value computes an
        // address without creating a reference.
        let field = unsafe { std::ptr::addr_of!((*base).$field) };
        (field as usize - base as usize) + std::mem::size_of_val(unsafe { &*field })
    }};
}

/// The library's view of a host's table, which may be shorter than this crate's
/// [`HostServices`] (an older host): each service is `None` unless the table's size covers it.
#[derive(Debug, Clone, Copy)]
pub struct ServicesRef {
    table: *const HostServices,
}

// SAFETY: the host promises every function may be called from any thread, and that the table
// is never written after it was handed over.
unsafe impl Send for ServicesRef {}
// SAFETY: as above.
unsafe impl Sync for ServicesRef {}

/// An accessor for one field, `None` when the host's table is too short to have it.
macro_rules! service {
    ($(#[$doc:meta])* $field:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $field(&self) -> Option<$ty> {
            // SAFETY: the field lies within the `size` bytes the host promised (checked first).
            (self.size() >= end_of!($field))
                .then(|| unsafe { std::ptr::addr_of!((*self.table).$field).read() })
        }
    };
}

impl ServicesRef {
    /// Wraps the host's table; `None` for a null pointer.
    ///
    /// # Safety
    /// `table` is null, or points to a table whose first `size` bytes are a [`HostServices`]
    /// prefix, valid and unchanged for the life of the process.
    pub unsafe fn new(table: *const HostServices) -> Option<ServicesRef> {
        (!table.is_null()).then_some(ServicesRef { table })
    }

    fn size(&self) -> usize {
        // SAFETY: `size` is the first field; every table has it (see `new`).
        unsafe { std::ptr::addr_of!((*self.table).size).read() }
    }

    /// The host's context, for the functions' first argument.
    pub fn ctx(&self) -> *const c_void {
        // SAFETY: `ctx` precedes every service; a table too short for it has no services.
        if self.size() >= end_of!(ctx) {
            unsafe { std::ptr::addr_of!((*self.table).ctx).read() }
        } else {
            std::ptr::null()
        }
    }

    service!(
        /// Sending chat lines and PMs.
        say: SayFn
    );
    service!(
        /// Publishing events.
        publish: PublishFn
    );
    service!(
        /// Arming timers.
        set_timer: SetTimerFn
    );
    service!(
        /// Disarming timers.
        cancel_timer: CancelTimerFn
    );
    service!(
        /// The channel's users.
        users: UsersFn
    );
    service!(
        /// What is playing.
        media: MediaFn
    );
    service!(
        /// The host's clock.
        now_ms: NowFn
    );
    service!(
        /// Acting on the channel.
        act: ActFn
    );
    service!(
        /// The playlist.
        playlist: PlaylistFn
    );
    service!(
        /// The open poll.
        poll: PollFn
    );
    service!(
        /// The bot's own name and rank.
        bot: BotFn
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_ends_inside_the_table_and_later_fields_end_later() {
        let size = std::mem::size_of::<HostServices>();
        let ends = [
            end_of!(say),
            end_of!(publish),
            end_of!(set_timer),
            end_of!(cancel_timer),
            end_of!(users),
            end_of!(media),
            end_of!(now_ms),
            end_of!(act),
            end_of!(playlist),
            end_of!(poll),
            end_of!(bot),
        ];
        assert!(ends.windows(2).all(|pair| pair[0] < pair[1]), "{ends:?}");
        assert_eq!(ends[ends.len() - 1], size);
        assert!(end_of!(ctx) < end_of!(say));
    }
}
