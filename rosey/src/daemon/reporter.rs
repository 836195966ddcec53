//! What the daemon says while its stack starts: each unit's start and failure as progress
//! lines (`✓ NATS server started`, `  ✗ Plugin x failed: …`), drawn by [`super::progress`].
//! Only during the start: once the stack is up, notices are logged, not reported.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, OnceLock,
};

use rosey_actors::{SupervisionEventKind, SupervisionNotice};
use rosey_core::units;

use super::progress::{Progress, ProgressSink};

/// Start-up progress, shared with the tree's callbacks until the stack is up.
#[derive(Clone)]
pub(super) struct Reporter {
    sink: Arc<Mutex<ProgressSink>>,
    starting: Arc<AtomicBool>,
    /// `host:port` of NATS, known once the stack is prepared.
    nats_url: Arc<OnceLock<String>>,
    /// The dashboard's sign-in link (empty without a dashboard).
    pub(super) web_url: String,
}

impl Reporter {
    /// Reports to `sink` while the stack starts; `web_url` is the dashboard's link.
    pub(super) fn new(sink: Arc<Mutex<ProgressSink>>, web_url: String) -> Reporter {
        Reporter {
            sink,
            starting: Arc::new(AtomicBool::new(true)),
            nats_url: Arc::default(),
            web_url,
        }
    }

    /// Where NATS listens, once the stack is prepared.
    pub(super) fn set_nats_url(&self, url: String) {
        let _ = self.nats_url.set(url);
    }

    /// `host:port` of NATS (empty before the stack is prepared).
    pub(super) fn nats_url(&self) -> &str {
        self.nats_url.get().map(String::as_str).unwrap_or_default()
    }

    /// The start is over: later notices are not progress.
    pub(super) fn started(&self) {
        self.starting.store(false, Ordering::SeqCst);
    }

    pub(super) fn report(&self, progress: Progress) {
        let mut sink = match self.sink.lock() {
            Ok(sink) => sink,
            Err(poisoned) => poisoned.into_inner(),
        };
        sink.report(progress);
    }

    fn during_start(&self) -> bool {
        self.starting.load(Ordering::SeqCst)
    }

    /// A unit is about to start.
    pub(super) fn on_starting(&self, unit: &str) {
        if !self.during_start() {
            return;
        }
        self.report(match unit {
            units::NATS => {
                Progress::Step(format!("Starting NATS server on {}...", self.nats_url()))
            }
            units::BOT => Progress::Step("Starting bot...".to_owned()),
            units::PLUGINS => Progress::Step("Loading plugins...".to_owned()),
            units::WEB => Progress::Step("Starting web dashboard...".to_owned()),
            units::NODE => Progress::Step("Joining the cluster as a plugin node...".to_owned()),
            other => Progress::PluginStep(format!(
                "Loading plugin: {}",
                other.strip_prefix("plugin:").unwrap_or(other)
            )),
        });
    }

    /// A supervision notice arrived.
    pub(super) fn on_notice(&self, notice: &SupervisionNotice) {
        if !self.during_start() {
            return;
        }
        let plugin = notice.supervisor == units::PLUGINS;
        let progress = match (&notice.kind, plugin, notice.child.as_str()) {
            (SupervisionEventKind::Started, false, units::NATS) => {
                Progress::Ok("NATS server started".to_owned())
            }
            (SupervisionEventKind::Started, false, units::BOT) => {
                Progress::Ok("Bot service started".to_owned())
            }
            (SupervisionEventKind::Started, false, units::PLUGINS) => {
                Progress::Ok("Plugins started".to_owned())
            }
            (SupervisionEventKind::Started, false, units::NODE) => {
                Progress::Ok("Node service started: the main daemon sees this node".to_owned())
            }
            (SupervisionEventKind::Started, false, units::WEB) => {
                Progress::Ok(format!("Web dashboard on {}", self.web_url))
            }
            (SupervisionEventKind::Started, true, name) => {
                Progress::PluginOk(format!("Loaded plugin: {name}"))
            }
            (SupervisionEventKind::Exited { reason, .. }, true, name) => {
                Progress::PluginFailed(format!("Plugin {name} failed: {reason}"))
            }
            (SupervisionEventKind::GaveUp { reason }, true, name) => {
                Progress::PluginFailed(format!("Plugin {name} crashed: {reason}"))
            }
            (SupervisionEventKind::Exited { reason, .. }, false, name) => {
                Progress::Failed(format!("{name} failed: {reason}"))
            }
            _ => return,
        };
        self.report(progress);
    }
}
