//! # rosey-benches
//!
//! Home of the benchmark harness that measures reload latency, crash recovery, cold start and
//! steady command latency against a real stack. The harness needs the supervised stack and hot
//! reload, which come after the plugin foundation; results will be recorded in
//! `docs/BENCHMARKS.md`.
