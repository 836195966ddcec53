//! The channel's readers and answers read, and what a plugin gets from a host without the
//! channel services.

use abi_stable::std_types::{ROption, RVec};

use super::*;

fn item(uid: u64) -> PlaylistItem {
    PlaylistItem {
        uid,
        title: format!("t{uid}"),
        kind: "yt".to_owned(),
        id: format!("v{uid}"),
        duration: Duration::ZERO,
        temp: false,
        queued_by: "a".to_owned(),
    }
}

#[test]
fn now_playing_and_upcoming_follow_the_current_item() {
    let mut playlist = Playlist {
        items: vec![item(4), item(7), item(9)],
        current: Some(7),
        ..Playlist::default()
    };
    assert_eq!(playlist.now_playing().map(|item| item.uid), Some(7));
    let upcoming: Vec<u64> = playlist.upcoming().map(|item| item.uid).collect();
    assert_eq!(upcoming, [9]);
    playlist.current = None;
    assert_eq!(playlist.now_playing(), None);
    assert_eq!(playlist.upcoming().count(), 3);
    playlist.current = Some(9);
    assert_eq!(playlist.upcoming().count(), 0, "no wrapping");
    assert_eq!(playlist.item(4).map(|item| item.title.as_str()), Some("t4"));
}

#[test]
fn a_queue_answer_names_the_new_item() {
    assert_eq!(
        queued("12\tA song\twith a tab"),
        Some(Queued {
            uid: 12,
            title: "A song\twith a tab".to_owned()
        })
    );
    assert_eq!(queued("12"), None);
    assert_eq!(queued("x\ttitle"), None);
}

#[test]
fn poll_counts_are_one_per_option_with_hidden_ones_none() {
    let poll = Poll::from(FfiPoll {
        title: RString::from("Q"),
        options: RVec::from(vec![RString::from("a"), RString::from("b")]),
        counts: RVec::from(vec![3, -1, 5]),
        hidden: true,
        opened_by: RString::from("mod"),
        opened_ms: 9,
    });
    assert_eq!(poll.counts, [Some(3), None]);
    let short = Poll::from(FfiPoll {
        title: RString::from("Q"),
        options: RVec::from(vec![RString::from("a")]),
        counts: RVec::new(),
        hidden: false,
        opened_by: RString::new(),
        opened_ms: 0,
    });
    assert_eq!(short.counts, [None]);
    let playlist = Playlist::from(FfiPlaylist {
        items: RVec::new(),
        current: ROption::RSome(3),
        position_ms: 1500,
        paused: true,
        locked: false,
    });
    assert_eq!(playlist.position, Duration::from_millis(1500));
    assert_eq!(playlist.current, Some(3));
}

#[test]
fn without_a_services_table_actions_are_unavailable() {
    let channel = Handle::new(None).channel();
    let refused = channel.skip().expect_err("no table");
    assert_eq!(refused.kind, ActionErrorKind::Unavailable);
    assert_eq!(refused.message, NO_CHANNEL_ACTIONS);
    assert!(channel.playlist().is_err());
    let handle = Handle::new(None);
    handle.close();
    let refused = handle.channel().kick("bob", "").expect_err("unloaded");
    assert_eq!(refused.message, UNLOADED);
}

#[test]
fn a_table_too_short_for_channel_services_is_an_older_host() {
    use std::ffi::c_void;

    use abi_stable::std_types::{RErr, ROption, RResult, RVec};

    use crate::services::{FfiMedia, FfiUser, HostServices};

    fn no<T>() -> RResult<T, RString> {
        RErr(RString::from("not in this test"))
    }
    extern "C" fn say(
        _: *const c_void,
        _: ROption<RStr<'_>>,
        _: ROption<RStr<'_>>,
        _: RStr<'_>,
    ) -> RResult<(), RString> {
        no()
    }
    extern "C" fn publish(_: *const c_void, _: RStr<'_>, _: RStr<'_>) -> RResult<(), RString> {
        no()
    }
    extern "C" fn set_timer(_: *const c_void, _: RStr<'_>, _: u64, _: u64) -> RResult<(), RString> {
        no()
    }
    extern "C" fn cancel_timer(_: *const c_void, _: RStr<'_>) -> RResult<bool, RString> {
        no()
    }
    extern "C" fn users(_: *const c_void) -> RResult<RVec<FfiUser>, RString> {
        no()
    }
    extern "C" fn media(_: *const c_void) -> RResult<ROption<FfiMedia>, RString> {
        no()
    }
    extern "C" fn now_ms(_: *const c_void) -> u64 {
        0
    }
    extern "C" fn act(
        _: *const c_void,
        _: RStr<'_>,
        _: RSlice<'_, RString>,
    ) -> RResult<RString, RString> {
        no()
    }
    extern "C" fn playlist(_: *const c_void) -> RResult<FfiPlaylist, RString> {
        no()
    }
    extern "C" fn poll(_: *const c_void) -> RResult<ROption<FfiPoll>, RString> {
        no()
    }
    extern "C" fn bot(_: *const c_void) -> RResult<FfiUser, RString> {
        no()
    }
    // A host from before channel actions: its table ends with the clock.
    let table: &'static HostServices = Box::leak(Box::new(HostServices {
        size: std::mem::offset_of!(HostServices, act),
        ctx: std::ptr::null(),
        say,
        publish,
        set_timer,
        cancel_timer,
        users,
        media,
        now_ms,
        act,
        playlist,
        poll,
        bot,
    }));
    // SAFETY: leaked, never written again.
    let channel = Handle::new(unsafe { ServicesRef::new(table) }).channel();
    assert_eq!(
        channel.skip(),
        Err(ActionError::new(
            ActionErrorKind::Unavailable,
            NO_CHANNEL_ACTIONS
        ))
    );
    let older = channel.playlist().expect_err("older").to_string();
    assert!(older.contains("older than the plugin's SDK"), "{older}");
    assert!(channel.bot().is_err());
}
