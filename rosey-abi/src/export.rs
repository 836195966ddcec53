//! What `export_plugin!` expands to: the root module of a plugin library, and the adapter that
//! turns the author's [`Plugin`] into the FFI plugin object.
//!
//! Every call into the author's code runs inside `catch_unwind`: a panic that unwinds across an
//! `abi_stable` function makes the process exit(1) without a word, so it is caught here and
//! returned as an [`FfiErrorKind::Panicked`] error the host can log.

use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, RResult, RString, RVec},
};

use crate::{
    ffi::{
        FfiCommand, FfiConfig, FfiError, FfiErrorKind, FfiEvent, FfiLoadArgs, HostRef, PluginBox,
        PluginModule, PluginModuleRef, PluginObject, PluginObject_TO,
    },
    sdk::{Command, Context, Event, LoadContext},
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
}

extern "C" fn load<P: Plugin>(
    args: FfiLoadArgs<'_>,
    host: HostRef<'_>,
) -> RResult<PluginBox, FfiError> {
    let config = args.config.clone();
    let name = args.name.as_str().to_owned();
    let state = args.state.into_option().map(|state| state.as_slice());
    let loaded = guard(|| {
        let host = host.sabi_reborrow();
        let ctx = LoadContext::new(Context::new(host, &config, &name), state);
        P::load(&ctx)
    });
    match loaded {
        ROk(plugin) => ROk(PluginObject_TO::from_value(
            Adapter {
                plugin,
                config,
                name,
            },
            TD_Opaque,
        )),
        RErr(err) => RErr(err),
    }
}

impl<P: Plugin> PluginObject for Adapter<P> {
    fn handle_command(&mut self, host: HostRef<'_>, command: &FfiCommand) -> RResult<(), FfiError> {
        let host = host.sabi_reborrow();
        let ctx = Context::new(host, &self.config, &self.name);
        let plugin = &mut self.plugin;
        guard(|| plugin.on_command(&ctx, &Command::new(command)))
    }

    fn handle_event(&mut self, host: HostRef<'_>, event: &FfiEvent) -> RResult<(), FfiError> {
        let host = host.sabi_reborrow();
        let ctx = Context::new(host, &self.config, &self.name);
        let plugin = &mut self.plugin;
        guard(|| plugin.on_event(&ctx, &Event::new(event)))
    }

    fn unload(&mut self, host: HostRef<'_>) -> RResult<RVec<u8>, FfiError> {
        let host = host.sabi_reborrow();
        let ctx = Context::new(host, &self.config, &self.name);
        let plugin = &mut self.plugin;
        guard(|| plugin.unload(&ctx).map(RVec::from))
    }
}

/// Runs `f`, turning an error or a panic into an [`FfiError`].
fn guard<T>(f: impl FnOnce() -> PluginResult<T>) -> RResult<T, FfiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => ROk(value),
        Ok(Err(err)) => RErr(FfiError {
            kind: FfiErrorKind::Failed,
            message: RString::from(err.message()),
        }),
        Err(payload) => {
            let message = if let Some(text) = payload.downcast_ref::<&str>() {
                (*text).to_owned()
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
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
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}
