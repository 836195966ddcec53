//! Which plugin handles which command, and which of those plugins the operator disabled.
//!
//! A disabled plugin keeps its commands in the table, marked off: `!quote` then gets "quote is
//! unavailable right now" instead of "Unknown command", which is what it is to the user, and
//! the command is not stored for a plugin that may not run for days.

use std::collections::{BTreeMap, BTreeSet};

use crate::registry::Registry;

/// Which plugin handles which command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: BTreeMap<String, String>,
    disabled: BTreeSet<String>,
}

impl RouteTable {
    /// An empty table: every command is unknown.
    pub fn new() -> RouteTable {
        RouteTable::default()
    }

    /// The commands of every plugin in `registry`, the disabled ones' marked off. Install
    /// refuses a command claimed twice; should a hand-edited registry claim one twice anyway,
    /// an enabled plugin keeps it over a disabled one, then the plugin first by name.
    pub fn from_registry(registry: &Registry) -> RouteTable {
        let mut table = RouteTable::new();
        let (enabled, disabled): (Vec<_>, Vec<_>) =
            registry.plugins.iter().partition(|(_, p)| p.enabled);
        for (name, plugin) in enabled.into_iter().chain(disabled) {
            for command in &plugin.commands {
                table
                    .routes
                    .entry(command.clone())
                    .or_insert_with(|| name.clone());
            }
            if !plugin.enabled {
                table.disabled.insert(name.clone());
            }
        }
        table
    }

    /// Routes `command` to `plugin`; returns the plugin it was routed to before, if any.
    pub fn insert(
        &mut self,
        command: impl Into<String>,
        plugin: impl Into<String>,
    ) -> Option<String> {
        self.routes.insert(command.into(), plugin.into())
    }

    /// Marks `plugin` disabled: its commands are known but not routed.
    pub fn disable(&mut self, plugin: impl Into<String>) {
        self.disabled.insert(plugin.into());
    }

    /// The plugin that handles `command`, whether or not it is enabled.
    pub fn owner(&self, command: &str) -> Option<&str> {
        self.routes.get(command).map(String::as_str)
    }

    /// Whether `plugin` is disabled.
    pub fn is_disabled(&self, plugin: &str) -> bool {
        self.disabled.contains(plugin)
    }

    /// Every command of an enabled plugin, sorted (what the unknown-command answer lists).
    pub fn commands(&self) -> Vec<String> {
        self.routes
            .iter()
            .filter(|(_, plugin)| !self.disabled.contains(*plugin))
            .map(|(command, _)| command.clone())
            .collect()
    }

    /// How many commands are routed to enabled plugins.
    pub fn len(&self) -> usize {
        self.routes
            .values()
            .filter(|plugin| !self.disabled.contains(*plugin))
            .count()
    }

    /// Whether no command is routed to an enabled plugin.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
