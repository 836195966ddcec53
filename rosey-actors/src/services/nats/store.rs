//! The message store on its disk: sized at each start, watched while the server runs.
//!
//! When a write to the store fails for lack of space, nats-server (standalone,
//! as here) marks that stream's store as failed: from then on it stores nothing on it and
//! answers no publish (the router keeps its messages in memory and retries), and it stays so
//! after space comes back, until the server restarts. (A clustered server would disable
//! JetStream instead.) So the actor watches the store every [`WATCH_EVERY`]: the free space on
//! its disk, and whether the server reports a failed store, by asking it to delete a message
//! no stream can hold (sequence `u64::MAX`), which changes nothing and is answered with the
//! store's write error when it has one. It shows a full disk (bytes below [`room_needed`], or
//! no inodes) or a failed store on the board and in the log, and once a disk it saw full has
//! room again it fails with an [`crate::Uncounted`] error, so the supervisor restarts
//! nats-server (which reopens the store) without spending the services' restart budget: each
//! disk-full episode costs one restart, however many there are. A store that fails while the
//! disk looks fine (an I/O error) restarts the server as an ordinary, counted failure.

use super::*;

/// The message store's size for this start: `requested` (`nats.max_storage`) if the disk
/// holding the home's store has room for it, else the default shrunk to fit; `Err` names the
/// key and the fix when nothing fits.
pub fn fit_store(
    home: &Home,
    requested: Option<u64>,
) -> Result<messaging::StoreBudget, messaging::StoreTooSmall> {
    let folder = home.nats_store_dir();
    let _ = std::fs::create_dir_all(&folder);
    let room = free_bytes(&folder).saturating_add(used_bytes(&folder));
    messaging::StoreBudget::fit(requested, room, &folder)
}

/// What an unprivileged writer may still put on the file system holding `path` (`u64::MAX`
/// when it cannot be asked: the store is then not limited by a guess).
pub fn free_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return u64::MAX;
    };
    // SAFETY: statvfs only writes into the struct we pass.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return u64::MAX;
    }
    (stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64)
}

/// The free space the disk holding the store must have to count as having room: below it the
/// disk is shown as full, and a store that failed while it was full is reopened only once it
/// is back above it. 4 MiB, or a thirty-second of the store when that is more.
pub fn room_needed(store: &messaging::StoreBudget) -> u64 {
    (store.total() / 32).max(4 * MIB)
}

