//! The commented `rosey.yaml` that `rosey init` writes: every key at its default, commented
//! out, under a line saying what it means, so an operator finds every setting in the file
//! itself and changes one by removing its `# `. Only what the operator chose at init (the
//! chat, the channel, the bot's name) is written as a value.
//!
//! The defaults are read from [`Config::default`], never spelled here, so the file cannot
//! drift from the code; a test uncomments every key line and checks the result reads back as
//! the defaults and names every key there is.

use super::{BotConfig, Config, ConnectorKind};
use crate::paths::Home;

/// What the operator chose at `rosey init`: written as values, everything else as comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitChoices {
    /// The chat to connect to.
    pub connector: ConnectorKind,
    /// The CyTube site (`https://cytu.be`), for `connector: cytube`.
    pub server: Option<String>,
    /// The channel the bot sits in.
    pub channel: String,
    /// The bot's user name.
    pub name: String,
}

impl Default for InitChoices {
    fn default() -> Self {
        let bot = BotConfig::default();
        InitChoices {
            connector: bot.connector,
            server: None,
            channel: bot.channel,
            name: bot.name,
        }
    }
}

/// `value` as YAML writes it on one line (quoted when plain YAML would read it otherwise).
fn yaml<T: serde::Serialize>(value: &T) -> String {
    serde_yaml_ng::to_string(value)
        .map(|text| text.trim_end().to_owned())
        .unwrap_or_else(|_| "null".to_owned())
}

