//! What rosey counts for the operator, in one place: every metric's name, labels and meaning,
//! and the calls that record them (the daemon serves them to Prometheus at the dashboard's
//! `GET /metrics`, and draws the dashboard's charts from some of them).
//!
//! The libraries record through the [`metrics`] facade and never install a recorder: an
//! embedder that installs none pays next to nothing for these calls, and one that installs its
//! own (any `metrics` exporter) gets them under these names. Counters are named without the
//! `_total` suffix, which the Prometheus rendering adds.
//!
//! Labels stay few and bounded: plugin and unit names (which the operator installs), and
//! fixed words for outcomes and causes. Never a user name, a command's text or an id.

use std::time::Duration;

/// Counter: commands the router stored for a plugin (`plugin`), including those for a plugin
/// that is down for now (it gets them when it comes back).
pub const COMMANDS_ROUTED: &str = "rosey_commands_routed";
/// Counter: commands the router did not store (`plugin`, `reason`: `rate_limited`, `rank`
/// (the sender's rank is below the command's `min_rank`), `disabled`).
pub const COMMANDS_REFUSED: &str = "rosey_commands_refused";
/// Counter: messages a plugin's door took (`plugin`, `kind`: `command` or `event`,
/// `outcome`: `ok`, `failed` (the handler returned an error), `crashed` (the host died or
/// hung holding it; it goes to the next host), `stale` (waited past its age limit),
/// `held_back` (its sender is held back), `unreadable`).
pub const MESSAGES_HANDLED: &str = "rosey_messages_handled";
/// Counter: commands a plugin answered, with at least one reply (`plugin`).
pub const COMMANDS_ANSWERED: &str = "rosey_commands_answered";
/// Histogram, seconds: from when a command reached the plugin's door (stored, or its early
/// copy received) to the plugin's first reply to it (`plugin`).
pub const REPLY_SECONDS: &str = "rosey_reply_seconds";
/// Counter: plugin host processes that died or were killed (`plugin`, `cause`: `exit_<code>`
/// (see `rosey_host::exit_codes`), `signal_<name>` (`signal_SIGSEGV`…), `hung` (killed past
/// its handler deadline or heartbeat), `violation` (killed for breaking the channel's rules),
/// `channel_closed` (it closed its channel and did not exit)).
pub const HOST_EXITS: &str = "rosey_host_exits";
/// Counter: messages parked in the dead-letter stream (`plugin`).
pub const DEAD_LETTERED: &str = "rosey_dead_lettered";
/// Gauge (read when scraped): dead letters parked now (`plugin`).
pub const DEAD_LETTERS: &str = "rosey_dead_letters";
/// Counter: what a plugin did that its manifest does not allow, refused (`plugin`,
/// `permission`: the manifest's key, as `rosey status` counts them).
pub const PERMISSION_REFUSALS: &str = "rosey_permission_refusals";
/// Counter: supervision events (`unit`, `event`: `started`, `exited`, `restarting`,
/// `gave_up`, `stopped`, `removed`, `escalated`).
pub const SUPERVISION_EVENTS: &str = "rosey_supervision_events";
/// Counter: units that exited by themselves or failed to start (`unit`, `cause`: `normal`,
/// `stopped` (it stopped itself, giving a reason), `failed`, `failed_to_start`).
pub const UNIT_EXITS: &str = "rosey_unit_exits";
/// Counter (read when scraped): automatic restarts of a unit since it was added (`unit`).
pub const UNIT_RESTARTS: &str = "rosey_unit_restarts";
/// Gauge (read when scraped): 1 while a unit runs, else 0 (`unit`).
pub const UNIT_UP: &str = "rosey_unit_up";
/// Gauge (read when scraped): a unit's resident memory (`unit`).
pub const UNIT_MEMORY_BYTES: &str = "rosey_unit_memory_bytes";
/// Counter: operations on a plugin (`plugin`, `op`: `load`, `reload`, `update`, `unload`,
/// `config`; `result`: `ok` or `failed`).
pub const PLUGIN_OPERATIONS: &str = "rosey_plugin_operations";
/// Histogram, seconds: how long an operation on a plugin took, a reload's being the pause in
/// its service (`plugin`, `op`).
pub const PLUGIN_OPERATION_SECONDS: &str = "rosey_plugin_operation_seconds";
/// Gauge: 1 while the connector is in the channel, else 0.
pub const CONNECTOR_CONNECTED: &str = "rosey_connector_connected";
/// Counter: times the connector tried again after losing (or failing to reach) the chat
/// server.
pub const CONNECTOR_RECONNECTS: &str = "rosey_connector_reconnects";
/// Gauge: chat lines waiting in the connector's outbox for the chat server's flood limits.
pub const OUTBOX_QUEUED: &str = "rosey_outbox_queued";
/// Counter: times the outbox held a line back for the chat server's flood limits.
pub const OUTBOX_COOLDOWNS: &str = "rosey_outbox_cooldowns";
/// Counter, seconds: how long the outbox held lines back in all.
pub const OUTBOX_COOLDOWN_SECONDS: &str = "rosey_outbox_cooldown_seconds";

