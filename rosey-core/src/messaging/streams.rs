//! The two JetStream streams and how much disk they may take.
//!
//! Commands and events wait in `ROSEY` until every plugin interested has acked them; messages
//! a plugin kept crashing on are parked in `ROSEY_DEADLETTER`. Both live in the managed
//! nats-server's file store, whose size is the [`StoreBudget`]: `nats.max_storage` in
//! `rosey.yaml`, or by default 320 MiB shrunk to what the disk has room for. `ROSEY` gets four
//! fifths and refuses new messages when full (the router keeps them in memory and retries, so
//! a full store delays commands instead of dropping the oldest unhandled ones); the dead
//! letters get the rest and drop their oldest when full.
//!
//! In a cluster (`nats.cluster`) each stream is kept on [`StoreBudget::replicas`] servers
//! (three when there are three), so a server lost loses no command; each keeps the whole
//! budget on its own disk.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};

use super::{
    COMMANDS_ALL, DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECTS, EVENTS_ALL, REPLAYS_ALL, STREAM_NAME,
};

const MIB: u64 = 1024 * 1024;

/// How many bytes the message store may use on disk, split between the two streams, and on
/// how many servers of a cluster each stream is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreBudget {
    total: u64,
    replicas: usize,
    clustered: bool,
}

/// Why no [`StoreBudget`] fits: names the key and the fix, as operators see it at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreTooSmall {
    /// `nats.max_storage` asks for more than the disk has room for.
    #[error("nats.max_storage is {} but the disk holding {folder} has room for {} (free space plus what the store already uses): lower nats.max_storage in rosey.yaml or free space on that disk", mib(*.requested), mib(*.room))]
    Requested {
        /// What `nats.max_storage` says.
        requested: u64,
        /// What the disk has room for.
        room: u64,
        /// The store's folder.
        folder: String,
    },
    /// The disk is too full for even the smallest store.
    #[error("the disk holding {folder} has room for {} but the message store needs at least {}: free space on that disk (or move the home to another one); nats.max_storage in rosey.yaml sets the store's size", mib(*.room), mib(StoreBudget::MINIMUM))]
    DiskFull {
        /// What the disk has room for.
        room: u64,
        /// The store's folder.
        folder: String,
    },
}

