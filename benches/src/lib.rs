//! # rosey-benches
//!
//! The benchmark harness of rosey lives in the `bench` binary (`src/bin/bench/`): it builds
//! what it needs, runs real stacks in temporary homes, and measures reload latency, commands
//! lost during reloads and while hosts are killed, crash recovery, cold start, steady command
//! latency, the sustained rate, memory (one host, many hosts, the daemon over reloads), a plugin
//! timer's lateness, `rosey plugin new` → the first answer in `rosey dev`, and `rosey status`
//! idle and while a plugin starts (see `docs/BENCHMARKS.md`). This library holds only the statistics it reports with, so that
//! they can be unit tested cheaply; nothing here starts a process.

pub mod stats;