/// Bucket bounds for [`REPLY_SECONDS`] (a reply takes well under a millisecond on a quiet
/// machine; a backlog or a slow plugin takes seconds).
pub const REPLY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];
/// Bucket bounds for [`PLUGIN_OPERATION_SECONDS`].
pub const OPERATION_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Each metric's help text and kind, for a recorder's descriptions (Prometheus' `# HELP`).
pub const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (COMMANDS_ROUTED, Kind::Counter, "Commands the router stored for a plugin."),
    (COMMANDS_REFUSED, Kind::Counter, "Commands the router did not store, by reason (rate_limited, rank, disabled)."),
    (MESSAGES_HANDLED, Kind::Counter, "Messages a plugin took, by kind and outcome (ok, failed, crashed, stale, held_back, unreadable)."),
    (COMMANDS_ANSWERED, Kind::Counter, "Commands a plugin answered with at least one reply."),
    (REPLY_SECONDS, Kind::Histogram, "Seconds from a command reaching the plugin to its first reply."),
    (HOST_EXITS, Kind::Counter, "Plugin host processes that died or were killed, by cause."),
    (DEAD_LETTERED, Kind::Counter, "Messages parked in the dead-letter stream."),
    (DEAD_LETTERS, Kind::Gauge, "Dead letters parked now."),
    (PERMISSION_REFUSALS, Kind::Counter, "Things a plugin did that its manifest does not allow, refused, by permission."),
    (SUPERVISION_EVENTS, Kind::Counter, "Supervision events, by unit and event."),
    (UNIT_EXITS, Kind::Counter, "Units that exited by themselves or failed to start, by cause."),
    (UNIT_RESTARTS, Kind::Counter, "Automatic restarts of a unit since it was added."),
    (UNIT_UP, Kind::Gauge, "1 while the unit runs."),
    (UNIT_MEMORY_BYTES, Kind::Gauge, "Resident memory of the unit's process."),
    (PLUGIN_OPERATIONS, Kind::Counter, "Operations on a plugin (load, reload, update, unload, config), by result."),
    (PLUGIN_OPERATION_SECONDS, Kind::Histogram, "Seconds an operation on a plugin took."),
    (CONNECTOR_CONNECTED, Kind::Gauge, "1 while the connector is in the channel."),
    (CONNECTOR_RECONNECTS, Kind::Counter, "Times the connector tried again after losing or failing to reach the chat server."),
    (OUTBOX_QUEUED, Kind::Gauge, "Chat lines waiting for the chat server's flood limits."),
    (OUTBOX_COOLDOWNS, Kind::Counter, "Times the outbox held a line back for the flood limits."),
    (OUTBOX_COOLDOWN_SECONDS, Kind::Counter, "Seconds the outbox held lines back in all."),
];

/// A metric's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

/// The router stored a command for `plugin`.
pub fn command_routed(plugin: &str) {
    metrics::counter!(COMMANDS_ROUTED, "plugin" => plugin.to_owned()).increment(1);
}

/// The router did not store a command for `plugin`, for `reason`.
pub fn command_refused(plugin: &str, reason: &'static str) {
    metrics::counter!(COMMANDS_REFUSED, "plugin" => plugin.to_owned(), "reason" => reason)
        .increment(1);
}

/// What a plugin's door did with a message: the `outcome` label of [`MESSAGES_HANDLED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Handled (the handler returned).
    Ok,
    /// The handler returned an error.
    Failed,
    /// The host died or hung holding it (it goes to the next host).
    Crashed,
    /// It waited past its age limit.
    Stale,
    /// Its sender is held back.
    HeldBack,
    /// Its payload could not be read.
    Unreadable,
}

impl Handled {
    /// Every outcome, in label order.
    pub const ALL: [Handled; 6] = [
        Handled::Ok,
        Handled::Failed,
        Handled::Crashed,
        Handled::Stale,
        Handled::HeldBack,
        Handled::Unreadable,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Handled::Ok => "ok",
            Handled::Failed => "failed",
            Handled::Crashed => "crashed",
            Handled::Stale => "stale",
            Handled::HeldBack => "held_back",
            Handled::Unreadable => "unreadable",
        }
    }
}

/// One plugin's meters for each message, registered once per plugin (its door keeps them):
/// the message path then pays an atomic add, not a registry lookup, and every series shows
/// (at 0) from the plugin's start. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginMeters(std::sync::Arc<Meters>);

