//! # rosey-actors
//!
//! The supervision tree that keeps a rosey stack running: OTP-style supervisors with
//! one_for_one, one_for_all and rest_for_one strategies, the service actors (nats, bot, web) and
//! the plugin supervisor with one actor per plugin host process.
//!
//! Built on `rosey-core` and nothing of the CLI, so other bots can embed it. The tree itself is
//! the subject of the supervised-stack work that follows the plugin foundation; until then this
//! crate holds no code.
