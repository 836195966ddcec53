//! The daemon's logging: one [`LogHub`] writes every log file, a tracing layer sends each of
//! the daemon's events to it under the right source, and in the background the daemon's own
//! stdout and stderr (a panic message, say) are piped into it too.
//!
//! An event's source is, in order: its `unit` field (`plugin:<name>` → that plugin's log,
//! `bot`/`nats`/`web` → that service's), its `plugin` field, then its target
//! (`rosey_actors::services::bot…` → bot, `rosey_actors::services::nats…` → nats,
//! `rosey::web…` → web); everything else is the daemon's own (`rosey`, in `rosey.log` only).
//! `--debug` and `ROSEY_LOG` (an `EnvFilter`) choose what is logged.

use std::{
    fmt::Write as _,
    io::{self, BufRead, BufReader},
    os::fd::AsRawFd,
};

use rosey_core::{
    config::LogsConfig,
    logs::{Level, LogHub, LogSource, SERVICE_LOGS},
    paths::Home,
};
use tracing::{
    field::{Field, Visit},
    Event, Subscriber,
};
use tracing_subscriber::{layer::Context, prelude::*, EnvFilter, Layer};

/// Event targets that belong to a service's log.
const TARGETS: &[(&str, &str)] = &[
    ("rosey_actors::services::bot", rosey_core::units::BOT),
    ("rosey_actors::services::nats", rosey_core::units::NATS),
    ("rosey::web", rosey_core::units::WEB),
];

/// Opens the hub for `home` (default limits until the config is read) and makes it the
/// destination of every tracing event of this process.
pub fn init(home: &Home, debug: bool) -> io::Result<LogHub> {
    let hub = LogHub::open(home, LogsConfig::default())?;
    let level = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("ROSEY_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},async_nats=warn")));
    let layer = HubLayer { hub: hub.clone() }.with_filter(filter);
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(hub)
}

/// Points this process's stdout and stderr at a pipe whose lines go to the hub as the daemon's
/// own, so nothing the daemon prints bypasses the hub (and its rotation).
pub fn capture_output(hub: &LogHub) -> io::Result<()> {
    let (reader, writer) = io::pipe()?;
    for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto the standard fds; `writer` stays open until after the calls.
        if unsafe { libc::dup2(writer.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    drop(writer);
    let hub = hub.clone();
    std::thread::Builder::new()
        .name("rosey-output".to_owned())
        .spawn(move || {
            for line in BufReader::new(reader).split(b'\n') {
                let Ok(line) = line else { break };
                hub.child_line(&LogSource::Rosey, &String::from_utf8_lossy(&line));
            }
        })?;
    Ok(())
}

/// Sends tracing events to the hub.
struct HubLayer {
    hub: LogHub,
}

impl<S: Subscriber> Layer<S> for HubLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let level = match *metadata.level() {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        };
        let source = source_of(metadata.target(), &fields);
        self.hub.log(&source, level, &fields.text);
    }
}

/// Which log an event goes to (see the module comment).
fn source_of(target: &str, fields: &Fields) -> LogSource {
    if let Some(unit) = &fields.unit {
        if let Some(plugin) = unit.strip_prefix("plugin:") {
            return LogSource::Plugin(plugin.to_owned());
        }
        if SERVICE_LOGS.contains(&unit.as_str()) {
            return LogSource::Service(unit.clone());
        }
    }
    if let Some(plugin) = &fields.plugin {
        return LogSource::Plugin(plugin.clone());
    }
    TARGETS
        .iter()
        .find(|(prefix, _)| {
            target
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
        .map(|(_, service)| LogSource::Service((*service).to_owned()))
        .unwrap_or(LogSource::Rosey)
}

/// An event's message, its other fields as ` key=value`, and the fields that route it.
#[derive(Default)]
struct Fields {
    text: String,
    unit: Option<String>,
    plugin: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "unit" => self.unit = Some(value.to_owned()),
            "plugin" => self.plugin = Some(value.to_owned()),
            "message" => self.text.insert_str(0, value),
            name => {
                let _ = write!(self.text, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "unit" | "plugin" | "message" => self.record_str(field, &format!("{value:?}")),
            name => {
                let _ = write!(self.text, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(unit: Option<&str>, plugin: Option<&str>) -> Fields {
        Fields {
            text: String::new(),
            unit: unit.map(str::to_owned),
            plugin: plugin.map(str::to_owned),
        }
    }

    #[test]
    fn events_go_to_the_log_of_their_unit_plugin_or_module() {
        let none = fields(None, None);
        let service = |name: &str| LogSource::Service(name.to_owned());
        assert_eq!(
            source_of("rosey_actors::services::bot", &none),
            service("bot")
        );
        assert_eq!(
            source_of("rosey_actors::services::nats::ready", &none),
            service("nats")
        );
        assert_eq!(source_of("rosey::web::routes", &none), service("web"));
        assert_eq!(source_of("rosey::webhooks", &none), LogSource::Rosey);
        assert_eq!(source_of("rosey::daemon", &none), LogSource::Rosey);
        assert_eq!(
            source_of("rosey::daemon", &fields(Some("plugin:dice-roller"), None)),
            LogSource::Plugin("dice-roller".to_owned())
        );
        assert_eq!(
            source_of("rosey::daemon", &fields(Some("nats"), None)),
            service("nats")
        );
        assert_eq!(
            source_of("rosey::daemon", &fields(Some("plugins"), None)),
            LogSource::Rosey
        );
        assert_eq!(
            source_of(
                "rosey_actors::services::plugin",
                &fields(None, Some("quote-db"))
            ),
            LogSource::Plugin("quote-db".to_owned())
        );
    }
}
