//! The plugin library's panic hook: a panic in the author's code is reported, not printed.
//!
//! A `cdylib` links a std of its own, with a panic hook of its own, whose default prints
//! `thread 'main' panicked at …` (and a backtrace when `RUST_BACKTRACE` is set) to the host's
//! stderr, which the daemon logs at INFO. [`install`] replaces that hook, once per library: a
//! panic inside [`guarded`] (every call into the author's code) prints nothing; the hook
//! records where it happened and a backtrace in a thread-local, and [`guarded`] hands that
//! record to the caller, which reports it through the host. A panic anywhere else (a thread of
//! the plugin's own, which nothing would report) goes to the previous hook as before.

use std::{
    backtrace::{Backtrace, BacktraceStatus},
    cell::Cell,
    panic::{self, catch_unwind, AssertUnwindSafe},
    sync::Once,
};

/// What the hook saw of a panic inside [`guarded`]: enough to say where it happened.
pub struct PanicRecord {
    /// `file:line:col` of the `panic!` (or of the call that panicked), when std knew it.
    pub location: Option<String>,
    /// The stack when it panicked (symbols are resolved only when it is displayed); captured
    /// only when the host asked for backtraces ([`crate::BACKTRACE_ENV`]).
    pub backtrace: Backtrace,
}

thread_local! {
    /// How many [`guarded`] calls this thread is inside (panics there are recorded, not
    /// printed).
    static GUARDED: Cell<u32> = const { Cell::new(0) };
    /// The record of the last panic inside [`guarded`] on this thread, until it is taken.
    static RECORD: Cell<Option<PanicRecord>> = const { Cell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the recording hook in this library's std, keeping the previous hook for panics
/// outside [`guarded`]. Only the first call does anything; call it before the author's code
/// first runs (and not while panicking, which `set_hook` refuses).
pub fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
            if !record(location) {
                previous(info);
            }
        }));
    });
}

/// Records a panic at `location` if this thread is inside [`guarded`]; `false` when it is not
/// (the caller lets the previous hook print it). Nothing in here can panic: a panic in a panic
/// hook aborts the process.
fn record(location: Option<String>) -> bool {
    let inside = GUARDED.try_with(|depth| depth.get() > 0).unwrap_or(false);
    if !inside {
        return false;
    }
    let wanted = std::env::var_os(crate::BACKTRACE_ENV).is_some_and(|value| value == "1");
    let record = PanicRecord {
        location,
        backtrace: if wanted {
            Backtrace::force_capture()
        } else {
            Backtrace::disabled()
        },
    };
    RECORD.try_with(|slot| slot.set(Some(record))).is_ok()
}

/// Runs `f`, catching a panic; on a panic, also what the hook recorded of it (`None` when
/// the hook is not installed, or another hook replaced it). The record is taken either way,
/// so a later panic never sees a stale one.
pub fn guarded<R>(f: impl FnOnce() -> R) -> (std::thread::Result<R>, Option<PanicRecord>) {
    take_record();
    let _ = GUARDED.try_with(|depth| depth.set(depth.get().saturating_add(1)));
    let mut f = Some(f);
    let mut value = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        __rosey_begin_short_backtrace(&mut || {
            if let Some(f) = f.take() {
                value = Some(f());
            }
        });
    }));
    let _ = GUARDED.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    let record = take_record();
    match (result, value) {
        (Ok(()), Some(value)) => (Ok(value), None),
        (Err(payload), _) => (Err(payload), record),
        // Cannot happen: `f` ran and returned, or it panicked.
        (Ok(()), None) => (Err(Box::new("the plugin's code was not called")), None),
    }
}

fn take_record() -> Option<PanicRecord> {
    RECORD.try_with(Cell::take).ok().flatten()
}

/// Marks where the author's code starts in a backtrace, as std's own
/// `__rust_begin_short_backtrace` does for a thread: [`short_backtrace`] cuts this frame and
/// the ones below it (the catching, the FFI adapter, the host). Neither generic nor inlined,
/// and calling `f` through an opaque pointer, so the author's code is never inlined into this
/// frame (and cut with it), whatever the optimizer does.
#[inline(never)]
fn __rosey_begin_short_backtrace(f: &mut dyn FnMut()) {
    std::hint::black_box(f)();
    // Keeps this frame on the stack: no tail call into `f`.
    std::hint::black_box(());
}

