//! A [`TestBot`]'s instances coming and going as the daemon makes them: the first load, a
//! reload (`rosey plugin reload`: unload, state handed to the next instance), a restart (a
//! crash or a daemon restart: no unload, no state), new configuration (`rosey plugin
//! config`: `on_config`, or a reload when the plugin has none), the last unload.
//!
//! Each instance gets a services table of its own, handed to the library on this thread just
//! before `load`, as the host hands it; when the instance goes, its table stops answering and
//! its timers are dropped. The key-value store and the clock belong to the bot and stay.

use std::{cell::RefCell, marker::PhantomData, sync::Arc};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, ROption, RSlice, RStr, RString, RVec},
};

use super::{
    config, error_message, services,
    state::{KitHost, Shared},
    Said, TestBot, START_MS,
};
use crate::{
    export::config_lines,
    ffi::{FfiConfig, FfiEvent, FfiLoadArgs, HostApi_TO},
    services::ServicesRef,
    Plugin,
};

/// The storage folder of a new bot: unique in this process and across processes.
fn storage_dir(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    // Only names folders apart; no bot's state is kept here.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let name: String = name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    std::env::temp_dir().join(format!(
        "rosey-testbot-{}-{number}-{name}",
        std::process::id()
    ))
}

impl<P: Plugin> TestBot<P> {
    /// A bot for plugin `name` with `config`, its first instance loaded without state.
    pub(super) fn start(name: &str, config: FfiConfig) -> Result<TestBot<P>, String> {
        let shared = Arc::new(Shared::new(START_MS));
        let mut bot = TestBot {
            module: crate::export::root_module::<P>(),
            name: name.to_owned(),
            config,
            host: KitHost {
                shared: shared.clone(),
                reply_to: RefCell::new(None),
                storage_dir: storage_dir(name),
            },
            shared,
            plugin: None,
            generation: 0,
            next_message: 0,
            _plugin: PhantomData,
        };
        bot.load_instance(None)?;
        Ok(bot)
    }

    /// Loads a new instance with `state`, giving it a services table of its own first; on
    /// failure, `load`'s error (its table then answers no more, like an unloaded one's).
    fn load_instance(&mut self, state: Option<&[u8]>) -> Result<(), String> {
        self.generation += 1;
        let generation = self.generation;
        self.shared.lock().live = Some(generation);
        let table = services::table(self.shared.clone(), generation);
        *self.host.reply_to.borrow_mut() = None;
        let load = self.module.load();
        // SAFETY: `table` is leaked (valid for the process's life) and never written again.
        crate::export::services::set(unsafe { ServicesRef::new(table) });
        let args = FfiLoadArgs {
            name: RStr::from(self.name.as_str()),
            config: &self.config,
            state: match state {
                Some(state) => ROption::RSome(RSlice::from_slice(state)),
                None => ROption::RNone,
            },
        };
        match load(args, HostApi_TO::from_ptr(&self.host, TD_Opaque)) {
            ROk(plugin) => {
                self.plugin = Some(plugin);
                Ok(())
            }
            RErr(err) => {
                self.shared.lock().close();
                Err(error_message(&err))
            }
        }
    }

    /// Unloads the instance: the state it returns, or its error. Either way it is gone, with
    /// its services and timers.
    fn unload_instance(&mut self) -> Result<Vec<u8>, String> {
        let unloaded = self.hook(None, None, |plugin, host| plugin.unload(host));
        self.shared.lock().close();
        drop(self.plugin.take());
        unloaded
            .map(RVec::into_vec)
            .map_err(|err| error_message(&err))
    }

    /// Drops the instance without unloading it, as a crash does; its services stop answering
    /// first, so a handle its `Drop` or its threads use gets an error.
    fn crash_instance(&mut self) {
        if let Some(plugin) = self.plugin.take() {
            self.shared.lock().close();
            drop(plugin);
        }
    }

