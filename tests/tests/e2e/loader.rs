//! The plugin loader (`rosey_abi::loader`) called in process, as an embedder's own plugin host
//! calls it: a missing file, a file that is no shared library, a shared library that exports no
//! plugin, a plugin built against another ABI, and a real plugin with its C hooks.
//!
//! `abi_stable` keeps the first library a process opens for the life of the process (a later
//! load answers with that one), so each case that opens a library runs in a child process of its
//! own: the test binary itself, started again with only that test selected.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use rosey_abi::{
    loader::{hooks, load_plugin_library, LoadError},
    ABI_VERSION, SDK_VERSION,
};
use rosey_e2e::cli::{read_zip, TempHome};

/// Set in the child process to the name of the one test it runs.
const CASE_ENV: &str = "ROSEY_LOADER_CASE";

/// Whether this process is the child started for test `case`. If it is not, runs the test
/// binary again with only `case` selected and `CASE_ENV` set, fails unless it passes, and
/// returns false: the caller's work then happens in the child.
fn in_own_process(case: &str) -> bool {
    if std::env::var(CASE_ENV).as_deref() == Ok(case) {
        return true;
    }
    let exe = std::env::current_exe().expect("test binary path");
    // The test's full name in this binary: its module path without the crate's name.
    let module = module_path!()
        .split_once("::")
        .map_or("", |(_, module)| module);
    let name = if module.is_empty() {
        case.to_owned()
    } else {
        format!("{module}::{case}")
    };
    let output = Command::new(exe)
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE_ENV, case)
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{case} failed in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test named {case}:\n{stdout}"
    );
    false
}

/// The shared library inside the archive `rosey plugin pack` makes of `plugins/<crate_dir>`,
/// written to the home's scratch folder.
fn packed_library(home: &TempHome, crate_dir: &str) -> PathBuf {
    let archive = home.pack(crate_dir);
    let (name, bytes) = read_zip(&archive)
        .into_iter()
        .find(|(name, _)| name.ends_with(".so"))
        .expect("a library in the archive");
    let path = home.scratch().join(name);
    std::fs::write(&path, bytes).expect("write the library");
    path
}

/// Why `path` does not load, failing the test with `why_not` when it does.
fn load_error(path: &Path, why_not: &str) -> LoadError {
    match load_plugin_library(path) {
        Ok(_) => panic!("{} loaded, but {why_not}", path.display()),
        Err(error) => error,
    }
}

/// The C library this process runs with: a shared library that is certainly no plugin.
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("libc.so"))
        })
        .map(PathBuf::from)
        .expect("libc among this process's mappings")
}

#[test]
fn a_missing_file_or_a_file_that_is_no_library_cannot_be_opened() {
    // Opening fails before abi_stable keeps anything, so both fit in one process.
    let home = TempHome::new();
    let missing = home.scratch().join("libnothing.so");
    let error = load_error(&missing, "a missing file does not load");
    assert!(matches!(error, LoadError::Open { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot open the plugin library: ") && message.contains("libnothing"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    let text = home.scratch().join("libtext.so");
    std::fs::write(&text, "not an ELF file\n").expect("write");
    let error = load_error(&text, "a text file does not load");
    assert!(matches!(error, LoadError::Open { .. }), "{error:?}");
    assert!(error.report().contains("libtext.so"), "{}", error.report());

    let found = hooks(&missing);
    assert!(found.sender_rank.is_none() && found.services.is_none());
}

#[test]
fn a_shared_library_without_a_plugin_is_not_a_plugin() {
    if !in_own_process("a_shared_library_without_a_plugin_is_not_a_plugin") {
        return;
    }
    let libc = libc_path();
    let error = load_error(&libc, "libc is no plugin");
    assert!(matches!(error, LoadError::NotAPlugin { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "the library is not a rosey plugin (was it built with rosey_abi::export_plugin!?): "
        ),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    let found = hooks(&libc);
    assert!(
        found.sender_rank.is_none() && found.services.is_none(),
        "libc has no rosey hooks"
    );
}

#[test]
fn a_library_built_against_another_abi_names_both_versions() {
    if !in_own_process("a_library_built_against_another_abi_names_both_versions") {
        return;
    }
    let home = TempHome::new();
    let library = packed_library(&home, "fixtures/abi-mismatch");
    let error = load_error(&library, "another ABI does not load");
    let LoadError::AbiMismatch {
        library_abi,
        library_sdk,
        ..
    } = &error
    else {
        panic!("not an ABI mismatch: {error:?}");
    };
    assert_eq!(*library_abi, Some(999));
    assert_eq!(library_sdk.as_deref(), Some("9.9.9"));
    let message = error.to_string();
    assert_eq!(
        message,
        format!(
            "plugin ABI mismatch: the library was built against rosey ABI v999 (rosey-abi 9.9.9), \
             this host speaks rosey ABI v{ABI_VERSION} (rosey-abi {SDK_VERSION}); \
             rebuild the plugin against rosey-abi {SDK_VERSION}"
        )
    );
    assert!(
        !error.report().is_empty() && error.report() != message,
        "abi_stable's own report is kept for the log: {}",
        error.report()
    );
}

#[test]
fn a_real_plugin_loads_with_its_versions_and_hooks() {
    if !in_own_process("a_real_plugin_loads_with_its_versions_and_hooks") {
        return;
    }
    let home = TempHome::new();
    let library = packed_library(&home, "dice-roller");
    let module = load_plugin_library(&library).expect("dice-roller loads");
    assert_eq!(module.abi_version(), ABI_VERSION);
    assert_eq!(module.sdk_version().as_str(), SDK_VERSION);
    let found = hooks(&library);
    assert!(
        found.sender_rank.is_some() && found.services.is_some(),
        "a plugin built with this SDK has both hooks: {found:?}"
    );
    // The hooks are callable: telling the library the next sender's rank is harmless.
    if let Some(sender_rank) = found.sender_rank {
        sender_rank(true, 2);
    }
}