/// The frame name that ends the panic machinery at the top of a backtrace (std prints from the
/// frame after the last one of that name).
const TOP_MARKER: &str = "__rust_end_short_backtrace";
/// The frame name that starts [`guarded`]'s machinery at the bottom of a backtrace.
const BOTTOM_MARKER: &str = "__rosey_begin_short_backtrace";

/// `backtrace` as text, cut like std's short backtraces: from the frame after std's panic entry
/// (`__rust_end_short_backtrace`) down to the frame that called the author's code (the one above
/// [`guarded`]'s marker).
/// A marker that is not found (symbols not resolved, say) cuts nothing on its side. `None` when
/// no backtrace was captured.
pub fn short_backtrace(backtrace: &Backtrace) -> Option<String> {
    (backtrace.status() == BacktraceStatus::Captured).then(|| cut(&backtrace.to_string()))
}

/// Cuts the text of a backtrace (`  N: name` lines, each followed by its `at file:line`
/// lines) between the markers.
fn cut(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let frame_named =
        |line: &&str, marker: &str| frame_name(line).is_some_and(|name| name.contains(marker));
    let start = lines
        .iter()
        .rposition(|line| frame_named(line, TOP_MARKER))
        .and_then(|top| {
            lines
                .iter()
                .skip(top + 1)
                .position(|line| frame_name(line).is_some())
                .map(|offset| top + 1 + offset)
        })
        .unwrap_or(0);
    let end = lines
        .iter()
        .skip(start)
        .position(|line| frame_named(line, BOTTOM_MARKER))
        .map_or(lines.len(), |offset| start + offset);
    lines.get(start..end).unwrap_or(&lines[..]).join("\n")
}

/// The function name of a frame line (`  12: chaos::on_command`), `None` for other lines.
fn frame_name(line: &str) -> Option<&str> {
    let (number, name) = line.trim_start().split_once(": ")?;
    (!number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit())).then_some(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Asks for backtraces, as a host at DEBUG does (no test of this process unsets it).
    pub(crate) fn want_backtraces() {
        std::env::set_var(crate::BACKTRACE_ENV, "1");
    }

    #[test]
    fn a_guarded_panic_is_recorded_with_its_location_and_the_record_is_taken() {
        want_backtraces();
        install();
        let line = line!() + 1;
        let (result, record) = guarded(|| -> u32 { panic!("boom") });
        assert!(result.is_err());
        let record = record.expect("the hook recorded the panic");
        let location = record.location.expect("a location");
        assert!(
            location.contains(&format!("panics.rs:{line}:")),
            "{location}"
        );
        assert_eq!(record.backtrace.status(), BacktraceStatus::Captured);
        // Nothing is left for the next call.
        let (result, record) = guarded(|| 7);
        assert_eq!(result.ok(), Some(7));
        assert!(record.is_none());
        assert!(take_record().is_none());
    }

    #[test]
    fn a_panic_outside_guarded_is_not_recorded() {
        install();
        let caught = catch_unwind(|| panic!("not guarded"));
        assert!(caught.is_err());
        assert!(take_record().is_none());
    }

    #[test]
    fn the_short_backtrace_is_cut_between_the_markers() {
        let text = "   0: rosey_abi::panics::install::{{closure}}
   1: std::panicking::rust_panic_with_hook
   2: std::sys::backtrace::__rust_end_short_backtrace
   3: __rustc::rust_begin_unwind
             at /rustc/library/std/src/panicking.rs:697:5
   4: core::panicking::panic_fmt
   5: chaos::Chaos::on_command
             at ./src/lib.rs:12:5
   6: rosey_abi::panics::__rosey_begin_short_backtrace
   7: std::panicking::catch_unwind
   8: main";
        assert_eq!(
            cut(text),
            "   3: __rustc::rust_begin_unwind
             at /rustc/library/std/src/panicking.rs:697:5
   4: core::panicking::panic_fmt
   5: chaos::Chaos::on_command
             at ./src/lib.rs:12:5"
        );
        // Without markers (symbols not resolved), nothing is cut.
        let bare = "   0: <unknown>\n   1: <unknown>";
        assert_eq!(cut(bare), bare);
    }
}
