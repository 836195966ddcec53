//! The bot's status line, kept up to date every half second: its rank in the channel, the
//! chat connection, and whether messages wait for NATS or for a message store that refuses
//! them (full, or its disk full), with the fix; logged once when the store starts refusing and
//! once when it takes messages again.

use std::sync::Arc;

use rosey_core::{connector::ConnectorStatus, router::Router};
use tokio::{sync::watch, task::JoinHandle};

use super::UNIT;
use crate::services::board::Board;

/// Keeps the bot's status line on `board` until aborted.
pub(super) fn spawn(
    router: Arc<Router>,
    bot_name: String,
    board: Board,
    client: async_nats::Client,
    status: watch::Receiver<ConnectorStatus>,
    store: StoreRoom,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(500));
        // While the store refuses: the most messages that waited.
        let mut refused: Option<usize> = None;
        loop {
            ticks.tick().await;
            let connected = client.connection_state() == async_nats::connection::State::Connected;
            let pending = router.pending();
            let refusal = match (connected, pending) {
                (true, 1..) => router.last_error().and_then(|error| {
                    let free = crate::services::nats::free_bytes(&store.dir);
                    store_refusal(&error, free < store.needed)
                        .map(|why| (store.note(why, free), error))
                }),
                _ => None,
            };
            let capacity = router.settings().queue_capacity;
            let nats = match (connected, pending, &refusal) {
                (true, 0, _) => None,
                (true, n, Some((note, _))) => Some(format!(
                    "degraded: message store full: {n} messages waiting in memory ({note})"
                )),
                (true, n, None) => Some(format!("{n} messages waiting for NATS")),
                (false, n, _) => Some(format!("degraded: NATS disconnected, {n} messages queued")),
            };
            match (&mut refused, &refusal) {
                (None, Some((note, error))) => {
                    tracing::warn!(
                        "message store full: {pending} messages waiting in memory, at most {capacity} ({note}); they are stored once it takes them again; NATS said: {error}"
                    );
                    refused = Some(pending);
                }
                (Some(most), _) if pending == 0 => {
                    tracing::info!(
                        "message store accepts messages again: {most} waiting messages stored"
                    );
                    refused = None;
                }
                (Some(most), _) => *most = (*most).max(pending),
                (None, None) => {}
            }
            let chat = match &*status.borrow() {
                ConnectorStatus::Connected => None,
                ConnectorStatus::Connecting => Some("degraded: connecting to the chat".to_owned()),
                ConnectorStatus::Degraded(reason) => Some(format!("degraded: {reason}")),
                ConnectorStatus::Failed(reason) => Some(format!("failed: {reason}")),
            };
            let rank = router
                .channel_user(&bot_name)
                .map(|bot| rank_note(rosey_core::rank::Rank(bot.rank)));
            let detail = [rank, chat, nats].into_iter().flatten().collect::<Vec<_>>();
            let detail = (!detail.is_empty()).then(|| detail.join("; "));
            board.update(UNIT, |report| report.detail = detail);
        }
    })
}

/// Why messages wait for the message store rather than for NATS itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreRefusal {
    /// The command stream is at its size (`nats.max_storage`): plugins that are stopped or
    /// far behind hold their messages there.
    Limit,
    /// The disk holding the store has no room: nats-server cannot write.
    Disk,
}

