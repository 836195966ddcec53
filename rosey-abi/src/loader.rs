//! Host side of the ABI: opening a plugin library and checking it speaks our ABI.
//!
//! `abi_stable` compares the full type layout of the root module and, on a mismatch, produces a
//! report many screens long. Operators get one line instead, naming the ABI and SDK versions the
//! library was built with (read from plain C symbols that work whatever the layout) and the ones
//! this host speaks; the long report is kept for the log.

use std::{ffi::CStr, fmt, os::raw::c_char, path::Path};

use abi_stable::library::{LibraryError, RawLibrary, RootModule};

use crate::{
    ffi::PluginModuleRef, ABI_VERSION, ABI_VERSION_SYMBOL, SDK_VERSION, SDK_VERSION_SYMBOL,
};

/// Why a plugin library could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The dynamic loader could not open the file (missing, not a shared library, wrong arch).
    Open {
        /// The loader's own explanation.
        reason: String,
    },
    /// The file is a shared library but does not export a rosey plugin.
    NotAPlugin {
        /// `abi_stable`'s explanation.
        reason: String,
    },
    /// The library was built against an incompatible `rosey-abi`.
    AbiMismatch {
        /// The ABI version the library reports, when it reports one.
        library_abi: Option<u32>,
        /// The `rosey-abi` crate version the library reports, when it reports one.
        library_sdk: Option<String>,
        /// `abi_stable`'s full report, for the log.
        report: String,
    },
}

impl LoadError {
    /// The detailed report behind the one-line message (the same text for most errors).
    pub fn report(&self) -> &str {
        match self {
            LoadError::Open { reason } | LoadError::NotAPlugin { reason } => reason,
            LoadError::AbiMismatch { report, .. } => report,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Open { reason } => {
                write!(f, "cannot open the plugin library: {}", first_line(reason))
            }
            LoadError::NotAPlugin { reason } => write!(
                f,
                "the library is not a rosey plugin (was it built with rosey_abi::export_plugin!?): {}",
                first_line(reason)
            ),
            LoadError::AbiMismatch {
                library_abi,
                library_sdk,
                ..
            } => {
                let abi = library_abi.map_or_else(|| "an unknown ABI".to_owned(), |v| format!("ABI v{v}"));
                let sdk = library_sdk.as_deref().unwrap_or("unknown");
                write!(
                    f,
                    "plugin ABI mismatch: the library was built against rosey {abi} (rosey-abi {sdk}), \
                     this host speaks rosey ABI v{ABI_VERSION} (rosey-abi {SDK_VERSION}); \
                     rebuild the plugin against rosey-abi {SDK_VERSION}"
                )
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// The first line of a multi-line report that says something (reports often start blank).
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("no reason given")
}

/// Loads the plugin library at `path` (absolute) and checks its ABI.
///
/// `abi_stable` never unloads a library and caches the first root module it loads, so a process
/// loads exactly one plugin library in its life: a new version always runs in a new process.
pub fn load_plugin_library(path: &Path) -> Result<PluginModuleRef, LoadError> {
    match PluginModuleRef::load_from_file(path) {
        Ok(module) => {
            let library_abi = module.abi_version();
            if library_abi == ABI_VERSION {
                Ok(module)
            } else {
                Err(LoadError::AbiMismatch {
                    library_abi: Some(library_abi),
                    library_sdk: Some(module.sdk_version().as_str().to_owned()),
                    report: format!(
                        "root module reports ABI v{library_abi}, host speaks v{ABI_VERSION}"
                    ),
                })
            }
        }
        Err(LibraryError::OpenError { err, .. }) => Err(LoadError::Open {
            reason: err.to_string(),
        }),
        Err(err @ LibraryError::GetSymbolError { .. }) => Err(LoadError::NotAPlugin {
            reason: err.to_string(),
        }),
        Err(err) => {
            let (library_abi, library_sdk) = probe_versions(path);
            Err(LoadError::AbiMismatch {
                library_abi,
                library_sdk,
                report: err.to_string(),
            })
        }
    }
}

/// Reads the plain C version symbols `export_plugin!` emits; `None` where a symbol is absent.
fn probe_versions(path: &Path) -> (Option<u32>, Option<String>) {
    let Ok(library) = RawLibrary::load_at(path) else {
        return (None, None);
    };
    // SAFETY: the symbols are declared by `export_plugin!` with exactly these signatures; a
    // library that defines them otherwise is not one we can help anyway. The library is leaked
    // (never unloaded), so the returned string stays valid.
    unsafe {
        let abi = library
            .get::<extern "C" fn() -> u32>(&symbol_name(ABI_VERSION_SYMBOL))
            .ok()
            .map(|function| function());
        let sdk = library
            .get::<extern "C" fn() -> *const c_char>(&symbol_name(SDK_VERSION_SYMBOL))
            .ok()
            .map(|function| function())
            .filter(|ptr| !ptr.is_null())
            .map(|ptr| CStr::from_ptr(ptr).to_string_lossy().into_owned());
        std::mem::forget(library);
        (abi, sdk)
    }
}

/// How the host tells the library the sender's rank of the next message: the library's
/// [`crate::SENDER_RANK_SYMBOL`], when it has one (a plugin built before it existed does not).
pub type SenderRankHook = extern "C" fn(known: bool, rank: i64);

/// How the host hands the library its services table: the library's
/// [`crate::SERVICES_SYMBOL`], when it has one.
pub type ServicesHook = unsafe extern "C" fn(table: *const crate::services::HostServices);

/// The plain C hooks outside the checked layout that a library has (each `None` when it was
/// built before the hook existed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Hooks {
    /// See [`SenderRankHook`].
    pub sender_rank: Option<SenderRankHook>,
    /// See [`ServicesHook`].
    pub services: Option<ServicesHook>,
}

/// The hooks of the already-loaded library at `path`, looked up with one handle on it (opening
/// a library costs the dynamic loader a search, even when the library is loaded).
pub fn hooks(path: &Path) -> Hooks {
    let Ok(library) = RawLibrary::load_at(path) else {
        return Hooks::default();
    };
    // SAFETY: `export_plugin!` declares each symbol with exactly these signatures, and the
    // names are versioned: a later signature gets a new name. The library is leaked (never
    // unloaded), so the function pointers stay valid for the life of the process.
    let found = unsafe {
        Hooks {
            sender_rank: library
                .get::<SenderRankHook>(&symbol_name(crate::SENDER_RANK_SYMBOL))
                .ok()
                .map(|symbol| *symbol),
            services: library
                .get::<ServicesHook>(&symbol_name(crate::SERVICES_SYMBOL))
                .ok()
                .map(|symbol| *symbol),
        }
    };
    std::mem::forget(library);
    found
}

/// `name` NUL-terminated, as the dynamic loader wants it.
fn symbol_name(name: &str) -> Vec<u8> {
    let mut bytes = name.as_bytes().to_vec();
    bytes.push(0);
    bytes
}
