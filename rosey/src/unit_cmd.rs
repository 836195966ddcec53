//! `rosey service install|remove`: a systemd unit that starts a home's bot at boot and brings
//! it back when the daemon dies, the way `pm2 startup` or a distribution's own unit would.
//!
//! The unit runs `rosey start --foreground` as a `Type=notify` service: the daemon tells
//! systemd when the stack is up and pings its watchdog while the tree lives (`daemon::systemd`),
//! `Restart=on-failure` brings it back after a crash, a kill or a wedge, and `ExecStop` is
//! `rosey stop` (graceful: each plugin finishes its message and hands its state over). One
//! unit per home, named after the home's folder (`rosey-<folder>.service`, or `--name`). With
//! `--user` it is the user's own unit (`~/.config/systemd/user`, no root needed; it starts at
//! boot once `loginctl enable-linger` is on); without, a system unit in `/etc/systemd/system`
//! that runs as the home's owner (root needed to write it). After writing it, install runs
//! `systemctl daemon-reload` and `enable` (`$ROSEY_SYSTEMCTL` names another program for
//! that); where systemctl cannot, it says what to run.

use std::{
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use rosey_core::paths::Home;

/// `rosey service …`.
#[derive(Debug, clap::Subcommand)]
pub enum UnitCommand {
    /// Write a systemd unit that starts this home's bot at boot and restarts it when it dies.
    Install {
        /// The user's own unit (~/.config/systemd/user), no root needed.
        #[arg(long)]
        user: bool,
        /// Print the unit instead of writing it.
        #[arg(long)]
        print: bool,
        /// The unit's name (default: rosey-<the home's folder name>).
        #[arg(long)]
        name: Option<String>,
        /// The home is a plugin node's: the unit runs `rosey node start`'s daemon.
        #[arg(long)]
        node: bool,
    },
    /// Disable the unit `install` wrote and remove it.
    Remove {
        /// The user's own unit.
        #[arg(long)]
        user: bool,
        /// The unit's name (default: rosey-<the home's folder name>).
        #[arg(long)]
        name: Option<String>,
    },
}

/// `rosey service …`.
pub fn run(home: &Home, command: UnitCommand) -> ExitCode {
    let result = match command {
        UnitCommand::Install {
            user,
            print,
            name,
            node,
        } => install(home, user, print, name, node),
        UnitCommand::Remove { user, name } => remove(home, user, name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("✗ {message}");
            ExitCode::FAILURE
        }
    }
}

/// The home as an absolute path (a unit has no current directory to be relative to).
fn absolute_home(home: &Home) -> Result<PathBuf, String> {
    std::fs::canonicalize(home.root()).map_err(|err| {
        format!(
            "{} is not a rosey home here: {err}; run `rosey init` there first, or pass --home",
            home.root().display()
        )
    })
}

/// The unit's name: `name`, or `rosey-<folder>` with the folder name made safe.
fn unit_name(home: &Path, name: Option<String>) -> Result<String, String> {
    let stem = match name {
        Some(name) => name,
        None => {
            let folder = home
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| "home".to_owned());
            let safe: String = folder
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("rosey-{safe}")
        }
    };
    let stem = stem.strip_suffix(".service").unwrap_or(&stem).to_owned();
    let valid = !stem.is_empty()
        && stem.len() <= 200
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(format!("{stem}.service"))
    } else {
        Err(format!(
            "{stem:?} cannot name a systemd unit: use letters, digits, -, _, . and :"
        ))
    }
}

/// Where the unit goes: the user's unit folder, or the system's.
fn unit_dir(user: bool) -> Result<PathBuf, String> {
    if !user {
        return Ok(PathBuf::from("/etc/systemd/system"));
    }
    match std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        Some(config) => Ok(PathBuf::from(config).join("systemd/user")),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".config/systemd/user"))
            .ok_or_else(|| {
                "neither XDG_CONFIG_HOME nor HOME is set: cannot find your systemd unit folder"
                    .to_owned()
            }),
    }
}

/// `arg` as one word of a unit's command line: quoted when it holds what systemd would
/// split or expand, `%` doubled (systemd's specifiers).
fn unit_word(arg: &str) -> String {
    let escaped = arg.replace('%', "%%");
    if escaped
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.,:+=@".contains(c))
    {
        escaped
    } else {
        format!(
            "\"{}\"",
            escaped
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "$$")
        )
    }
}

/// The unit for the home at `home` (absolute), run by the `rosey` at `exe` (as a plugin node's
/// daemon when `node`).
pub fn unit_text(exe: &Path, home: &Path, user: bool, owner: Option<&str>, node: bool) -> String {
    let rosey = |args: &str| {
        format!(
            "{} --home {} {args}",
            unit_word(&exe.to_string_lossy()),
            unit_word(&home.to_string_lossy())
        )
    };
    let mut text = format!(
        "# Written by `rosey service install` for the rosey home {home}.\n\
         # Remove it with: rosey --home {home} service remove{flag}\n\
         [Unit]\n\
         Description=rosey {what} in {home}\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=main\n\
         ExecStart={start}\n\
         ExecStop={stop}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         WatchdogSec=30\n\
         TimeoutStartSec=180\n\
         TimeoutStopSec=120\n\
         WorkingDirectory={dir}\n",
        home = home.display().to_string().replace('%', "%%"),
        flag = if user { " --user" } else { "" },
        what = if node { "plugin node" } else { "chat bot" },
        start = rosey(if node {
            "node start --foreground"
        } else {
            "start --foreground"
        }),
        stop = rosey("stop"),
        // Taken as it is written (no quoting), with specifiers expanded.
        dir = home.to_string_lossy().replace('%', "%%"),
    );
    if let Some(owner) = owner {
        text.push_str(&format!("User={owner}\n"));
    }
    text.push_str(&format!(
        "\n[Install]\nWantedBy={}\n",
        if user {
            "default.target"
        } else {
            "multi-user.target"
        }
    ));
    text
}

