//! The host's services table, handed over through [`crate::SERVICES_SYMBOL`] on the plugin's
//! thread just before `load`, which takes it into the instance's [`Handle`](crate::Handle).

use std::cell::Cell;

use crate::services::ServicesRef;

thread_local! {
    static TABLE: Cell<Option<ServicesRef>> = const { Cell::new(None) };
}

/// The host's note: the instance loaded next on this thread gets `table`.
pub fn set(table: Option<ServicesRef>) {
    TABLE.with(|cell| cell.set(table));
}

/// The table for the instance loading now (taken: one instance, one table).
pub(crate) fn take() -> Option<ServicesRef> {
    TABLE.with(Cell::take)
}
