//! What the daemon says while it starts (and why it failed), shown by `rosey start` in the look
//! of the original CLI: steps, then ✓ or ✗ for each service and plugin.
//!
//! In the background the daemon writes these as JSON lines into a pipe the starting CLI reads;
//! in the foreground it prints them itself. Either way the same renderer draws them.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// One line of start-up progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Progress {
    /// Something is being started.
    Step(String),
    /// It started.
    Ok(String),
    /// It failed (the stack may go on without it, e.g. a plugin).
    Failed(String),
    /// A plugin is loading (indented under the plugins step).
    PluginStep(String),
    /// A plugin loaded.
    PluginOk(String),
    /// A plugin failed to load.
    PluginFailed(String),
    /// A note.
    Note(String),
    /// The stack is up: every service and plugin runs.
    Ready,
    /// The services run, but these plugins do not (each `name (state: last exit)`).
    StartedExcept(Vec<String>),
    /// The stack could not start; the daemon exits.
    Fatal(String),
}

/// Draws one progress line (`color`: ANSI colors for a terminal).
pub fn render(progress: &Progress, color: bool) -> String {
    let (green, red, reset) = if color {
        ("\x1b[32m", "\x1b[31m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    match progress {
        Progress::Step(text) | Progress::Note(text) => text.clone(),
        Progress::Ok(text) => format!("{green}✓{reset} {text}"),
        Progress::Failed(text) => format!("{red}✗{reset} {text}"),
        Progress::PluginStep(text) => format!("  {text}"),
        Progress::PluginOk(text) => format!("  {green}✓{reset} {text}"),
        Progress::PluginFailed(text) => format!("  {red}✗{reset} {text}"),
        Progress::Ready => format!("{green}✓{reset} Started all"),
        Progress::StartedExcept(plugins) => format!(
            "{green}✓{reset} Started, except {} not running: {}\n  \
             Fix the plugin, then `rosey plugin reload <name>`; `rosey logs <name>` says why it stopped",
            if plugins.len() == 1 { "1 plugin" } else { "plugins" },
            plugins.join(", ")
        ),
        Progress::Fatal(text) => format!("{red}✗{reset} {text}"),
    }
}

/// Where the daemon's progress goes.
pub enum ProgressSink {
    /// Printed on this terminal.
    Terminal {
        /// Whether to color.
        color: bool,
    },
    /// Written as JSON lines to the pipe the starting CLI reads.
    Pipe(std::fs::File),
    /// Nobody listens.
    None,
}

impl ProgressSink {
    /// Reports one line. Progress is best-effort: a CLI that went away must not stop the daemon.
    pub fn report(&mut self, progress: Progress) {
        match self {
            ProgressSink::Terminal { color } => println!("{}", render(&progress, *color)),
            ProgressSink::Pipe(pipe) => {
                if let Ok(mut line) = serde_json::to_string(&progress) {
                    line.push('\n');
                    if pipe.write_all(line.as_bytes()).is_err() {
                        *self = ProgressSink::None;
                    }
                }
            }
            ProgressSink::None => {}
        }
    }

    /// Closes the pipe, telling the CLI there is nothing more to wait for.
    pub fn finish(&mut self) {
        if matches!(self, ProgressSink::Pipe(_)) {
            *self = ProgressSink::None;
        }
    }
}