/// The user name owning `home`, for a system unit (none when it is root's).
fn owner_of(home: &Path) -> Result<Option<String>, String> {
    let uid = std::fs::metadata(home)
        .map_err(|err| format!("cannot read {}: {err}", home.display()))?
        .uid();
    if uid == 0 {
        return Ok(None);
    }
    // SAFETY: getpwuid returns a pointer into static storage (or null); it is read at once,
    // before any other call could reuse it, on this one thread.
    let name = unsafe {
        let entry = libc::getpwuid(uid);
        if entry.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*entry).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    name.map(Some).ok_or_else(|| {
        format!(
            "{} belongs to uid {uid}, which has no user name",
            home.display()
        )
    })
}

/// Runs `systemctl [--user] <args>`; `Err` says what failed.
fn systemctl(user: bool, args: &[&str]) -> Result<(), String> {
    let program = std::env::var_os("ROSEY_SYSTEMCTL").unwrap_or_else(|| "systemctl".into());
    let mut command = Command::new(&program);
    if user {
        command.arg("--user");
    }
    let output = command
        .args(args)
        .output()
        .map_err(|err| format!("cannot run {}: {err}", program.to_string_lossy()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// The `systemctl` line an operator types, for the messages.
fn typed(user: bool, args: &str) -> String {
    format!("systemctl{} {args}", if user { " --user" } else { "" })
}

fn install(
    home: &Home,
    user: bool,
    print: bool,
    name: Option<String>,
    node: bool,
) -> Result<(), String> {
    let root = absolute_home(home)?;
    let unit = unit_name(&root, name)?;
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|err| format!("cannot find the rosey executable: {err}"))?;
    let owner = if user { None } else { owner_of(&root)? };
    let text = unit_text(&exe, &root, user, owner.as_deref(), node);
    if print {
        print!("{text}");
        return Ok(());
    }
    let dir = unit_dir(user)?;
    let path = dir.join(&unit);
    if let Err(err) = std::fs::create_dir_all(&dir)
        .and_then(|()| rosey_core::fsutil::write_replace(&path, text.as_bytes()))
    {
        let hint = if user {
            String::new()
        } else {
            " (a system unit needs root: run it with sudo, or use --user for a unit of your own)"
                .to_owned()
        };
        return Err(format!("cannot write {}: {err}{hint}", path.display()));
    }
    println!("✓ Wrote {}", path.display());
    let enabled =
        systemctl(user, &["daemon-reload"]).and_then(|()| systemctl(user, &["enable", &unit]));
    match enabled {
        Ok(()) => println!(
            "✓ Enabled {unit}: it starts at boot{}",
            if user {
                " (once you log in; `loginctl enable-linger` starts it without a login)"
            } else {
                ""
            }
        ),
        Err(why) => println!(
            "! systemctl could not enable it ({why}); run: {} && {}",
            typed(user, "daemon-reload"),
            typed(user, &format!("enable {unit}"))
        ),
    }
    println!(
        "  Start it now with: {} (if `rosey start` runs this home, `rosey stop` it first)",
        typed(user, &format!("start {unit}"))
    );
    Ok(())
}

fn remove(home: &Home, user: bool, name: Option<String>) -> Result<(), String> {
    let root = absolute_home(home)?;
    let unit = unit_name(&root, name)?;
    let path = unit_dir(user)?.join(&unit);
    if !path.exists() {
        return Err(format!(
            "there is no {} to remove{}",
            path.display(),
            if user {
                ""
            } else {
                " (was it installed with --user?)"
            }
        ));
    }
    if let Err(why) = systemctl(user, &["disable", "--now", &unit]) {
        println!(
            "! systemctl could not disable and stop it ({why}); run: {}",
            typed(user, &format!("disable --now {unit}"))
        );
    }
    std::fs::remove_file(&path).map_err(|err| {
        let fix = if err.kind() == std::io::ErrorKind::PermissionDenied {
            "; a system unit is root's to remove: run it with sudo (or add --user for yours)"
        } else {
            ""
        };
        format!("cannot remove {}: {err}{fix}", path.display())
    })?;
    if let Err(why) = systemctl(user, &["daemon-reload"]) {
        println!(
            "! systemctl could not reload ({why}); run: {}",
            typed(user, "daemon-reload")
        );
    }
    println!(
        "✓ Removed {}; the bot no longer starts at boot",
        path.display()
    );
    Ok(())
}
