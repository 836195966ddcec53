//! The host's life: say hello, open the library, start the plugin, handle one message at a
//! time, unload when told, exit. Every step answers on the channel; every failure is one line
//! and an exit code ([`crate::exit_codes`]).
//!
//! The plugin runs on the main thread, which reads the next frame only after the last one's
//! `Done` is written: there is never more than one message in the host, and the actor knows
//! which. A heartbeat thread writes `Heartbeat` every period from `Start` on.

mod channel;
mod plugin;
mod services;

use std::{
    io::BufReader,
    os::{fd::FromRawFd, unix::net::UnixStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use rosey_abi::loader::load_plugin_library;

use self::channel::Channel;
use crate::{
    exit_codes, sandbox,
    wire::{read_frame, FromHost, Level, Outcome, ToHost, HOST_FD, PROTOCOL, SERVICE_FD},
};

/// Loads a library, checks its ABI, prints `{"abi":…,"sdk":…}` and returns the exit code:
/// `rosey plugin install` runs this in a throwaway process, so a library that crashes on load
/// never takes the CLI down; the process is sandboxed like a host (the library's folder
/// read-only, no storage, no network) before the library is loaded.
pub fn check(library: &Path) -> i32 {
    if !library.is_absolute() {
        eprintln!(
            "plugin-host check: --library must be an absolute path, got {}",
            library.display()
        );
        return exit_codes::USAGE;
    }
    // The library's constructors are untrusted code, even at install: they run sandboxed.
    if let Err(err) = sandbox::apply(&sandbox::for_check(library)) {
        eprintln!("plugin-host check: {err}");
        return exit_codes::STORAGE_FAILED;
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

/// Serves the channel at [`HOST_FD`] until told to unload or the channel closes; returns the
/// exit code.
pub fn serve() -> i32 {
    // SAFETY: the daemon hands every host its end of the channel at HOST_FD; nothing else in
    // this process owns that descriptor.
    let stream = unsafe { UnixStream::from_raw_fd(HOST_FD) };
    // Anything the plugin starts must not inherit the channel (it would keep it open after
    // this host died, and could speak on it).
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe {
        libc::fcntl(HOST_FD, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(err) => {
            eprintln!("rosey-plugin-host: no channel at fd {HOST_FD}: {err}");
            return exit_codes::USAGE;
        }
    };
    let channel = Channel::new(writer);
    let service = service_channel();
    let mut reader = BufReader::new(stream);
    if !channel.send(&FromHost::Hello {
        protocol: PROTOCOL,
        pid: std::process::id(),
    }) {
        return exit_codes::CHANNEL_LOST;
    }
    let mut next = || -> Result<Option<ToHost>, i32> {
        match read_frame(&mut reader) {
            Ok(None) => Ok(None),
            Ok(Some(body)) => ToHost::decode(&body).map(Some).map_err(|err| {
                eprintln!("rosey-plugin-host: {err}");
                exit_codes::USAGE
            }),
            Err(_) => Err(exit_codes::CHANNEL_LOST),
        }
    };
    let fail = |code: i32, message: String| {
        channel.send(&FromHost::Failed { code, message });
        code
    };

    // A spare waits here; a channel closed now just means "not needed".
    let open = match next() {
        Ok(Some(ToHost::Open(open))) => open,
        Ok(None) => return exit_codes::CLEAN,
        Ok(Some(_)) => return fail(exit_codes::USAGE, "expected Open".to_owned()),
        Err(code) => return code,
    };
    channel.set_min_level(open.log_level);
    // Read by the plugin's panic hook: a backtrace only when its DEBUG line would be kept.
    // Still one thread here (the heartbeat thread starts after `Started`), so nothing reads the
    // environment while it changes.
    if open.log_level == Level::Debug {
        std::env::set_var(rosey_abi::BACKTRACE_ENV, "1");
    } else {
        std::env::remove_var(rosey_abi::BACKTRACE_ENV);
    }
    // The sandbox goes up before the library is opened: its constructors are plugin code.
    let policy = sandbox::Policy {
        version_dir: PathBuf::from(&open.version_dir),
        storage_dir: Some(PathBuf::from(&open.storage_dir)),
        network: open.network.clone(),
        memory_mb: open.memory_mb,
        open_files: open.open_files,
    };
    let sandbox_gaps = match sandbox::apply(&policy) {
        Ok(gaps) => gaps,
        Err(err) => return fail(exit_codes::STORAGE_FAILED, err.to_string()),
    };
    if let Some(reason) = refusal(open.sandbox_required, &sandbox_gaps) {
        return fail(exit_codes::SANDBOX_INCOMPLETE, reason);
    }
    let module = match load_plugin_library(Path::new(&open.library)) {
        Ok(module) => module,
        Err(err) => {
            channel.host_log(
                Level::Debug,
                &format!("loader report for {}:\n{}", open.library, err.report()),
            );
            return fail(exit_codes::LOAD_FAILED, format!("{}: {err}", open.library));
        }
    };
    // Everything `Start` needs that does not depend on it is done here: a standby host is
    // opened ahead of a reload, so this is off the reload's path.
    let library = Path::new(&open.library);
    let (services, table) = services::Services::install(channel.clone(), service);
    let found = rosey_abi::loader::hooks(library);
    let hooks = plugin::Hooks {
        sender_rank: found.sender_rank,
        services: found.services.map(|hook| (hook, table)),
    };
    // A library that takes the services table knows the reserved events (timers, config).
    let knows_live_config = hooks.services.is_some();
    if !channel.send(&FromHost::Opened { sandbox_gaps }) {
        return exit_codes::CHANNEL_LOST;
    }

    let start = match next() {
        Ok(Some(ToHost::Start(start))) => start,
        Ok(None) => return exit_codes::CLEAN,
        Ok(Some(_)) => return fail(exit_codes::USAGE, "expected Start".to_owned()),
        Err(code) => return code,
    };
    let heartbeat = Duration::from_millis(u64::from(start.heartbeat_ms.max(10)));
    let mut loaded = match plugin::start(module, hooks, start, channel.clone()) {
        Ok(loaded) => loaded,
        Err(plugin::StartError::Storage(err)) => return fail(exit_codes::STORAGE_FAILED, err),
        Err(plugin::StartError::Load(err)) => {
            services.close();
            return fail(exit_codes::LOAD_FAILED, err);
        }
    };
    if !channel.send(&FromHost::Started) {
        return exit_codes::CHANNEL_LOST;
    }
    // After `Started`: the thread's creation is not on the way to the first message.
    let handled = Arc::new(AtomicU64::new(0));
    spawn_heartbeats(channel.clone(), heartbeat, handled.clone());

    loop {
        let (seq, (outcome, backtrace)) = match next() {
            Ok(Some(ToHost::Command(command))) => (command.seq, loaded.command(&command)),
            Ok(Some(ToHost::Event(event))) => (event.seq, loaded.event(&event)),
            Ok(Some(ToHost::Timer {
                seq,
                name,
                id,
                due_ms,
            })) => {
                let outcome = if services.fire(&name, id) {
                    loaded.timer(&name, due_ms)
                } else {
                    // Replaced or cancelled while this firing was on its way.
                    (Outcome::Ok, None)
                };
                (seq, outcome)
            }
            Ok(Some(ToHost::Config { seq, json, flat })) => {
                let outcome = if knows_live_config {
                    loaded.configure(&json, &flat)
                } else {
                    (Outcome::NotHandled, None)
                };
                (seq, outcome)
            }
            Ok(Some(ToHost::Unload)) => {
                let unloaded = loaded.unload();
                services.close();
                return match unloaded {
                    Ok(state) => {
                        if !channel.send(&FromHost::Unloaded { state }) {
                            return exit_codes::CHANNEL_LOST;
                        }
                        // The process ends when the daemon lets go of the channel, not now:
                        // a reload lets go a few milliseconds after the unload, by when the
                        // next instance has usually started, so the kernel's work of ending
                        // this process does not take a CPU from that start.
                        while let Ok(Some(_)) = next() {}
                        exit_codes::CLEAN
                    }
                    Err(err) => fail(exit_codes::UNLOAD_FAILED, err),
                };
            }
            Ok(Some(_)) => return fail(exit_codes::USAGE, "unexpected frame".to_owned()),
            // The daemon dropped this host without an unload: it is being replaced or killed.
            Ok(None) => return exit_codes::CHANNEL_LOST,
            Err(code) => return code,
        };
        handled.fetch_add(1, Ordering::Relaxed);
        let panicked = matches!(outcome, Outcome::Panicked(_));
        if !channel.send(&FromHost::Done { seq, outcome }) {
            return exit_codes::CHANNEL_LOST;
        }
        if panicked {
            // After the failure, so the log reads: what failed, then where it came from.
            if let Some(backtrace) = backtrace {
                channel.plugin_log(Level::Debug, &backtrace);
            }
            return exit_codes::PLUGIN_PANICKED;
        }
    }
}

/// The host's end of the service channel at [`SERVICE_FD`], if the daemon gave it one.
fn service_channel() -> Option<UnixStream> {
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { libc::fcntl(SERVICE_FD, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: as for the channel: the daemon hands every host this descriptor and nothing
    // else in the process owns it; the plugin must not inherit it.
    unsafe {
        libc::fcntl(SERVICE_FD, libc::F_SETFD, libc::FD_CLOEXEC);
        Some(UnixStream::from_raw_fd(SERVICE_FD))
    }
}

fn spawn_heartbeats(channel: Channel, every: Duration, handled: Arc<AtomicU64>) {
    let spawned = std::thread::Builder::new()
        .name("heartbeat".to_owned())
        .spawn(move || loop {
            std::thread::sleep(every);
            let beat = FromHost::Heartbeat {
                handled: handled.load(Ordering::Relaxed),
            };
            if !channel.send(&beat) {
                return;
            }
        });
    if let Err(err) = spawned {
        // Without heartbeats the actor will count this host as hung and replace it.
        eprintln!("rosey-plugin-host: cannot start the heartbeat thread: {err}");
    }
}

/// Why a host must not load the library: the sandbox is partial and the operator required it
/// whole (`None`: go ahead).
fn refusal(required: bool, gaps: &[String]) -> Option<String> {
    (required && !gaps.is_empty()).then(|| {
        format!(
            "the sandbox is partial on this kernel ({}) and rosey.yaml sets plugin_host.sandbox: required; the library was not loaded (set plugin_host.sandbox: best_effort to run it anyway)",
            gaps.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn only_a_partial_sandbox_under_required_is_refused_and_the_reason_names_the_setting() {
        let gaps = vec!["Landlock ABI 3: no TCP rules".to_owned()];
        assert_eq!(refusal(true, &[]), None);
        assert_eq!(refusal(false, &gaps), None);
        let reason = refusal(true, &gaps).expect("refused");
        assert!(reason.contains("plugin_host.sandbox: required"), "{reason}");
        assert!(reason.contains("Landlock ABI 3: no TCP rules"), "{reason}");
    }
}
