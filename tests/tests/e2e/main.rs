//! The end-to-end tests, one module per subject, built as one test binary: they run the real
//! `rosey` binary, real nats-servers, plugin hosts and sockets (the harness is the `rosey_e2e`
//! library in `tests/src/`). One binary links once instead of forty times, and a coverage run
//! (which runs test binaries one after the other) keeps all its test threads busy.
//!
//! Run one subject with a filter on its module, e.g. `cargo nextest run -p rosey-e2e
//! cluster::` (build the workspace first: the tests run `target/debug/rosey`).

mod archives;
mod boot;
mod bus;
mod channel;
mod cluster;
mod cluster_dashboard;
mod cluster_placement;
mod commands;
mod compat;
mod cytube;
mod cytube_action_edges;
mod cytube_edges;
mod dashboard;
mod dashboard_ops;
mod dead_letters;
mod dev;
mod disk;
mod door;
mod embed;
mod emulator;
mod examples;
mod examples_channel;
mod host;
mod hostile;
mod init;
mod loader;
mod logs;
mod metrics;
mod one_place;
mod plugin_commands;
mod plugin_edges;
mod reload;
mod reload_edges;
mod router;
mod sandbox;
mod sdk;
mod security;
mod stack;
mod start;
mod status;

/// Under a coverage run only (cargo-tarpaulin builds with `--cfg tarpaulin`): tarpaulin drops
/// every count of a test binary that exits non-zero, so one failed test would take all of this
/// binary's coverage (most of the daemon's) with it, though `scripts/test` runs that test again
/// uninstrumented for its verdict. So at exit this binary writes its counts itself and ends with
/// status 0; `scripts/coverage` reads which tests failed from the test output instead.
#[cfg(tarpaulin)]
mod coverage_counts_survive_a_failed_test {
    unsafe extern "C" {
        /// The LLVM profile runtime's writer, linked into every instrumented binary; it
        /// writes once (a second call, from the runtime's own exit hook, does nothing).
        fn __llvm_profile_write_file() -> std::ffi::c_int;
    }

    extern "C" fn write_counts_then_exit_zero() {
        // SAFETY: called once, from `exit`, after the test harness printed its results
        // (`std::process::exit` flushes stdout before `exit` runs this).
        unsafe {
            __llvm_profile_write_file();
            libc::_exit(0);
        }
    }

    extern "C" fn register() {
        // SAFETY: registers a plain `extern "C"` function.
        unsafe { libc::atexit(write_counts_then_exit_zero) };
    }

    /// Runs `register` before `main`, as a C constructor.
    #[used]
    #[unsafe(link_section = ".init_array")]
    static REGISTER: extern "C" fn() = register;
}
