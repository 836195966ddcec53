//! What one [`super::TestBot`] records and answers with: the shared state its host API and its
//! services table both work on (what was said and published, log lines, the key-value store,
//! the fake clock, the armed timers, the channel's users and media, its playlist, poll and
//! the plugin's actions), and the host API
//! ([`KitHost`]) a hook gets for the duration of one call.
//!
//! The state sits behind one mutex: the plugin's own threads reach it through the services
//! table while the test drives hooks, and whether an instance's services still answer is
//! decided under the same lock as what they do, so nothing slips in after an unload.

use std::{
    cell::RefCell,
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, MutexGuard},
};

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec};

use super::{channel::KitChannel, services::event_refusal, Said};
use crate::{
    ffi::{FfiLogLevel, HostApi},
    ChatUser, LogLevel, Media,
};

/// A timer an instance armed, as the kit keeps it until it is due.
#[derive(Debug, Clone, Copy)]
pub(super) struct Armed {
    /// Which arming this is (increasing): the tie-breaker between timers due together.
    pub id: u64,
    /// When it is due next, on the fake clock.
    pub due_ms: u64,
    /// Its period (0: once).
    pub every_ms: u64,
}

/// Everything a test bot records and answers with.
#[derive(Default)]
pub(super) struct State {
    /// The generation of the instance whose services answer (`None` between instances).
    pub live: Option<u64>,
    /// What was said, oldest first, until drained.
    pub said: Vec<Said>,
    /// What was published (kind as the plugin gave it, payload), until drained.
    pub published: Vec<(String, String)>,
    /// Every line the plugin logged.
    pub logs: Vec<(LogLevel, String)>,
    /// The key-value store (kept across reloads and restarts, like the real one).
    pub kv: BTreeMap<String, Vec<u8>>,
    /// The fake clock, in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// The live instance's armed timers, by name.
    pub timers: BTreeMap<String, Armed>,
    /// The id of the next arming.
    pub next_arming: u64,
    /// What `users` answers.
    pub users: Vec<ChatUser>,
    /// What `media` answers.
    pub media: Option<Media>,
    /// The playlist, the poll, the bot, and the plugin's channel actions.
    pub channel: KitChannel,
}

impl State {
    /// Ends the live instance's services and its timers (it unloaded, crashed, or never
    /// finished loading).
    pub fn close(&mut self) {
        self.live = None;
        self.timers.clear();
    }
}

/// The state one test bot shares with its host API and every services table it handed out.
pub(super) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Fresh state with the clock at `now_ms`.
    pub fn new(now_ms: u64) -> Shared {
        Shared {
            state: Mutex::new(State {
                now_ms,
                next_arming: 1,
                ..State::default()
            }),
        }
    }

    /// The state, locked. A poisoned lock is taken as it is: nothing panics while holding it
    /// but the kit's own bookkeeping, which leaves it consistent.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The host API a hook gets: like the real host's, it records output instead of sending it.
/// Lives on the test's thread; `reply_to` is where `reply` goes for the message in hand.
pub(super) struct KitHost {
    /// The bot's state.
    pub shared: std::sync::Arc<Shared>,
    /// `None`: `reply` says it in chat; `Some(user)`: by PM to `user`.
    pub reply_to: RefCell<Option<String>>,
    /// The plugin's storage folder (made on first use, removed with the bot).
    pub storage_dir: PathBuf,
}

impl KitHost {
    fn said(&self, to: Option<String>, text: RStr<'_>) {
        self.shared.lock().said.push(Said {
            to,
            text: text.as_str().to_owned(),
        });
    }
}

impl HostApi for KitHost {
    fn reply(&self, text: RStr<'_>) {
        let to = self.reply_to.borrow().clone();
        self.said(to, text);
    }

    fn send_chat(&self, text: RStr<'_>) {
        self.said(None, text);
    }

    fn send_pm(&self, to: RStr<'_>, text: RStr<'_>) {
        self.said(Some(to.as_str().to_owned()), text);
    }

    fn publish(&self, kind: RStr<'_>, payload_json: RStr<'_>) -> RResult<(), RString> {
        if let Some(reason) = event_refusal(kind.as_str(), payload_json.as_str()) {
            return RErr(RString::from(reason));
        }
        self.shared
            .lock()
            .published
            .push((kind.as_str().to_owned(), payload_json.as_str().to_owned()));
        ROk(())
    }

    fn storage_dir(&self) -> RString {
        // A failure shows when the plugin uses the folder, with the OS's reason.
        let _ = std::fs::create_dir_all(&self.storage_dir);
        RString::from(self.storage_dir.to_string_lossy().into_owned())
    }

    fn kv_get(&self, key: RStr<'_>) -> RResult<ROption<RVec<u8>>, RString> {
        let value = self.shared.lock().kv.get(key.as_str()).cloned();
        ROk(value.map(RVec::from).into())
    }

    fn kv_set(&self, key: RStr<'_>, value: RSlice<'_, u8>) -> RResult<(), RString> {
        self.shared
            .lock()
            .kv
            .insert(key.as_str().to_owned(), value.as_slice().to_vec());
        ROk(())
    }

    fn kv_delete(&self, key: RStr<'_>) -> RResult<bool, RString> {
        ROk(self.shared.lock().kv.remove(key.as_str()).is_some())
    }

    fn kv_list(&self, prefix: RStr<'_>) -> RResult<RVec<RString>, RString> {
        let state = self.shared.lock();
        ROk(state
            .kv
            .keys()
            .filter(|key| key.starts_with(prefix.as_str()))
            .map(|key| RString::from(key.as_str()))
            .collect())
    }

    fn log(&self, level: FfiLogLevel, message: RStr<'_>) {
        self.shared
            .lock()
            .logs
            .push((level, message.as_str().to_owned()));
    }
}
