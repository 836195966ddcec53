//! What `export_plugin!` expands to: the root module of a plugin library, and the adapter that
//! turns the author's [`Plugin`] into the FFI plugin object.
//!
//! Every call into the author's code runs inside `catch_unwind`: a panic that unwinds across an
//! `abi_stable` function makes the process exit(1) without a word, so it is caught here and
//! returned as an [`FfiErrorKind::Panicked`] error the host can log, its message followed by
//! where it happened (`… (at src/lib.rs:12:5)`) and, when the host asked for backtraces, by the
//! backtrace (which the host logs after the failure, at DEBUG). The library's own panic hook
//! (`panics`, installed on the first `load`) prints nothing for such a panic.

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, RResult, RString, RVec, Tuple2},
};

use crate::{
    ffi::{
        FfiCommand, FfiConfig, FfiError, FfiErrorKind, FfiEvent, FfiLoadArgs, HostRef, PluginBox,
        PluginModule, PluginModuleRef, PluginObject, PluginObject_TO,
    },
    panics,
    sdk::{Command, Config, Context, Event, Handle, LoadContext, Timer},
    Plugin, PluginResult,
};

/// [`crate::SDK_VERSION`] with a trailing NUL, for the plain C version symbol.
pub const SDK_VERSION_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The symbol name `abi_stable` looks up for the root module (checked against `abi_stable` in a
/// unit test; `export_plugin!` spells it literally because attributes cannot take a constant).
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Builds the root module for plugin type `P`.
pub fn root_module<P: Plugin>() -> PluginModuleRef {
    PluginModule {
        abi_version: crate::ABI_VERSION,
        sdk_version: crate::SDK_VERSION.into(),
        load: load::<P>,
    }
    .leak_into_prefix()
}

struct Adapter<P> {
    plugin: P,
    config: FfiConfig,
    name: String,
    handle: Handle,
}

extern "C" fn load<P: Plugin>(
    args: FfiLoadArgs<'_>,
    host: HostRef<'_>,
) -> RResult<PluginBox, FfiError> {
    // Before the author's code first runs: from here on its panics are reported, not printed.
    panics::install();
    let config = args.config.clone();
    let name = args.name.as_str().to_owned();
    let state = args.state.into_option().map(|state| state.as_slice());
    let handle = Handle::new(services::take());
    let loaded = guard(|| {
        let ctx = LoadContext::new(
            Context::new(host.sabi_reborrow(), &config, &name, &handle),
            state,
        );
        P::load(&ctx)
    });
    match loaded {
        ROk(plugin) => ROk(PluginObject_TO::from_value(
            Adapter {
                plugin,
                config,
                name,
                handle,
            },
            TD_Opaque,
        )),
        RErr(err) => {
            handle.close();
            RErr(err)
        }
    }
}

impl<P: Plugin> PluginObject for Adapter<P> {
    fn handle_command(&mut self, host: HostRef<'_>, command: &FfiCommand) -> RResult<(), FfiError> {
        let ctx = Context::new(host.sabi_reborrow(), &self.config, &self.name, &self.handle);
        let plugin = &mut self.plugin;
        let rank = sender::take();
        guard(|| plugin.on_command(&ctx, &Command::new(command).with_rank(rank)))
    }

    fn handle_event(&mut self, host: HostRef<'_>, event: &FfiEvent) -> RResult<(), FfiError> {
        let ctx = Context::new(host.sabi_reborrow(), &self.config, &self.name, &self.handle);
        let plugin = &mut self.plugin;
        let rank = sender::take();
        if event.kind.as_str() == crate::TIMER_EVENT_KIND {
            let name = event.text.as_ref().map_or("", |name| name.as_str());
            return guard(|| plugin.on_timer(&ctx, &Timer::new(name, event.time_ms)));
        }
        if event.kind.as_str() == crate::CONFIG_EVENT_KIND {
            let lines = event.text.as_ref().map_or("", |lines| lines.as_str());
            let new = FfiConfig {
                json: event.payload_json.clone(),
                flat: config_lines::decode(lines)
                    .into_iter()
                    .map(|(key, value)| Tuple2(RString::from(key), RString::from(value)))
                    .collect(),
            };
            live_config::reset();
            let applied = guard(|| plugin.on_config(&ctx, &Config::new(&new)));
            drop(ctx);
            return match applied {
                ROk(()) if live_config::was_not_handled() => RErr(FfiError {
                    kind: FfiErrorKind::Failed,
                    message: RString::from(crate::CONFIG_NOT_HANDLED),
                }),
                ROk(()) => {
                    self.config = new;
                    ROk(())
                }
                RErr(err) => RErr(err),
            };
        }
        guard(|| plugin.on_event(&ctx, &Event::new(event).with_rank(rank)))
    }

    fn unload(&mut self, host: HostRef<'_>) -> RResult<RVec<u8>, FfiError> {
        let ctx = Context::new(host.sabi_reborrow(), &self.config, &self.name, &self.handle);
        let plugin = &mut self.plugin;
        let state = guard(|| plugin.unload(&ctx).map(RVec::from));
        // From here on the host may be serving the next instance: the plugin's handles (and
        // the threads holding them) can no longer reach it.
        self.handle.close();
        state
    }
}

/// Runs `f`, turning an error or a panic into an [`FfiError`]. A panic's error message is its
/// payload followed by where it happened (`boom (at src/lib.rs:12:5)`) and, when one was
/// captured, [`crate::PANIC_BACKTRACE_SEPARATOR`] and its backtrace, which the host logs after
/// the failure, at DEBUG.
fn guard<T>(f: impl FnOnce() -> PluginResult<T>) -> RResult<T, FfiError> {
    match panics::guarded(f) {
        (Ok(Ok(value)), _) => ROk(value),
        (Ok(Err(err)), _) => RErr(FfiError {
            kind: FfiErrorKind::Failed,
            message: RString::from(err.message()),
        }),
        (Err(payload), record) => {
            let mut message = if let Some(text) = payload.downcast_ref::<&str>() {
                (*text).to_owned()
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            if let Some(record) = record {
                let at = record
                    .location
                    .as_deref()
                    .map(|location| format!(" at {location}"))
                    .unwrap_or_default();
                if let Some(location) = &record.location {
                    message = format!("{message} (at {location})");
                }
                if let Some(frames) = panics::short_backtrace(&record.backtrace) {
                    message = format!(
                        "{message}{}backtrace of the panic{at}:\n{frames}",
                        crate::PANIC_BACKTRACE_SEPARATOR
                    );
                }
            }
            RErr(FfiError {
                kind: FfiErrorKind::Panicked,
                message: RString::from(message),
            })
        }
    }
}

/// Exports a [`Plugin`] implementation as a rosey plugin library.
///
/// Call it once, at the crate root of a `cdylib` crate, with the plugin type:
/// `rosey_abi::export_plugin!(MyPlugin);`. It generates the `abi_stable` root module (whose
/// layout the host checks at load) and two plain C symbols that report the ABI and SDK versions
/// even to a host whose layout differs, so a mismatch can be reported in one line.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static ROSEY_PLUGIN_LIB_HEADER: $crate::__private::abi_stable::library::LibHeader = {
            extern "C" fn rosey_erased_root_module(
            ) -> $crate::__private::abi_stable::library::RootModuleResult {
                $crate::__private::abi_stable::library::__call_root_module_loader(
                    $crate::export::root_module::<$plugin>,
                )
            }
            unsafe {
                $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                    $crate::ffi::PluginModuleRef,
                >(
                    rosey_erased_root_module,
                    $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };

        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn rosey_plugin_abi_version() -> u32 {
            $crate::ABI_VERSION
        }

        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn rosey_plugin_sdk_version() -> *const ::std::ffi::c_char {
            $crate::export::SDK_VERSION_NUL.as_ptr().cast()
        }

        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn rosey_plugin_set_sender_rank_v1(known: bool, rank: i64) {
            $crate::export::sender::set(known.then_some(rank));
        }

        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn rosey_plugin_set_services_v1(
            table: *const $crate::services::HostServices,
        ) {
            // SAFETY: the host promises what `ServicesRef::new` asks (see `rosey_abi::services`).
            $crate::export::services::set(unsafe { $crate::services::ServicesRef::new(table) });
        }
    };
}

#[doc(hidden)]
pub mod sender;

#[doc(hidden)]
pub mod live_config;

pub mod config_lines;

#[doc(hidden)]
pub mod services;

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use abi_stable::std_types::{ROption, RSlice, RStr};

    use super::*;
    use crate::ffi::{FfiLogLevel, HostApi, HostApi_TO};

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    /// A host that keeps the plugin's log lines and does nothing else.
    #[derive(Default)]
    struct LogOnly {
        lines: RefCell<Vec<(FfiLogLevel, String)>>,
    }

    impl HostApi for LogOnly {
        fn reply(&self, _text: RStr<'_>) {}
        fn send_chat(&self, _text: RStr<'_>) {}
        fn send_pm(&self, _to: RStr<'_>, _text: RStr<'_>) {}
        fn publish(&self, _kind: RStr<'_>, _payload_json: RStr<'_>) -> RResult<(), RString> {
            ROk(())
        }
        fn storage_dir(&self) -> RString {
            RString::new()
        }
        fn kv_get(&self, _key: RStr<'_>) -> RResult<ROption<RVec<u8>>, RString> {
            ROk(ROption::RNone)
        }
        fn kv_set(&self, _key: RStr<'_>, _value: RSlice<'_, u8>) -> RResult<(), RString> {
            ROk(())
        }
        fn kv_delete(&self, _key: RStr<'_>) -> RResult<bool, RString> {
            ROk(false)
        }
        fn kv_list(&self, _prefix: RStr<'_>) -> RResult<RVec<RString>, RString> {
            ROk(RVec::new())
        }
        fn log(&self, level: FfiLogLevel, message: RStr<'_>) {
            self.lines
                .borrow_mut()
                .push((level, message.as_str().to_owned()));
        }
    }

    /// A plugin whose `load` panics.
    struct PanicsOnLoad;

    impl Plugin for PanicsOnLoad {
        fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {
            refuse_to_load()
        }

        fn on_command(&mut self, _ctx: &Context<'_>, _cmd: &Command<'_>) -> PluginResult<()> {
            Ok(())
        }
    }

    #[inline(never)]
    fn refuse_to_load() -> ! {
        panic!("no load today")
    }

    #[test]
    fn a_panic_comes_back_with_its_location_and_its_backtrace() {
        crate::panics::tests::want_backtraces();
        let host = LogOnly::default();
        let config = FfiConfig {
            json: RString::from("{}"),
            flat: RVec::new(),
        };
        let args = FfiLoadArgs {
            name: RStr::from("panics-on-load"),
            config: &config,
            state: ROption::RNone,
        };
        let line = include_str!("mod.rs")
            .lines()
            .position(|line| line.trim() == r#"panic!("no load today")"#)
            .expect("the panic in this file")
            + 1;
        let err = match load::<PanicsOnLoad>(args, HostApi_TO::from_ptr(&host, TD_Opaque)) {
            ROk(_) => panic!("load succeeded"),
            RErr(err) => err,
        };
        assert_eq!(err.kind, FfiErrorKind::Panicked);
        let location = format!("{}:{line}:9", file!());
        let (message, backtrace) = crate::split_panic_message(err.message.as_str());
        assert_eq!(message, format!("no load today (at {location})"));
        assert!(
            host.lines.borrow().is_empty(),
            "nothing is logged from here"
        );
        let mut text = backtrace.expect("a backtrace").lines();
        assert_eq!(
            text.next(),
            Some(format!("backtrace of the panic at {location}:").as_str())
        );
        let frames: Vec<&str> = text.collect();
        assert!(
            frames.iter().any(|frame| frame.contains("refuse_to_load")),
            "the panicking function is in the backtrace: {frames:#?}"
        );
        assert!(
            !frames
                .iter()
                .any(|frame| frame.contains("rust_panic_with_hook")
                    || frame.contains("__rosey_begin_short_backtrace")
                    || frame.contains("catch_unwind")),
            "the panic machinery is cut: {frames:#?}"
        );
    }

    #[test]
    fn an_error_is_returned_as_it_is() {
        let result = guard(|| -> PluginResult<()> { Err(crate::Error::msg("plain failure")) });
        match result {
            RErr(err) => {
                assert_eq!(err.kind, FfiErrorKind::Failed);
                assert_eq!(err.message.as_str(), "plain failure");
            }
            ROk(()) => panic!("the error was lost"),
        }
    }
}