/// `12.5 MiB` (`unknown` for [`free_bytes`]'s `u64::MAX`).
pub(crate) fn mib(bytes: u64) -> String {
    if bytes == u64::MAX {
        return "unknown".to_owned();
    }
    let tenths = bytes * 10 / MIB;
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

/// Watches the running server's store until it must be reopened (then tells the actor and
/// ends) or the actor stops (and aborts it). See the module documentation.
pub(super) async fn watch_store(args: NatsArgs, actor: ActorRef<NatsMsg>) {
    let dir = args.home.nats_store_dir();
    let needed = room_needed(&args.store);
    let mut ticks = tokio::time::interval(WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut client: Option<async_nats::Client> = None;
    // The disk was full since the store was last seen fine.
    let mut full_seen = false;
    let mut shown: Option<Trouble> = None;
    loop {
        ticks.tick().await;
        if client.is_none() {
            client = args
                .credentials
                .connect(&args.url(), BusUser::Daemon, "rosey-nats-watch")
                .await
                .ok();
        }
        let probe = match &client {
            Some(client) => probe_store(client).await,
            None => Probe::Unknown("not connected".to_owned()),
        };
        let room = Room::of(&dir);
        full_seen |= room.full(needed);
        match judge(&probe, room, needed, &dir, full_seen) {
            Verdict::Keep => {}
            Verdict::Fine => {
                full_seen = false;
                if shown.take().is_some() {
                    tracing::info!(
                        "the disk holding {} has room again ({})",
                        dir.display(),
                        room.describe()
                    );
                    let url = args.url();
                    args.board
                        .update(UNIT, |report| report.detail = Some(url.clone()));
                }
            }
            Verdict::Degraded(trouble, note) => {
                if shown != Some(trouble) {
                    tracing::warn!("{note}");
                    shown = Some(trouble);
                }
                let detail = format!("{}; degraded: {note}", args.url());
                args.board
                    .update(UNIT, |report| report.detail = Some(detail.clone()));
            }
            Verdict::Reopen(reopen) => {
                let _ = actor.send_message(NatsMsg::Reopen(reopen));
                return;
            }
        }
    }
}

/// Asks the server to delete sequence `u64::MAX` (which no stream holds) of each stream: the
/// answer is "no such message" from a store that works, and the store's write error from one
/// that failed; nothing is changed either way.
async fn probe_store(client: &async_nats::Client) -> Probe {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(1));
    for name in [messaging::STREAM_NAME, messaging::DEAD_LETTER_STREAM] {
        let answer = match js.get_stream_no_info(name).await {
            Ok(stream) => Answer::from(stream.delete_message(u64::MAX).await),
            Err(err) => Answer::Other(err.to_string()),
        };
        match read_probe(answer) {
            Probe::Fine => continue,
            other => return other,
        }
    }
    Probe::Fine
}

/// The server's answer to the probe's delete, in the parts [`read_probe`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// It deleted something (cannot happen: no stream reaches that sequence).
    Deleted,
    /// JetStream refused, with its error code and text.
    Refused(ErrorCode, String),
    /// Nobody answers JetStream's API.
    NoResponders,
    /// No answer in time, or the request failed.
    Other(String),
}

impl From<Result<bool, DeleteMessageError>> for Answer {
    fn from(answer: Result<bool, DeleteMessageError>) -> Answer {
        let err = match answer {
            Ok(_) => return Answer::Deleted,
            Err(err) => err,
        };
        match err.kind() {
            DeleteMessageErrorKind::JetStream(refusal) => {
                Answer::Refused(refusal.error_code(), refusal.to_string())
            }
            DeleteMessageErrorKind::Request
                if std::error::Error::source(&err)
                    .and_then(|source| source.downcast_ref::<RequestError>())
                    .is_some_and(|source| source.kind() == RequestErrorKind::NoResponders) =>
            {
                Answer::NoResponders
            }
            _ => Answer::Other(err.to_string()),
        }
    }
}

/// What the server says about its store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// Writable, as far as the server knows.
    Fine,
    /// A stream's store failed on a write (the server's error) and stores nothing until the
    /// server restarts.
    Failed(String),
    /// JetStream answers nothing: the server disabled it.
    Off(String),
    /// No clear answer (a timeout, no connection): nothing to conclude.
    Unknown(String),
}

/// Reads the probe's answer (the texts are nats-server's: `stream store EOF` from a working
/// store, `write …/1.blk: no space left on device` from one whose write failed).
fn read_probe(answer: Answer) -> Probe {
    match answer {
        Answer::Deleted => Probe::Fine,
        // A missing stream is the keeper's to make again.
        Answer::Refused(code, _) if code == ErrorCode::STREAM_NOT_FOUND => Probe::Fine,
        Answer::Refused(code, text)
            if [
                ErrorCode::JETSTREAM_NOT_ENABLED,
                ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
            ]
            .contains(&code) =>
        {
            Probe::Off(text)
        }
        Answer::Refused(code, text) if code == ErrorCode::STREAM_MESSAGE_DELETE_FAILED => {
            if text.contains("stream store EOF") || text.contains("no message found") {
                Probe::Fine
            } else {
                Probe::Failed(text)
            }
        }
        Answer::Refused(_, text) | Answer::Other(text) => Probe::Unknown(text),
        Answer::NoResponders => Probe::Off("no responders".to_owned()),
    }
}