/// Reads the router's last error (`disk_full`: the disk holding the store has less free space
/// than it needs): `None` when the store is not the reason messages wait (NATS restarting,
/// slow, …). The texts are nats-server's: a stream at its size refuses with `maximum bytes
/// exceeded` (the server's own limits: `insufficient resources`, `resource limits exceeded`);
/// a store whose write failed for lack of space answers nothing (the router's `no ack
/// within`), and a server that disabled JetStream says `not enabled` or has no responders.
fn store_refusal(last_error: &str, disk_full: bool) -> Option<StoreRefusal> {
    let error = last_error.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|word| error.contains(word));
    if says(&["no space left on device"]) {
        return Some(StoreRefusal::Disk);
    }
    if says(&[
        "maximum bytes exceeded",
        "maximum messages exceeded",
        "insufficient resources",
        "insufficient storage",
        "resource limits exceeded",
    ]) {
        return Some(if disk_full {
            StoreRefusal::Disk
        } else {
            StoreRefusal::Limit
        });
    }
    let silent = says(&[
        "no ack within",
        "timed out",
        "not enabled",
        "no responders",
        "jetstream not available",
    ]);
    (silent && disk_full).then_some(StoreRefusal::Disk)
}

/// The message store's disk, for the bot's status line.
pub(super) struct StoreRoom {
    /// The store's folder.
    pub(super) dir: std::path::PathBuf,
    /// The free space below which the disk counts as full.
    pub(super) needed: u64,
    /// The store's size (`320.0 MiB`).
    pub(super) limit: String,
}

impl StoreRoom {
    /// What the operator can do, for the status line and the log.
    fn note(&self, why: StoreRefusal, free: u64) -> String {
        match why {
            StoreRefusal::Disk => format!(
                "free disk space on {}: {} free",
                self.dir.display(),
                crate::services::nats::mib(free)
            ),
            StoreRefusal::Limit => format!(
                "the store's {} are taken by messages plugins have not handled yet: start stopped plugins, or raise nats.max_storage",
                self.limit
            ),
        }
    }
}

/// The bot's rank for the status line; below moderator it says what the bot cannot do.
fn rank_note(rank: rosey_core::rank::Rank) -> String {
    if rank >= rosey_core::rank::Rank::MODERATOR {
        format!("rank: {rank}")
    } else {
        format!("rank: {rank}, not a moderator: cannot moderate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_named_only_when_it_is_why_messages_wait() {
        // A stream at its size (nats-server's answer, as the router words it).
        let at_size = "publishing to rosey.commands.quote: maximum bytes exceeded (code 503, error code 10077)";
        assert_eq!(store_refusal(at_size, false), Some(StoreRefusal::Limit));
        assert_eq!(store_refusal(at_size, true), Some(StoreRefusal::Disk));
        assert_eq!(
            store_refusal(
                "publishing to rosey.events.chat.message: insufficient resources (code 503, error code 10023)",
                false
            ),
            Some(StoreRefusal::Limit)
        );
        // A store whose write failed answers nothing: the disk says why.
        let silent = "publishing to rosey.events.chat.message: no ack within 5s";
        assert_eq!(store_refusal(silent, true), Some(StoreRefusal::Disk));
        assert_eq!(store_refusal(silent, false), None);
        assert_eq!(
            store_refusal("publishing to rosey.commands.roll: JetStream not enabled (code 503, error code 10076)", true),
            Some(StoreRefusal::Disk)
        );
        assert_eq!(
            store_refusal(
                "cannot create the ROSEY stream: write /srv/bot/data/nats/jetstream/$G/streams/ROSEY/meta.inf: no space left on device",
                false
            ),
            Some(StoreRefusal::Disk)
        );
        // NATS itself away: not the store.
        assert_eq!(
            store_refusal(
                "publishing to rosey.commands.roll: nats: connection closed",
                true
            ),
            None
        );
    }

    #[test]
    fn the_note_says_what_to_free_or_raise() {
        let room = StoreRoom {
            dir: "/srv/bot/data/nats".into(),
            needed: 4 << 20,
            limit: "16.0 MiB".to_owned(),
        };
        assert_eq!(
            room.note(StoreRefusal::Disk, 1 << 20),
            "free disk space on /srv/bot/data/nats: 1.0 MiB free"
        );
        assert!(room
            .note(StoreRefusal::Limit, 1 << 30)
            .contains("16.0 MiB are taken by messages plugins have not handled yet: start stopped plugins, or raise nats.max_storage"));
    }
}
