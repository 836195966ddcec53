//! What the host tells the library about the message it is about to hand over, outside the
//! layout `abi_stable` checks: through plain C symbols the host looks up and calls when the
//! library has them ([`crate::SENDER_RANK_SYMBOL`]).
//!
//! `abi_stable` lets a *library* be newer than its loader, never older, so nothing reachable
//! from the root module may grow without refusing every plugin built before (the host is
//! always the newest side). What the host adds for plugins goes through such symbols instead:
//! a plugin built before one existed does not export it and is never called; one built after
//! on an older host is never called and sees `None`.

use std::cell::Cell;

thread_local! {
    static RANK: Cell<Option<i64>> = const { Cell::new(None) };
}

/// The host's note: the sender of the next message handed over has this rank.
pub fn set(rank: Option<i64>) {
    RANK.with(|cell| cell.set(rank));
}

/// The note for the message handed over now (taken, so it never outlives its message).
pub(crate) fn take() -> Option<crate::Rank> {
    RANK.with(Cell::take).map(crate::Rank)
}