/// The `rosey.yaml` `rosey init` writes for `choices`.
pub fn commented_config(choices: &InitChoices) -> String {
    let d = Config::default();
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let (nats, bot, cytube) = (&d.nats, &d.bot, &d.bot.cytube);
    let (replies, rate) = (&bot.replies, &bot.rate_limit);
    line("# rosey.yaml: the settings of this rosey home, written by `rosey init`.".into());
    line("#".into());
    line(
        "# Every key is optional. Each commented-out line below is a key at its default, under"
            .into(),
    );
    line(
        "# what it means: remove its \"# \" and change the value to change the setting (a section"
            .into(),
    );
    line(
        "# whose keys are all commented out means \"all defaults\"). A typo or a bad value is"
            .into(),
    );
    line(
        "# refused at start, naming the key and the fix. The reference: docs/OPERATORS.md.".into(),
    );
    line(String::new());
    line(
        "# Plugin installs, updates and removals reach the running bot at once (false: at the"
            .into(),
    );
    line("# next start).".into());
    line(format!("# hot_reload: {}", d.hot_reload));
    line(String::new());
    line("# The chat the bot sits in.".into());
    line("bot:".into());
    line("  # Which chat: local (the terminal and `rosey say`) or cytube.".into());
    line(format!("  connector: {}", yaml(&choices.connector)));
    line("  # The bot's own user name; its own messages are never taken as commands.".into());
    line(format!("  name: {}", yaml(&choices.name)));
    line("  # The channel it sits in.".into());
    line(format!("  channel: {}", yaml(&choices.channel)));
    line("  # What starts a command (\"!\" in \"!roll 2d6\").".into());
    line(format!("  # command_prefix: {}", yaml(&bot.command_prefix)));
    line("  # Whether an unknown command is answered with the list of known ones.".into());
    line(format!(
        "  # unknown_command_reply: {}",
        bot.unknown_command_reply
    ));
    line("  # How long `rosey say` waits for replies, in ms.".into());
    line(format!("  # say_timeout_ms: {}", bot.say_timeout_ms));
    line("  # The CyTube connection (connector: cytube).".into());
    line("  cytube:".into());
    line("    # The site's address.".into());
    match &choices.server {
        Some(server) => line(format!("    server: {}", yaml(server))),
        None => line("    # server: https://cytu.be".into()),
    }
    line("    # The account's password; better in the environment (ROSEY_CYTUBE_PASSWORD).".into());
    line("    # Without either, the bot joins as a guest.".into());
    line("    # password: secret".into());
    line("    # The channel's own password, for a channel that has one.".into());
    line("    # channel_password: secret".into());
    line("    # Lines said at once before pacing starts (CyTube drops past 20).".into());
    line(format!("    # chat_burst: {}", cytube.chat_burst));
    line("    # Lines a second after the burst (CyTube drops past 10).".into());
    line(format!("    # chat_per_sec: {}", cytube.chat_per_sec));
    line("    # The first wait before reconnecting, in ms; it doubles with each failure...".into());
    line(format!(
        "    # reconnect_initial_ms: {}",
        cytube.reconnect_initial_ms
    ));
    line("    # ...up to this.".into());
    line(format!(
        "    # reconnect_max_ms: {}",
        cytube.reconnect_max_ms
    ));
    line("    # How long each connection step may take, in ms.".into());
    line(format!(
        "    # connect_timeout_ms: {}",
        cytube.connect_timeout_ms
    ));
    line(
        "  # What the bot says about a user's command ({user}, {command}, {rank}); \"\" says"
            .into(),
    );
    line("  # nothing.".into());
    line("  replies:".into());
    line("    # The command failed (said once).".into());
    line(format!("    # failed: {}", yaml(&replies.failed)));
    line(
        "    # Its plugin is crashed or disabled (once per user and plugin every 5 minutes)."
            .into(),
    );
    line(format!("    # unavailable: {}", yaml(&replies.unavailable)));
    line("    # The user went past the rate limit.".into());
    line(format!("    # slow_down: {}", yaml(&replies.slow_down)));
    line("    # The user's rank is below the command's minimum.".into());
    line(format!("    # not_allowed: {}", yaml(&replies.not_allowed)));
    line("  # Commands one chat user may send; 0 turns a limit off.".into());
    line("  rate_limit:".into());
    line("    # Across all plugins, per window.".into());
    line(format!("    # commands: {}", rate.commands));
    line("    # To any one plugin, per window.".into());
    line(format!("    # per_plugin: {}", rate.per_plugin));
    line("    # The sliding window, in seconds.".into());
    line(format!("    # window_secs: {}", rate.window_secs));
    line("    # User names never limited, e.g. [alice, bob].".into());
    line("    # exempt: []".into());
    line(
        "    # Channel rank never limited (guest, registered, moderator, admin, owner, or a".into(),
    );
    line("    # number); null: nobody by rank.".into());
    line(format!("    # exempt_rank: {}", yaml(&rate.exempt_rank)));
    line(String::new());
    line("# The message bus the daemon starts (nats-server).".into());
    line("nats:".into());
    line("  # Listen address; another than loopback needs allow_remote: true.".into());
    line(format!("  # host: {}", yaml(&nats.host)));
    line("  # Listen port; 0 picks a free one at each start.".into());
    line(format!("  # port: {}", nats.port));
    line("  # Allow a non-loopback host (passwords stay on; set tls too).".into());
    line(format!("  # allow_remote: {}", nats.allow_remote));
    line("  # TLS for every client: the server's certificate and key (PEM).".into());
    line("  # tls: { cert: cert.pem, key: key.pem }".into());
    line(
        "  # The message store's size on disk (bytes, or KiB/MiB/GiB). Unset: 320MiB, less on"
            .into(),
    );
    line("  # a small disk.".into());
    line("  # max_storage: 512MiB".into());
    line("  # Join the nats-servers of other machines (plugin nodes; see OPERATORS.md,".into());
    line("  # \"Running across machines\"). Every machine needs this home's".into());
    line(format!(
        "  # {}.",
        Home::layout().nats_credentials_file().display()
    ));
    line("  # cluster:".into());
    line("    # The cluster's name, the same on every machine.".into());
    line("    # name: rosey".into());
    line("    # This server's name, unique; unset: node.name on a node, main here.".into());
    line("    # server_name: main".into());
    line("    # Where the other servers' routes reach this one.".into());
    line("    # listen: 0.0.0.0:6222".into());
    line("    # The other servers' listen addresses.".into());
    line("    # routes: [10.0.0.2:6222, 10.0.0.3:6222]".into());
    line("    # Servers keeping a copy of each stream; unset: up to 3.".into());
    line("    # replicas: 3".into());
    line("    # TLS on the routes: this server's certificate and key, the peers' CA (PEM).".into());
    line("    # tls: { cert: route.pem, key: route-key.pem, ca: ca.pem }".into());
    line(String::new());
    line("# The dashboard.".into());
    line("web:".into());
    line("  # Whether it runs at all.".into());
    line(format!("  # enabled: {}", d.web.enabled));
    line("  # Listen address; another than loopback needs a token.".into());
    line(format!("  # host: {}", yaml(&d.web.host)));
    line("  # Listen port; 0 picks a free one at start.".into());
    line(format!("  # port: {}", d.web.port));
    line(format!(
        "  # The token every request needs. Unset: one generated into {}; none: no",
        Home::layout().web_token_file().display()
    ));
    line("  # token (loopback only).".into());
    line("  # token: replace-with-a-long-random-secret".into());
    line(String::new());
    line("# How services and plugins are restarted (Erlang/OTP's rules).".into());
    line("supervision:".into());
    for (group, settings) in [
        ("services", &d.supervision.services),
        ("plugins", &d.supervision.plugins),
    ] {
        line(format!("  # The {group}."));
        line(format!("  {group}:"));
        line(
            "    # When one fails, restart it alone (one_for_one), all of them (one_for_all),"
                .into(),
        );
        line("    # or it and those started after it (rest_for_one).".into());
        line(format!("    # strategy: {}", yaml(&settings.strategy)));
        line(
            "    # Restarted always (permanent), after a failure only (transient), or never".into(),
        );
        line("    # (temporary).".into());
        line(format!("    # restart: {}", yaml(&settings.restart)));
        line("    # More restarts than this within within_secs and it gives up.".into());
        line(format!("    # max_restarts: {}", settings.max_restarts));
        line(format!("    # within_secs: {}", settings.within_secs));
        line("    # The first wait before a restart, in ms; it doubles with each one...".into());
        line(format!(
            "    # backoff_initial_ms: {}",
            settings.backoff_initial_ms
        ));
        line("    # ...up to this...".into());
        line(format!("    # backoff_max_ms: {}", settings.backoff_max_ms));
        line("    # ...and starts over after this long without a failure.".into());
        line(format!(
            "    # backoff_reset_secs: {}",
            settings.backoff_reset_secs
        ));
        line("    # How long each may take to stop before it is killed, in ms.".into());
        line(format!(
            "    # shutdown_timeout_ms: {}",
            settings.shutdown_timeout_ms
        ));
        line("    # A plugin given up on is tried again after this; 0: left down.".into());
        line(format!(
            "    # retry_after_secs: {}",
            settings.retry_after_secs
        ));
    }
    line(String::new());
    line("# Per service (nats, bot, web): its restart type and any supervision key but".into());
    line("# strategy. For example:  bot: { max_restarts: 10 }".into());
    line("services:".into());
    line(String::new());
    line("# Per plugin: its restart type, supervision keys and plugin_host keys, and with".into());
    line("# nats.cluster the machine it runs on: node: box2 (a node's name), any (a node".into());
    line("# with room running fewest plugins) or main; unset: where there is room (here".into());
    line("# while this machine has room for it, see node.keep_free_mb). For example:".into());
    line("#   dice-roller: { restart: transient, heartbeat_timeout_ms: 3000 }".into());
    line("plugins:".into());
    line(String::new());
    line("# The processes plugins run in.".into());
    line("plugin_host:".into());
    let host = &d.plugin_host;
    line("  # How often a host says it is alive, in ms...".into());
    line(format!("  # heartbeat_ms: {}", host.heartbeat_ms));
    line("  # ...and how long a silence means it hangs.".into());
    line(format!(
        "  # heartbeat_timeout_ms: {}",
        host.heartbeat_timeout_ms
    ));
    line("  # A starting plugin must be ready within this, in ms.".into());
    line(format!("  # ready_timeout_ms: {}", host.ready_timeout_ms));
    line("  # Warm spare hosts kept started (0 turns them off).".into());
    line(format!("  # spares: {}", host.spares));
    line("  # JetStream's ack wait, in ms (matters only if the daemon itself dies).".into());
    line(format!("  # ack_wait_ms: {}", host.ack_wait_ms));
    line("  # Host deaths on one message before it goes to the dead letters.".into());
    line(format!("  # max_attempts: {}", host.max_attempts));
    line("  # Older commands are not handled (acked, counted, logged), in ms; 0: any age.".into());
    line(format!(
        "  # max_command_age_ms: {}",
        host.max_command_age_ms
    ));
    line("  # The same for events; 0: any age.".into());
    line(format!("  # max_event_age_ms: {}", host.max_event_age_ms));
    line("  # A user whose commands were dead-lettered this many times within".into());
    line("  # hold_window_secs is held back from the plugin for hold_secs (0: never).".into());
    line(format!("  # hold_strikes: {}", host.hold_strikes));
    line(format!("  # hold_window_secs: {}", host.hold_window_secs));
    line(format!("  # hold_secs: {}", host.hold_secs));
    line("  # Run plugins in as much of the sandbox as the kernel offers (best_effort), or".into());
    line("  # refuse a plugin whose sandbox would be partial (required).".into());
    line(format!("  # sandbox: {}", yaml(&host.sandbox)));
    line(String::new());
    line("# Log files under logs/.".into());
    line("logs:".into());
    line("  # Rotate a log before it grows past this (bytes, or KiB/MiB/GiB).".into());
    line(format!("  # max_size: {}", d.logs.max_size));
    line("  # Rotated files kept per log.".into());
    line(format!("  # keep: {}", d.logs.keep));
    line("  # info, or debug: plugins' debug lines too, with each panic's backtrace.".into());
    line(format!("  # plugins: {}", yaml(&d.logs.plugins)));
    line(String::new());
    line("# What `rosey dev` watches.".into());
    line("dev:".into());
    line(
        "  # Plugin crate folders (relative to this home), e.g. [plugins/my-plugin]; empty:".into(),
    );
    line("  # the plugins of the workspace around it.".into());
    line("  # watch: []".into());
    line("  # How long sources must be quiet before a rebuild, in ms.".into());
    line(format!("  # debounce_ms: {}", d.dev.debounce_ms));
    line(String::new());
    line("# Plugin nodes (rosey node start on another machine).".into());
    line("node:".into());
    line("  # This machine's node name; unset: its host name.".into());
    line("  # name: box2".into());
    line("  # How often a node says it is alive, in ms...".into());
    line(format!("  # heartbeat_ms: {}", d.node.heartbeat_ms));
    line("  # ...and how long the main daemon waits before it counts a silent node lost.".into());
    line(format!("  # lost_after_ms: {}", d.node.lost_after_ms));
    line("  # Memory in MiB this machine keeps free: a plugin placed where there is room".into());
    line("  # runs here only while more than this plus its memory limit is available.".into());
    line(format!("  # keep_free_mb: {}", d.node.keep_free_mb));
    out
}

#[cfg(test)]
mod tests;
