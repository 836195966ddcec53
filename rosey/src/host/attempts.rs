//! Which message killed the previous host, and how many hosts each message has killed.
//!
//! Before handing a message to the plugin the host writes its stream sequence to
//! `data/plugins/<name>/inflight` (a fixed-width overwrite, no fsync: the file only has to
//! survive this process, not the machine), and zeros once it is done. A host that dies
//! mid-message (panic, abort, segfault, killed for hanging) leaves the sequence behind; the
//! next host adds one to that message's count in `attempts.json`. A message whose count has
//! reached `max_attempts` is moved to the dead-letter stream instead of being handed to the
//! plugin again. JetStream's own delivery count cannot serve here: graceful hand-backs during a
//! reload redeliver too, and must not count.

use std::{
    collections::BTreeMap,
    fs::{File, OpenOptions},
    io,
    os::unix::fs::FileExt,
    path::PathBuf,
};

use rosey_core::paths::Home;

const WIDTH: usize = 20;

/// The host's record of messages in hand and of messages that killed earlier hosts.
pub struct Attempts {
    inflight: File,
    counts_path: PathBuf,
    counts: BTreeMap<u64, u32>,
    /// The message the previous host died on, if it died on one.
    pub died_on: Option<u64>,
}

impl Attempts {
    /// Opens the records for plugin `name`, counting the message the previous host died on.
    pub fn open(home: &Home, name: &str) -> io::Result<Attempts> {
        let inflight_path = home.plugin_inflight_file(name);
        let counts_path = home.plugin_attempts_file(name);
        let previous = std::fs::read_to_string(&inflight_path).unwrap_or_default();
        let died_on = previous.trim().parse::<u64>().ok().filter(|seq| *seq != 0);
        let mut counts: BTreeMap<u64, u32> = std::fs::read(&counts_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let inflight = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&inflight_path)?;
        let mut attempts = Attempts {
            inflight,
            counts_path,
            counts: BTreeMap::new(),
            died_on,
        };
        if let Some(seq) = died_on {
            *counts.entry(seq).or_default() += 1;
        }
        attempts.counts = counts;
        if died_on.is_some() {
            attempts.save()?;
        }
        attempts.idle()?;
        Ok(attempts)
    }

    /// How many hosts died handling message `seq`.
    pub fn count(&self, seq: u64) -> u32 {
        self.counts.get(&seq).copied().unwrap_or(0)
    }

    /// Marks message `seq` as in hand.
    pub fn handling(&self, seq: u64) -> io::Result<()> {
        self.inflight
            .write_all_at(format!("{seq:0WIDTH$}\n").as_bytes(), 0)
    }

    /// Marks the host idle.
    pub fn idle(&self) -> io::Result<()> {
        self.handling(0)
    }

    /// Forgets message `seq` (handled, or moved to the dead-letter stream).
    pub fn forget(&mut self, seq: u64) -> io::Result<()> {
        if self.counts.remove(&seq).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> io::Result<()> {
        let bytes = serde_json::to_vec(&self.counts).map_err(io::Error::other)?;
        rosey_core::fsutil::write_atomic(&self.counts_path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_that_died_mid_message_is_counted_by_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        std::fs::create_dir_all(home.plugin_dir("p")).expect("plugin dir");

        let first = Attempts::open(&home, "p").expect("open");
        assert_eq!(first.died_on, None);
        first.handling(42).expect("mark");
        drop(first); // died mid-message

        let second = Attempts::open(&home, "p").expect("open");
        assert_eq!(second.died_on, Some(42));
        assert_eq!(second.count(42), 1);
        second.handling(42).expect("mark");
        drop(second); // died again

        let mut third = Attempts::open(&home, "p").expect("open");
        assert_eq!(third.count(42), 2);
        third.forget(42).expect("forget");
        third.handling(7).expect("mark");
        third.idle().expect("idle"); // finished normally
        drop(third);

        let fourth = Attempts::open(&home, "p").expect("open");
        assert_eq!(fourth.died_on, None);
        assert_eq!(fourth.count(42), 0);
    }
}
