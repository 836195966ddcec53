//! What `rosey start` may claim, worded for the operator.
//!
//! [`Stack::check_started`] asks the tree what runs (the supervisor's first start returns once
//! each unit started *or failed its first start*). A service that is not running fails the
//! start (the stack is stopped, the CLI exits non-zero with the failing service, its reason
//! and the fix); a plugin that is not running leaves the stack up but is named on the last
//! line instead of `Started all`.

use rosey_actors::{
    stack::{Stack, StartCheck},
    ChildInfo,
};
use rosey_core::{paths::Home, units};

/// What the start achieved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every service and plugin runs.
    AllUp,
    /// The services run; these plugins do not (`name (state: last exit)`).
    PluginsDown(Vec<String>),
    /// A service does not run: the message says which, why, and the fix.
    ServicesDown(String),
}

/// Asks the running tree what runs now, in the operator's words.
pub(crate) async fn judge(stack: &Stack, home: &Home) -> Verdict {
    match stack.check_started().await {
        StartCheck::AllUp => Verdict::AllUp,
        StartCheck::PluginsDown(plugins) => Verdict::PluginsDown(
            plugins
                .iter()
                .map(|child| match &child.last_exit {
                    Some(exit) => format!("{} ({}: {exit})", child.name, child.state),
                    None => format!("{} ({})", child.name, child.state),
                })
                .collect(),
        ),
        StartCheck::ServicesDown { first, others } => {
            Verdict::ServicesDown(services_down(&first, &others, home))
        }
        StartCheck::Unanswered { supervisor, reason } => {
            let which = if supervisor == units::PLUGINS {
                "plugin"
            } else {
                supervisor
            };
            Verdict::ServicesDown(format!("the {which} supervisor: {reason}"))
        }
    }
}

/// `nats failed: <why>; bot and plugins could not start without it. Fix: …`.
fn services_down(first: &ChildInfo, others: &[ChildInfo], home: &Home) -> String {
    let why = first
        .last_exit
        .clone()
        .unwrap_or_else(|| format!("it is {}", first.state));
    let mut message = format!("{} failed: {why}", first.name);
    if !others.is_empty() {
        let names: Vec<&str> = others.iter().map(|child| child.name.as_str()).collect();
        message.push_str(&format!(
            "; {} could not start without it",
            names.join(" and ")
        ));
    }
    message.push_str(&format!(". Fix: {}", fix_for(&first.name, &why, home)));
    message
}

/// What an operator can do about service `unit` failing with `why`.
pub(crate) fn fix_for(unit: &str, why: &str, home: &Home) -> String {
    let lower = why.to_ascii_lowercase();
    let logs = format!("the details are in `rosey logs {unit}`");
    if lower.contains("insufficient storage")
        || lower.contains("no space left")
        || lower.contains("storage resources")
    {
        return format!(
            "free space on the disk holding {}, or lower `nats.max_storage` in rosey.yaml; {logs}",
            home.data_dir().display()
        );
    }
    if lower.contains("address already in use") || lower.contains("address in use") {
        let key = match unit {
            units::NATS => "`nats.port`",
            units::WEB => "`web.port`",
            _ => "its port",
        };
        return format!(
            "another program listens on that port: stop it or change {key} in rosey.yaml; {logs}"
        );
    }
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_names_the_key_and_the_folder() {
        let home = Home::new("/srv/bot");
        let fix = fix_for(
            "nats",
            "insufficient storage resources available (code 500, error code 10047)",
            &home,
        );
        assert!(fix.contains("nats.max_storage"), "{fix}");
        assert!(fix.contains("/srv/bot/data"), "{fix}");
        assert!(fix.contains("rosey logs nats"), "{fix}");
    }

    #[test]
    fn a_taken_port_names_the_service_key() {
        let home = Home::new("/srv/bot");
        let fix = fix_for(
            "web",
            "cannot bind: Address already in use (os error 98)",
            &home,
        );
        assert!(fix.contains("`web.port`"), "{fix}");
        assert_eq!(
            fix_for("bot", "the connector closed", &home),
            "the details are in `rosey logs bot`"
        );
    }
}
