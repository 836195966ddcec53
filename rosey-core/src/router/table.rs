//! Which plugin handles which command, and which of those plugins the operator disabled.
//!
//! A disabled plugin keeps its commands in the table, marked off: `!quote` then gets "quote is
//! unavailable right now" instead of "Unknown command", which is what it is to the user, and
//! the command is not stored for a plugin that may not run for days.

use std::collections::{BTreeMap, BTreeSet};

use crate::{manifest::CommandSpec, registry::Registry};

/// Which plugin handles which command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: BTreeMap<String, String>,
    /// What each command's manifest says of it (help, usage, least rank).
    specs: BTreeMap<String, CommandSpec>,
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
                if !table.routes.contains_key(&command.name) {
                    table.routes.insert(command.name.clone(), name.clone());
                    table.specs.insert(command.name.clone(), command.clone());
                }
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
        self.insert_spec(CommandSpec::named(command), plugin)
    }

    /// Routes `spec`'s command to `plugin`, with what its manifest says of it.
    pub fn insert_spec(&mut self, spec: CommandSpec, plugin: impl Into<String>) -> Option<String> {
        let command = spec.name.clone();
        self.specs.insert(command.clone(), spec);
        self.routes.insert(command, plugin.into())
    }

    /// What the manifest says of `command` (help, usage, least rank).
    pub fn spec(&self, command: &str) -> Option<&CommandSpec> {
        self.specs.get(command)
    }

    /// Every command of an enabled plugin, sorted, with what its manifest says of it.
    pub fn enabled_specs(&self) -> impl Iterator<Item = &CommandSpec> {
        self.enabled().filter_map(|command| self.specs.get(command))
    }

    /// The words of every command of an enabled plugin, sorted.
    fn enabled(&self) -> impl Iterator<Item = &String> {
        self.routes
            .iter()
            .filter(|(_, plugin)| !self.disabled.contains(*plugin))
            .map(|(command, _)| command)
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
        self.enabled().cloned().collect()
    }

    /// How many commands are routed to enabled plugins.
    pub fn len(&self) -> usize {
        self.enabled().count()
    }

    /// Whether no command is routed to an enabled plugin.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
