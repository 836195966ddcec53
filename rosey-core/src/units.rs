//! The names of the units a running stack is made of, in one place: the supervision tree
//! spells its services with these, `services:` in `rosey.yaml` accepts them, and a plugin may
//! not take one as its name (`rosey restart bot` and the status table would not know which
//! one is meant, and a plugin could pass for a service in logs and notices).

/// The NATS server.
pub const NATS: &str = "nats";
/// The bot (connector and router).
pub const BOT: &str = "bot";
/// The web dashboard (the daemon's extra service).
pub const WEB: &str = "web";
/// The supervisor of the plugins.
pub const PLUGINS: &str = "plugins";
/// A plugin node's agent (`rosey node start`): its heartbeats to the main daemon.
pub const NODE: &str = "node";

/// The services the daemon (or a node daemon: `nats`, `node`) runs under the root supervisor
/// (besides `plugins`).
pub const SERVICES: &[&str] = &[NATS, BOT, WEB, NODE];

/// Every name a plugin may not take: the services, the plugin supervisor, and `rosey` (the
/// daemon's own log source).
pub const RESERVED_NAMES: &[&str] = &[NATS, BOT, WEB, NODE, PLUGINS, "rosey"];

/// `true` when `name` belongs to a unit of the stack, so no plugin may be called that.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_service_is_reserved() {
        for service in super::SERVICES {
            assert!(super::is_reserved(service), "{service}");
        }
        assert!(super::is_reserved("plugins"));
        assert!(!super::is_reserved("dice-roller"));
    }
}