/// `12.5 MiB`.
fn mib(bytes: u64) -> String {
    let tenths = bytes * 10 / MIB;
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

impl StoreBudget {
    /// The store's size when `nats.max_storage` is not set and the disk has room.
    pub const DEFAULT: u64 = 320 * MIB;
    /// The smallest store: a few thousand commands waiting, a few hundred dead letters.
    pub const MINIMUM: u64 = 16 * MIB;

    /// A store of exactly `total` bytes (at least [`StoreBudget::MINIMUM`]).
    pub fn new(total: u64) -> StoreBudget {
        StoreBudget {
            total: total.max(Self::MINIMUM),
            replicas: 1,
            clustered: false,
        }
    }

    /// The room for plugin archives nodes install from (the object store), on top of the
    /// streams' budget when the server is in a cluster.
    pub const ARCHIVES: u64 = 64 * MIB;
    /// The room for handed-over plugin state shared between machines, on top of the streams'
    /// budget when the server is in a cluster.
    pub const SHARED_STATE: u64 = 16 * MIB;

    /// This budget in a cluster: each stream kept on `replicas` servers (at least one), and
    /// [`StoreBudget::ARCHIVES`] and [`StoreBudget::SHARED_STATE`] more for the plugin
    /// archives and handed-over state.
    pub fn in_cluster(self, replicas: usize) -> StoreBudget {
        StoreBudget {
            replicas: replicas.max(1),
            clustered: true,
            ..self
        }
    }

    /// Whether the streams live in a cluster (plugins' state is then shared between machines).
    pub fn clustered(&self) -> bool {
        self.clustered
    }

    /// What the server's file store may hold: the streams, and in a cluster the archives and
    /// the shared state.
    pub fn server_bytes(&self) -> u64 {
        self.total
            + if self.clustered {
                Self::ARCHIVES + Self::SHARED_STATE
            } else {
                0
            }
    }

    /// On how many servers each stream is kept.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The store's size for `requested` (`nats.max_storage`, `None` when unset) on a disk with
    /// `room` bytes for it (free space plus what the store already uses), its folder named
    /// in the error. Unset, it is [`StoreBudget::DEFAULT`] or three quarters of the room,
    /// whichever is smaller, so logs and plugins keep some of the disk; set, it must fit.
    pub fn fit(
        requested: Option<u64>,
        room: u64,
        folder: &std::path::Path,
    ) -> Result<StoreBudget, StoreTooSmall> {
        let folder = folder.display().to_string();
        match requested {
            Some(requested) if requested > room => Err(StoreTooSmall::Requested {
                requested,
                room,
                folder,
            }),
            Some(requested) => Ok(StoreBudget::new(requested)),
            None => {
                let total = Self::DEFAULT.min(room / 4 * 3 / MIB * MIB);
                if total < Self::MINIMUM {
                    return Err(StoreTooSmall::DiskFull { room, folder });
                }
                Ok(StoreBudget::new(total))
            }
        }
    }

    /// The whole store, for nats-server's `max_file_store`.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `ROSEY` stream's share (four fifths).
    pub fn stream_bytes(&self) -> i64 {
        i64::try_from(self.total / 5 * 4).unwrap_or(i64::MAX)
    }

    /// The dead-letter stream's share (what is left).
    pub fn dead_letter_bytes(&self) -> i64 {
        i64::try_from(self.total - self.total / 5 * 4).unwrap_or(i64::MAX)
    }

    /// `320.0 MiB`, for logs and status.
    pub fn describe(&self) -> String {
        mib(self.total)
    }
}

/// The default store: what an embedder gets when it does not size one.
impl Default for StoreBudget {
    fn default() -> Self {
        StoreBudget::new(Self::DEFAULT)
    }
}

/// The dead-letter stream definition: a week of what crashed plugins, for inspection; when
/// full, the oldest go first.
pub fn dead_letter_stream_config(budget: &StoreBudget) -> stream::Config {
    stream::Config {
        name: DEAD_LETTER_STREAM.to_owned(),
        subjects: vec![DEAD_LETTER_SUBJECTS.to_owned()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 60 * 60),
        max_bytes: budget.dead_letter_bytes(),
        num_replicas: budget.replicas(),
        ..Default::default()
    }
}

/// The stream of events, commands and replayed dead letters: a message stays until every
/// interested plugin acked it (a day at most); when full, new messages are refused rather than
/// unhandled ones dropped.
pub fn stream_config(budget: &StoreBudget) -> stream::Config {
    stream::Config {
        name: STREAM_NAME.to_owned(),
        subjects: vec![
            EVENTS_ALL.to_owned(),
            COMMANDS_ALL.to_owned(),
            REPLAYS_ALL.to_owned(),
            BALLAST_SUBJECT.to_owned(),
        ],
        retention: stream::RetentionPolicy::Interest,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::New,
        max_age: Duration::from_secs(24 * 60 * 60),
        max_bytes: budget.stream_bytes(),
        duplicate_window: Duration::from_secs(120),
        num_replicas: budget.replicas(),
        ..Default::default()
    }
}

/// The subject of the stream's ballast: one message kept in `ROSEY` so that it never runs
/// empty. nats-server's file store deletes a message block's file when the block's last
/// message goes, and makes a new file for the next message; a bot's stream, at rest between
/// commands, would otherwise cost the server a file made and a file deleted for every command.
/// Outside `rosey.>`, so whoever watches the bot's traffic never sees it.
pub const BALLAST_SUBJECT: &str = "_rosey.ballast";

/// The consumer that keeps the ballast in the stream: interested in [`BALLAST_SUBJECT`] only,
/// it never pulls, so under interest retention the ballast stays until it is purged.
pub const BALLAST_CONSUMER: &str = "ballast";

/// The ballast consumer's definition (see [`BALLAST_CONSUMER`]).
pub fn ballast_consumer_config() -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(BALLAST_CONSUMER.to_owned()),
        description: Some("keeps the stream's ballast: never pulls".to_owned()),
        filter_subject: BALLAST_SUBJECT.to_owned(),
        ack_policy: consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

/// Whether a stream the server holds is already as `wanted` says, in everything rosey sets: a
/// start that finds it so skips the update (a write of the stream's metadata to disk) and
/// only reads it. The server fills in what rosey leaves at its default, so those fields are
/// not compared; a `duplicate_window` of zero is the server's default, not a wish.
pub fn stream_is_as_wanted(current: &stream::Config, wanted: &stream::Config) -> bool {
    current.name == wanted.name
        && current.subjects == wanted.subjects
        && current.retention == wanted.retention
        && current.storage == wanted.storage
        && current.discard == wanted.discard
        && current.max_age == wanted.max_age
        && current.max_bytes == wanted.max_bytes
        && current.num_replicas == wanted.num_replicas
        && (wanted.duplicate_window.is_zero()
            || current.duplicate_window == wanted.duplicate_window)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn unset_it_is_the_default_or_three_quarters_of_the_room() {
        let folder = Path::new("/srv/bot/data/nats");
        assert_eq!(
            StoreBudget::fit(None, 10_000 * MIB, folder)
                .unwrap()
                .total(),
            StoreBudget::DEFAULT
        );
        assert_eq!(
            StoreBudget::fit(None, 40 * MIB, folder).unwrap().total(),
            30 * MIB
        );
        let full = StoreBudget::fit(None, 20 * MIB, folder).unwrap_err();
        let message = full.to_string();
        assert!(
            message.contains("/srv/bot/data/nats") && message.contains("nats.max_storage"),
            "{message}"
        );
    }

    #[test]
    fn set_it_must_fit_and_the_error_names_the_key() {
        let folder = Path::new("/srv/bot/data/nats");
        assert_eq!(
            StoreBudget::fit(Some(64 * MIB), 100 * MIB, folder)
                .unwrap()
                .total(),
            64 * MIB
        );
        let err = StoreBudget::fit(Some(320 * MIB), 40 * MIB, folder).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nats.max_storage is 320.0 MiB but the disk holding /srv/bot/data/nats has room for 40.0 MiB (free space plus what the store already uses): lower nats.max_storage in rosey.yaml or free space on that disk"
        );
    }

    #[test]
    fn the_streams_share_the_store_and_a_full_command_stream_refuses() {
        let budget = StoreBudget::new(100 * MIB);
        let commands = stream_config(&budget);
        let dead = dead_letter_stream_config(&budget);
        assert_eq!((commands.max_bytes + dead.max_bytes) as u64, budget.total());
        assert_eq!(commands.discard, stream::DiscardPolicy::New);
        assert_eq!(dead.discard, stream::DiscardPolicy::Old);
        assert_eq!((commands.num_replicas, dead.num_replicas), (1, 1));
        let clustered = budget.in_cluster(3);
        assert_eq!(
            clustered.server_bytes(),
            budget.total() + StoreBudget::ARCHIVES + StoreBudget::SHARED_STATE
        );
        assert_eq!(
            budget.server_bytes(),
            budget.total(),
            "alone: the streams only"
        );
        assert_eq!(stream_config(&clustered).num_replicas, 3);
        assert_eq!(dead_letter_stream_config(&clustered).num_replicas, 3);
    }

    #[test]
    fn a_stream_is_as_wanted_only_when_every_field_rosey_sets_agrees() {
        let budget =
            StoreBudget::fit(None, 10_000 * MIB, Path::new("/srv/bot/data/nats")).expect("fits");
        for wanted in [stream_config(&budget), dead_letter_stream_config(&budget)] {
            // As the server reports it: rosey's defaults filled in.
            let mut held = wanted.clone();
            held.max_consumers = -1;
            held.max_messages = -1;
            if held.duplicate_window.is_zero() {
                held.duplicate_window = Duration::from_secs(120);
            }
            assert!(stream_is_as_wanted(&held, &wanted), "{}", wanted.name);
            let changes: [fn(&mut stream::Config); 5] = [
                |config| config.max_bytes += 1,
                |config| config.subjects.push("other.>".to_owned()),
                |config| config.max_age += Duration::from_secs(1),
                |config| config.num_replicas += 2,
                |config| config.retention = stream::RetentionPolicy::WorkQueue,
            ];
            for change in changes {
                let mut other = held.clone();
                change(&mut other);
                assert!(!stream_is_as_wanted(&other, &wanted), "{other:?}");
            }
        }
    }
}
