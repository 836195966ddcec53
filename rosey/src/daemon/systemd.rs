//! Telling systemd how the daemon is doing, when it runs as a `Type=notify` service (the unit
//! `rosey service install` writes): `READY=1` once the stack is up (so `systemctl start`
//! returns then, and a failed start fails it), `STOPPING=1` when it starts to stop, a `STATUS=`
//! line systemctl shows, and `WATCHDOG=1` every half watchdog period while the supervision tree
//! lives, so that systemd restarts a daemon that wedged as well as one that died.
//!
//! The protocol is sd_notify(3): datagrams of `KEY=value` lines sent to the Unix socket named
//! by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract one); the watchdog period is
//! `$WATCHDOG_USEC`, meant for us only when `$WATCHDOG_PID` is unset or our pid. Outside
//! systemd there is no `$NOTIFY_SOCKET`, and every call does nothing.

use std::{
    os::unix::net::{SocketAddr, UnixDatagram},
    time::Duration,
};

/// The daemon's line to systemd (nothing when not run by systemd).
#[derive(Debug)]
pub struct Systemd {
    socket: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Systemd {
    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC`; a socket that cannot be used is logged and
    /// left alone (the service then times out at start, which systemd reports).
    pub fn from_env() -> Systemd {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|name| {
            let name = name.to_string_lossy().into_owned();
            // Never blocking: a notify socket whose queue is full must not stall the daemon.
            let socket = UnixDatagram::unbound().and_then(|socket| {
                socket.set_nonblocking(true)?;
                Ok(socket)
            });
            match address(&name).and_then(|address| Ok((socket?, address))) {
                Ok(socket) => Some(socket),
                Err(err) => {
                    tracing::warn!("cannot use NOTIFY_SOCKET {name:?}: {err}");
                    None
                }
            }
        });
        let ours = std::env::var("WATCHDOG_PID")
            .map_or(true, |pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| ours && *usec > 0)
            .map(Duration::from_micros);
        Systemd { socket, watchdog }
    }

    /// Sends `state` (lines of `KEY=value`); a failure is logged, never fatal.
    pub fn notify(&self, state: &str) {
        if let Some((socket, address)) = &self.socket {
            match socket.send_to_addr(state.as_bytes(), address) {
                Ok(_) => {}
                // Its queue is full (systemd is not reading): this one is dropped.
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    tracing::debug!("systemd's notify socket is full; dropped {state:?}");
                }
                Err(err) => tracing::warn!("cannot tell systemd {state:?}: {err}"),
            }
        }
    }

    /// The stack is up: `status` is what `systemctl status` shows.
    pub fn ready(&self, status: &str) {
        self.notify(&format!(
            "READY=1\nMAINPID={}\nSTATUS={}",
            std::process::id(),
            one_line(status)
        ));
    }

    /// The daemon starts to stop.
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=stopping");
    }

    /// Shown by `systemctl status`: why the daemon is about to exit, for one.
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }

    /// How often to ping the watchdog (half its period), when systemd watches us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.socket.as_ref()?;
        self.watchdog.map(|period| period / 2)
    }
}

/// `$NOTIFY_SOCKET` as an address: a path, or `@name` for the abstract namespace.
fn address(name: &str) -> std::io::Result<SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())
        }
        None => SocketAddr::from_pathname(name),
    }
}

/// `text` on one line, as a `STATUS=` value must be.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