#[derive(Debug)]
struct Meters {
    /// [`MESSAGES_HANDLED`] by kind (commands, then events) and [`Handled::ALL`] order.
    handled: Vec<metrics::Counter>,
    answered: metrics::Counter,
    reply: metrics::Histogram,
}

impl PluginMeters {
    /// The meters of `plugin`, with whatever recorder is installed now.
    pub fn new(plugin: &str) -> PluginMeters {
        let handled = ["command", "event"]
            .into_iter()
            .flat_map(|kind| {
                Handled::ALL.map(|outcome| {
                    metrics::counter!(
                        MESSAGES_HANDLED,
                        "plugin" => plugin.to_owned(),
                        "kind" => kind,
                        "outcome" => outcome.label()
                    )
                })
            })
            .collect();
        PluginMeters(std::sync::Arc::new(Meters {
            handled,
            answered: metrics::counter!(COMMANDS_ANSWERED, "plugin" => plugin.to_owned()),
            reply: metrics::histogram!(REPLY_SECONDS, "plugin" => plugin.to_owned()),
        }))
    }

    /// The door took a command (or an event) and it ended in `outcome`.
    pub fn handled(&self, command: bool, outcome: Handled) {
        let kind = if command { 0 } else { Handled::ALL.len() };
        let at = kind + Handled::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        if let Some(counter) = self.0.handled.get(at) {
            counter.increment(1);
        }
    }

    /// The plugin answered a command, its first reply `after` it reached the door.
    pub fn answered(&self, after: Duration) {
        self.0.answered.increment(1);
        self.0.reply.record(after.as_secs_f64());
    }
}

/// A host of `plugin` died or was killed, for `cause`.
pub fn host_exited(plugin: &str, cause: String) {
    metrics::counter!(HOST_EXITS, "plugin" => plugin.to_owned(), "cause" => cause).increment(1);
}

/// A message was parked for `plugin`.
pub fn dead_lettered(plugin: &str) {
    metrics::counter!(DEAD_LETTERED, "plugin" => plugin.to_owned()).increment(1);
}

/// `plugin` did something its manifest lacks `permission` for, refused.
pub fn permission_refused(plugin: &str, permission: &str) {
    metrics::counter!(
        PERMISSION_REFUSALS,
        "plugin" => plugin.to_owned(),
        "permission" => permission.to_owned()
    )
    .increment(1);
}

/// Supervision event `event` (a [`SUPERVISION_EVENTS`] word) happened to `unit`; an exit
/// also counts under [`UNIT_EXITS`] with its `exit_cause`.
pub fn supervision_event(unit: &str, event: &'static str, exit_cause: Option<&'static str>) {
    metrics::counter!(SUPERVISION_EVENTS, "unit" => unit.to_owned(), "event" => event).increment(1);
    if let Some(cause) = exit_cause {
        metrics::counter!(UNIT_EXITS, "unit" => unit.to_owned(), "cause" => cause).increment(1);
    }
}

/// Operation `op` on `plugin` took `took` and succeeded or not.
pub fn plugin_operation(plugin: &str, op: &str, ok: bool, took: Duration) {
    metrics::counter!(
        PLUGIN_OPERATIONS,
        "plugin" => plugin.to_owned(),
        "op" => op.to_owned(),
        "result" => if ok { "ok" } else { "failed" }
    )
    .increment(1);
    metrics::histogram!(
        PLUGIN_OPERATION_SECONDS,
        "plugin" => plugin.to_owned(),
        "op" => op.to_owned()
    )
    .record(took.as_secs_f64());
}

/// The connector joined the channel (`true`) or lost it.
pub fn connector_connected(connected: bool) {
    metrics::gauge!(CONNECTOR_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

/// The connector tries again after losing (or failing to reach) the chat server.
pub fn connector_reconnected() {
    metrics::counter!(CONNECTOR_RECONNECTS).increment(1);
}

/// The outbox holds `queued` lines now.
pub fn outbox_queued(queued: usize) {
    metrics::gauge!(OUTBOX_QUEUED).set(queued as f64);
}

/// The outbox held a line back for `wait`.
pub fn outbox_cooldown(wait: Duration) {
    metrics::counter!(OUTBOX_COOLDOWNS).increment(1);
    metrics::counter!(OUTBOX_COOLDOWN_SECONDS).increment(wait.as_secs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_once_and_named_as_prometheus_wants() {
        let mut names: Vec<&str> = DESCRIPTIONS.iter().map(|(name, _, _)| *name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a metric described twice");
        for name in names {
            assert!(name.starts_with("rosey_"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(
                !name.ends_with("_total"),
                "{name}: the rendering adds _total"
            );
        }
        assert!(REPLY_BUCKETS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(OPERATION_BUCKETS.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