/// What is wrong, for logging each kind once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// The disk has no room; the store has not failed (yet).
    DiskFull,
    /// The store failed (or JetStream is off) while the disk is full.
    StoreFailed,
}

/// What the watcher does about one look at the store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Nothing learned: leave the board as it is.
    Keep,
    /// All is well: the URL alone on the board.
    Fine,
    /// Shown on the board (and logged when the trouble is new).
    Degraded(Trouble, String),
    /// The actor fails, so the server restarts.
    Reopen(Reopen),
}

/// The fewest files the disk holding the store must still have room for: a disk out of inodes
/// refuses writes ("no space left on device") with bytes to spare.
const MIN_INODES: u64 = 64;

/// What is free on the disk holding the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Room {
    /// Bytes an unprivileged writer may still write.
    bytes: u64,
    /// Files (inodes) it may still make.
    inodes: u64,
}

impl Room {
    /// The room on the file system holding `path` (unlimited when it cannot be asked).
    fn of(path: &Path) -> Room {
        Room {
            bytes: free_bytes(path),
            inodes: free_inodes(path),
        }
    }

    /// Less than `needed` bytes, or almost no inodes.
    fn full(&self, needed: u64) -> bool {
        self.bytes < needed || self.inodes < MIN_INODES
    }

    /// `0.0 MiB free` (and the files, when those are what is missing).
    fn describe(&self) -> String {
        if self.inodes < MIN_INODES {
            format!("{} free, room for {} files", mib(self.bytes), self.inodes)
        } else {
            format!("{} free", mib(self.bytes))
        }
    }
}

/// How many more files an unprivileged writer may make on the file system holding `path`
/// (`u64::MAX` when it cannot be asked).
fn free_inodes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return u64::MAX;
    };
    // SAFETY: statvfs only writes into the struct we pass.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return u64::MAX;
    }
    match stats.f_files {
        // A file system that does not count inodes (some report 0 of 0).
        0 => u64::MAX,
        _ => stats.f_favail as u64,
    }
}

/// Judges `probe` with `room` on the disk holding the store (`dir`), which is full below
/// `needed` bytes; `full_seen`: the disk was seen full since the store was last fine.
///
/// A failed store is reopened once the disk has room again, and that restart is not counted
/// only when the disk was seen full: a store that fails while the disk looks fine (an I/O
/// error, or a fill and free between two looks) is restarted as a counted failure, so one that
/// keeps failing ends in the supervisor giving up rather than in endless restarts.
fn judge(probe: &Probe, room: Room, needed: u64, dir: &Path, full_seen: bool) -> Verdict {
    let full = room.full(needed);
    let dir = dir.display();
    let free = room.describe();
    let failure = match probe {
        Probe::Fine | Probe::Unknown(_) if full => {
            return Verdict::Degraded(
                Trouble::DiskFull,
                format!("the disk holding {dir} is full ({free}): the message store cannot take more messages"),
            )
        }
        Probe::Fine => return Verdict::Fine,
        Probe::Unknown(_) => return Verdict::Keep,
        Probe::Failed(error) => format!("the message store stopped writing ({error})"),
        Probe::Off(error) => format!("JetStream disabled by the server ({error})"),
    };
    if full {
        Verdict::Degraded(
            Trouble::StoreFailed,
            format!("{failure}: the disk holding {dir} is full ({free}); nats-server restarts once space is back"),
        )
    } else if full_seen {
        Verdict::Reopen(Reopen {
            reason: format!("{failure} while the disk holding {dir} was full; restarting nats-server now that space is back ({free})"),
            space_back: true,
        })
    } else {
        Verdict::Reopen(Reopen {
            reason: format!("{failure}; restarting nats-server"),
            space_back: false,
        })
    }
}

/// What the files under `folder` take (the store's own data counts toward its room).
fn used_bytes(folder: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => used_bytes(&entry.path()),
            Ok(_) => entry.metadata().map(|meta| meta.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .fold(0, u64::saturating_add)
}

#[cfg(test)]
mod tests;
