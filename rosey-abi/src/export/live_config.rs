//! Whether the plugin's `on_config` is the SDK's default (which reloads instead).

use std::cell::Cell;

thread_local! {
    static NOT_HANDLED: Cell<bool> = const { Cell::new(false) };
}

/// Called by the default `on_config`.
pub fn not_handled() {
    NOT_HANDLED.with(|cell| cell.set(true));
}

pub(crate) fn reset() {
    NOT_HANDLED.with(|cell| cell.set(false));
}

pub(crate) fn was_not_handled() -> bool {
    NOT_HANDLED.with(Cell::take)
}
