//! `rosey plugin-host`: the process that runs one plugin.
//!
//! `check` loads a library and checks its ABI, then exits: install uses it so that a library
//! that crashes on load takes down a throwaway process, never the CLI. `run` loads an installed
//! plugin version, connects to NATS and serves the plugin's durable consumer until SIGTERM.
//! Exit codes are in [`rosey_core::exit_codes`].

mod attempts;
mod log;
mod output;
mod plugin_thread;
mod pull;
mod serve;
mod tasks;

use std::{
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use clap::{Args, Subcommand, ValueEnum};
use rosey_abi::{loader::load_plugin_library, LogLevel};
use rosey_core::{
    exit_codes, manifest::Manifest, messaging, paths::Home, plugin_config::PluginConfig,
};

use self::{
    log::HostLog,
    plugin_thread::{PluginSetup, Shared, StartError},
};

/// Arguments of `rosey plugin-host`.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(subcommand)]
    mode: HostMode,
}

#[derive(Debug, Subcommand)]
enum HostMode {
    /// Load a plugin library, check its ABI, print what it reports, and exit.
    Check {
        /// Absolute path of the library.
        #[arg(long)]
        library: PathBuf,
    },
    /// Run an installed plugin version until SIGTERM.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The installed plugin's name.
    #[arg(long)]
    name: String,
    /// The installed version to run (`--version` is taken by clap for rosey's own version).
    #[arg(long, value_name = "VERSION")]
    plugin_version: String,
    /// NATS server URL.
    #[arg(long, env = "ROSEY_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Milliseconds between heartbeats.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// Hosts that may die handling one message before it is moved to the dead-letter stream.
    #[arg(long, default_value_t = 2)]
    max_attempts: u32,
    /// How long NATS may stay unreachable before the host gives up, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    nats_timeout_ms: u64,
    /// Lowest level written to the plugin's log.
    #[arg(long, value_enum, default_value_t = Level::Info)]
    log_level: Level,
    /// Log file (default: logs/plugins/<name>.log in the home).
    #[arg(long, conflicts_with = "log_stderr")]
    log_file: Option<PathBuf>,
    /// Write log lines to stderr instead of a file (the daemon pipes them into its logs).
    #[arg(long)]
    log_stderr: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Runs the host; the exit code tells the supervisor how it ended.
pub fn main(home: &Home, args: HostArgs) -> ExitCode {
    let code = match args.mode {
        HostMode::Check { library } => check(&library),
        HostMode::Run(run_args) => run(home, run_args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn check(library: &std::path::Path) -> i32 {
    if !library.is_absolute() {
        eprintln!(
            "plugin-host check: --library must be an absolute path, got {}",
            library.display()
        );
        return exit_codes::USAGE;
    }
    match load_plugin_library(library) {
        Ok(module) => {
            println!(
                "{}",
                serde_json::json!({
                    "abi": module.abi_version(),
                    "sdk": module.sdk_version().as_str(),
                })
            );
            exit_codes::CLEAN
        }
        Err(err) => {
            eprintln!("{err}");
            exit_codes::LOAD_FAILED
        }
    }
}

fn run(home: &Home, args: RunArgs) -> i32 {
    let level = match args.log_level {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    };
    let log_path = args
        .log_file
        .clone()
        .unwrap_or_else(|| home.plugin_log(&args.name));
    let log = HostLog::open(
        (!args.log_stderr).then_some(log_path.as_path()),
        &args.name,
        level,
    );
    let fail = |code: i32, message: String| {
        log.host(LogLevel::Error, &message);
        log.echo(&message);
        code
    };

    let version_dir = home.plugin_version_dir(&args.name, &args.plugin_version);
    let manifest = match Manifest::load(&version_dir.join("manifest.yaml")) {
        Ok(manifest) => manifest,
        Err(err) => {
            return fail(
                exit_codes::LOAD_FAILED,
                format!("{} v{}: {err}", args.name, args.plugin_version),
            )
        }
    };
    if manifest.name != args.name {
        return fail(
            exit_codes::LOAD_FAILED,
            format!(
                "{} holds plugin {:?}, not {:?}",
                version_dir.display(),
                manifest.name,
                args.name
            ),
        );
    }
    if let Err(err) = limit_memory(manifest.limits.memory_mb) {
        log.host(
            LogLevel::Warn,
            &format!("cannot apply the memory limit: {err}"),
        );
    }
    let library = version_dir.join(&manifest.library);
    let module = match load_plugin_library(&library) {
        Ok(module) => module,
        Err(err) => {
            log.host(
                LogLevel::Debug,
                &format!("loader report for {}:\n{}", library.display(), err.report()),
            );
            return fail(
                exit_codes::LOAD_FAILED,
                format!("{}: {err}", library.display()),
            );
        }
    };
    let config = match PluginConfig::load(&home.plugin_config_file(&args.name)) {
        Ok(config) => config,
        Err(err) => return fail(exit_codes::LOAD_FAILED, err.to_string()),
    };
    let storage_dir = home.plugin_storage_dir(&args.name);
    if let Err(err) = std::fs::create_dir_all(&storage_dir) {
        return fail(
            exit_codes::STORAGE_FAILED,
            format!("cannot create {}: {err}", storage_dir.display()),
        );
    }
    let attempts = match attempts::Attempts::open(home, &args.name) {
        Ok(attempts) => attempts,
        Err(err) => {
            return fail(
                exit_codes::STORAGE_FAILED,
                format!("cannot open the in-flight record of {}: {err}", args.name),
            )
        }
    };
    if let Some(seq) = attempts.died_on {
        log.host(
            LogLevel::Warn,
            &format!(
                "the previous instance died handling message {seq}; it has now failed {} time(s)",
                attempts.count(seq)
            ),
        );
    }
    let handoff = home.plugin_handoff_file(&args.name);
    let state = match std::fs::read(&handoff) {
        Ok(state) => {
            log.host(
                LogLevel::Info,
                &format!("starting with {} bytes of handed-over state", state.len()),
            );
            Some(state)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => {
            return fail(
                exit_codes::LOAD_FAILED,
                format!("cannot read {}: {err}", handoff.display()),
            )
        }
    };

    let (outgoing_tx, outgoing_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Shared {
        busy: Arc::new(Mutex::new(None)),
    };
    let work = match plugin_thread::start(PluginSetup {
        name: args.name.clone(),
        module,
        config,
        storage_dir,
        state,
        log: log.clone(),
        outgoing: outgoing_tx,
        shared: shared.clone(),
    }) {
        Ok(work) => work,
        Err(StartError::Storage(err)) => return fail(exit_codes::STORAGE_FAILED, err),
        Err(StartError::LoadPanicked(panic)) => {
            return fail(
                exit_codes::LOAD_FAILED,
                format!("{} panicked in load: {panic}", args.name),
            )
        }
        Err(StartError::LoadFailed(err)) => {
            return fail(
                exit_codes::LOAD_FAILED,
                format!("{} failed to load: {err}", args.name),
            )
        }
    };
    log.host(
        LogLevel::Info,
        &format!(
            "loaded {} v{} (pid {})",
            args.name,
            args.plugin_version,
            std::process::id()
        ),
    );

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(
                exit_codes::USAGE,
                format!("cannot start the async runtime: {err}"),
            )
        }
    };
    let serve = serve::Serve {
        home: home.clone(),
        name: args.name,
        version: args.plugin_version,
        nats_url: args.nats,
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(10)),
        nats_timeout: Duration::from_millis(args.nats_timeout_ms),
        filter_subjects: messaging::consumer_filter_subjects(&manifest.commands, &manifest.events),
        max_attempts: args.max_attempts.max(1),
        attempts,
        log,
        work,
        outgoing: outgoing_rx,
        shared,
    };
    runtime.block_on(serve.run())
}

/// Caps the host's writable private memory (RLIMIT_DATA) so a plugin that allocates without
/// bound fails its allocation (and aborts) instead of dragging the machine into swap.
fn limit_memory(megabytes: u64) -> std::io::Result<()> {
    if megabytes == 0 {
        return Ok(());
    }
    let bytes = megabytes.saturating_mul(1024 * 1024) as libc::rlim_t;
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