    /// As `rosey plugin reload`: the instance unloads and its state goes to a new instance's
    /// `load`, with the same configuration. The store stays; the old instance's timers are
    /// gone (the new one re-arms what it needs in `load`) and its handles now return errors.
    /// What `unload` and `load` said; panics if either fails.
    pub fn reload(&mut self) -> Vec<Said> {
        let state = self
            .unload_instance()
            .unwrap_or_else(|err| panic!("TestBot: reload: unload failed: {err}"));
        if let Err(err) = self.load_instance(Some(&state)) {
            panic!("TestBot: reload: load failed: {err}");
        }
        self.said()
    }

    /// As a crash or a daemon restart: the instance is dropped without `unload`, and a new
    /// one loaded without state. The store stays; timers are gone; the old instance's handles
    /// now return errors. What `load` said; panics if it fails.
    pub fn restart(&mut self) -> Vec<Said> {
        self.crash_instance();
        if let Err(err) = self.load_instance(None) {
            panic!("TestBot: restart: load failed: {err}");
        }
        self.said()
    }

    /// As a stop, `down` of downtime, and a start: the instance is dropped (no `unload`, no
    /// state), the clock moves on without firing anything, and a new instance loads with the
    /// key-value store as it was: what a plugin keeps in storage must be caught up in `load`
    /// (a reminder that came due meanwhile, say). What was said.
    pub fn restart_after(&mut self, down: std::time::Duration) -> Vec<Said> {
        self.crash_instance();
        {
            let mut state = self.shared.lock();
            let down_ms = u64::try_from(down.as_millis()).unwrap_or(u64::MAX);
            state.now_ms = state.now_ms.saturating_add(down_ms);
        }
        if let Err(err) = self.load_instance(None) {
            panic!("TestBot: restart_after: load failed: {err}");
        }
        self.said()
    }

    /// As `rosey plugin config`: the plugin's `on_config` gets `config_json` (a JSON object),
    /// exactly as the host hands it over. When it returns an error (or panics) the
    /// configuration is unchanged and the error comes back. A plugin without `on_config` is
    /// reloaded with its state and the new configuration; if that load fails, the old
    /// configuration is put back (reloaded with the same state) and `load`'s error comes back.
    /// What was said; panics if `config_json` is not an object.
    pub fn set_config(&mut self, config_json: &str) -> Result<Vec<Said>, String> {
        let new = config::parse_or_panic(config_json);
        let event = FfiEvent {
            id: RString::from("config"),
            kind: RString::from(crate::CONFIG_EVENT_KIND),
            user: ROption::RNone,
            text: ROption::RSome(RString::from(config_lines::encode(config::pairs(&new)))),
            payload_json: new.json.clone(),
            time_ms: 0,
        };
        match self.hook(None, None, |plugin, host| plugin.handle_event(host, &event)) {
            Ok(()) => {
                self.config = new;
                Ok(self.said())
            }
            Err(err) if err.message.as_str() == crate::CONFIG_NOT_HANDLED => self.reload_with(new),
            Err(err) => Err(error_message(&err)),
        }
    }

    /// A reload that brings in configuration `new`; the old one back if it fails to load.
    fn reload_with(&mut self, new: FfiConfig) -> Result<Vec<Said>, String> {
        let state = self
            .unload_instance()
            .unwrap_or_else(|err| panic!("TestBot: set_config: unload failed: {err}"));
        let old = std::mem::replace(&mut self.config, new);
        match self.load_instance(Some(&state)) {
            Ok(()) => Ok(self.said()),
            Err(err) => {
                self.config = old;
                if let Err(again) = self.load_instance(Some(&state)) {
                    panic!("TestBot: set_config: the new configuration failed to load ({err}), and the old one too: {again}");
                }
                Err(err)
            }
        }
    }

    /// Unloads the plugin for good, as at a daemon's stop: the state `unload` returned.
    /// Panics if it fails.
    pub fn unload(mut self) -> Vec<u8> {
        self.unload_instance()
            .unwrap_or_else(|err| panic!("TestBot: unload failed: {err}"))
    }
}

impl<P: Plugin> Drop for TestBot<P> {
    /// The instance goes as in a crash (no `unload`; its handles stop working), and the
    /// storage folder with it.
    fn drop(&mut self) {
        self.crash_instance();
        let _ = std::fs::remove_dir_all(&self.host.storage_dir);
    }
}
