//! The rosey daemon: one per home. It takes the home's lock, starts the supervision tree
//! (nats, bot, plugins), serves the control socket, and on SIGINT, SIGTERM or `rosey stop`
//! stops everything in reverse order and leaves nothing running. A service that fails past its
//! restart intensity escalates to the root, which stops the stack and says why. It is the only
//! writer of the home's log files (`logging`).

mod chat;
mod control_server;
pub mod instance;
mod logging;
mod notices;
pub(crate) mod ops;
pub mod peer;
pub mod progress;
mod verdict;

use std::{
    io::{BufRead, IsTerminal},
    os::fd::FromRawFd,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rosey_actors::{
    client as sup,
    services::{board::Board, bot::ReplyWaiters, nats as nats_actor, process},
    stack::{Stack, StackContext, StackError},
    SupervisionEventKind, SupervisionNotice, SupervisorError,
};
use rosey_core::{
    config::Config, connector::local::LocalConnector, messaging, messaging::StoreBudget,
    paths::Home, units,
};
use tokio::signal::unix::{signal, SignalKind};

use self::{
    instance::Instance,
    notices::Notices,
    ops::Daemon,
    progress::{Progress, ProgressSink},
};

/// Arguments of the hidden `rosey daemon` subcommand (and of `rosey start --foreground`).
#[derive(Debug, Default, clap::Args)]
pub struct DaemonArgs {
    /// Write start-up progress as JSON lines to this inherited file descriptor.
    #[arg(long)]
    pub progress_fd: Option<i32>,
    /// Run attached to this terminal: progress and chat printed here, chat typed here.
    #[arg(long)]
    pub foreground: bool,
    /// Debug logging (and debug logs from plugin hosts).
    #[arg(long)]
    pub debug: bool,
    /// Set by `rosey dev`: print its banner once the stack is up.
    #[arg(skip)]
    pub dev: Option<crate::dev::DevBanner>,
}

/// Runs the daemon to completion.
pub fn main(home: &Home, args: DaemonArgs) -> ExitCode {
    let sink = match args.progress_fd {
        Some(fd) => {
            // SAFETY: the starting CLI passes us this fd for our exclusive use; close-on-exec
            // keeps it out of the children we start, so the CLI sees EOF when we close it.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            ProgressSink::Pipe(unsafe { std::fs::File::from_raw_fd(fd) })
        }
        None => ProgressSink::Terminal {
            color: std::io::stdout().is_terminal(),
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(home.clone(), sink, args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

/// Start-up progress, shared with the tree's callbacks until the stack is up.
#[derive(Clone)]
struct Reporter {
    sink: Arc<Mutex<ProgressSink>>,
    starting: Arc<std::sync::atomic::AtomicBool>,
    nats_url: String,
    web_url: String,
}

impl Reporter {
    fn report(&self, progress: Progress) {
        let mut sink = match self.sink.lock() {
            Ok(sink) => sink,
            Err(poisoned) => poisoned.into_inner(),
        };
        sink.report(progress);
    }

    fn during_start(&self) -> bool {
        self.starting.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn on_starting(&self, unit: &str) {
        if !self.during_start() {
            return;
        }
        self.report(match unit {
            units::NATS => Progress::Step(format!("Starting NATS server on {}...", self.nats_url)),
            units::BOT => Progress::Step("Starting bot...".to_owned()),
            units::PLUGINS => Progress::Step("Loading plugins...".to_owned()),
            units::WEB => Progress::Step("Starting web dashboard...".to_owned()),
            other => Progress::PluginStep(format!(
                "Loading plugin: {}",
                other.strip_prefix("plugin:").unwrap_or(other)
            )),
        });
    }

    fn on_notice(&self, notice: &SupervisionNotice) {
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

async fn run(home: Home, sink: ProgressSink, args: DaemonArgs) -> ExitCode {
    let sink = Arc::new(Mutex::new(sink));
    let fatal = |message: String| {
        if let Ok(mut sink) = sink.lock() {
            sink.report(Progress::Fatal(message.clone()));
            sink.finish();
        }
        tracing::error!("{message}");
        ExitCode::FAILURE
    };
    let instance = match Instance::acquire(&home) {
        Ok(instance) => instance,
        Err(err) => return fatal(err.to_string()),
    };
    let logs = match logging::init(&home, args.debug) {
        Ok(logs) => logs,
        Err(err) => {
            return fatal(format!(
                "cannot write logs in {}: {err}; check the folder's permissions",
                home.logs_dir().display()
            ))
        }
    };
    if !args.foreground {
        if let Err(err) = logging::capture_output(&logs) {
            tracing::warn!("the daemon's own output goes around the log hub: {err}");
        }
    }
    tracing::info!(
        "rosey daemon {} starting in {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        home.root().display(),
        std::process::id()
    );
    if instance.cleaned_stale {
        tracing::info!(
            "removed a stale pid file and socket left by a daemon that did not stop cleanly"
        );
    }
    let config = match Config::load(&home) {
        Ok(config) => config,
        Err(err) => return fatal(err.to_string()),
    };
    logs.set_limits(config.logs);
    let nats_binary = match nats_actor::find_binary(&home) {
        Ok(binary) => binary,
        Err(err) => return fatal(err),
    };
    let store = match nats_actor::fit_store(&home, config.nats.max_storage) {
        Ok(store) => store,
        Err(err) => return fatal(err.to_string()),
    };
    if config.nats.max_storage.is_none() && store.total() < StoreBudget::DEFAULT {
        tracing::warn!(
            "the message store is limited to {} so that it fits the disk holding {}; set nats.max_storage in rosey.yaml to choose its size",
            store.describe(),
            home.nats_store_dir().display()
        );
    }
    let nats_port = match resolve_port(&config) {
        Ok(port) => port,
        Err(err) => return fatal(err),
    };
    let nats_credentials = match rosey_core::bus::Credentials::load_or_create(&home)
        .and_then(|credentials| credentials.with_tls(&home, config.nats.tls.as_ref()))
    {
        Ok(credentials) => credentials,
        Err(err) => return fatal(err.to_string()),
    };
    let rosey_exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return fatal(format!("cannot find the rosey executable: {err}")),
    };
    let spawner = match process::Spawner::new() {
        Ok(spawner) => spawner,
        Err(err) => return fatal(format!("cannot start the process spawner: {err}")),
    };
    let listener = match instance.bind_socket() {
        Ok(listener) => listener,
        Err(err) => return fatal(err.to_string()),
    };
    let web_token = if config.web.enabled {
        match crate::web::token::resolve(&home, &config.web) {
            Ok(token) => token,
            Err(err) => return fatal(err),
        }
    } else {
        None
    };
    let web = if config.web.enabled {
        match crate::web::bind(&config) {
            Ok(bound) => Some(bound),
            Err(err) => return fatal(err),
        }
    } else {
        None
    };
    let reporter = Reporter {
        sink: sink.clone(),
        starting: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        nats_url: format!("{}:{}", config.nats.host, nats_port),
        // The link that signs a browser in; it goes to the terminal (or the CLI's progress
        // pipe), never to the logs.
        web_url: web
            .as_ref()
            .map(|bound| crate::web::token::link(&bound.url, web_token.as_deref()))
            .unwrap_or_default(),
    };
    let (notices, notice_publisher) = Notices::new();
    let board = Board::default();
    let (connector, local) = match chat::connect(&config.bot) {
        Ok(connectors) => connectors,
        Err(err) => return fatal(err),
    };
    let waiters = ReplyWaiters::default();
    let daemon_slot = crate::web::DaemonSlot::default();
    let extra_services = web
        .into_iter()
        .map(|bound| {
            crate::web::service(
                bound,
                &config,
                web_token.clone(),
                daemon_slot.clone(),
                notices.feed.clone(),
                board.clone(),
            )
        })
        .collect();
    let ctx = StackContext {
        home: home.clone(),
        config: config.clone(),
        nats_binary,
        nats_port,
        store,
        nats_credentials,
        host_program: rosey_actors::services::plugin::HostProgram::beside(&rosey_exe),
        spawner,
        board: board.clone(),
        connector: connector.clone(),
        waiters: waiters.clone(),
        host_log_level: if args.debug {
            "debug"
        } else {
            config.logs.plugins.as_str()
        }
        .to_owned(),
        listener: {
            let reporter = reporter.clone();
            let notices = notices.clone();
            Arc::new(move |notice: SupervisionNotice| {
                notices.supervision(&notice);
                reporter.on_notice(&notice);
            })
        },
        on_starting: {
            let reporter = reporter.clone();
            Arc::new(move |unit: &str| reporter.on_starting(unit))
        },
        logs: logs.clone(),
        extra_services,
    };
    let (stack, mut root_done) = match Stack::start(ctx).await {
        Ok(started) => started,
        Err(StackError::Supervisor(SupervisorError::StartFailed { child, reason })) => {
            // The services start all or nothing: what started is stopped again already.
            let _ = connector.close().await;
            let fix = verdict::fix_for(&child, &reason, &home);
            return fatal(format!("not started: {child} failed: {reason}. Fix: {fix}"));
        }
        Err(err) => {
            let _ = connector.close().await;
            return fatal(format!("not started: {err}"));
        }
    };
    if let Some(reason) = chat::refused(connector.as_ref()) {
        // Refused for good (a wrong password): retrying cannot help, so start fails now.
        let _ = sup::shutdown(&stack.root, Duration::from_secs(60)).await;
        let _ = connector.close().await;
        return fatal(format!("the bot cannot join the chat: {reason}"));
    }
    let verdict = verdict::judge(&stack, &home).await;
    if let verdict::Verdict::ServicesDown(message) = &verdict {
        // Never `Started all` over a failed service: nothing is left running, and the CLI
        // exits non-zero with what failed and the fix.
        let _ = sup::shutdown(&stack.root, Duration::from_secs(60)).await;
        stack.end_spares();
        let _ = connector.close().await;
        return fatal(format!("not started: {message}"));
    }
    match stack.client().await {
        Ok(client) => notice_publisher.start(client),
        Err(err) => tracing::warn!("supervision notices are not published on NATS: {err}"),
    }
    reporter
        .starting
        .store(false, std::sync::atomic::Ordering::SeqCst);
    reporter.report(match verdict {
        verdict::Verdict::PluginsDown(plugins) => {
            tracing::warn!(
                "started, but these plugins do not run: {}",
                plugins.join(", ")
            );
            Progress::StartedExcept(plugins)
        }
        _ => Progress::Ready,
    });
    if let Ok(mut sink) = sink.lock() {
        sink.finish();
    }
    tracing::info!("stack ready");

    let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = Arc::new(Daemon {
        home: home.clone(),
        stack: stack.clone(),
        board,
        local: local.clone(),
        waiters,
        started: Instant::now(),
        shutdown: shutdown_tx,
        plugin_ops: Default::default(),
        notices: notices.clone(),
    });
    // The dashboard has been serving 503 "still starting" until now.
    let _ = daemon_slot.set(daemon.clone());
    let server = tokio::spawn(control_server::serve(listener, daemon));
    let chat_line = match &local {
        Some(_) => {
            "Chat here: type a line (as `you`, or `name: text`), e.g. !roll 2d6. Ctrl+C stops."
                .to_owned()
        }
        None => format!(
            "The bot is in CyTube channel {}: chat there. Ctrl+C stops.",
            config.bot.channel
        ),
    };
    if let Some(banner) = &args.dev {
        crate::dev::print_ready_banner(
            &home,
            banner,
            &format!("nats://{}", reporter.nats_url),
            &reporter.web_url,
        );
        println!("{chat_line}");
        crate::dev::echo_logs(logs.subscribe());
    } else if args.foreground {
        println!();
        println!("{chat_line}");
        println!(
            "Other terminals: rosey --home {} status",
            home.root().display()
        );
    }
    if let (true, Some(local)) = (args.foreground, &local) {
        spawn_terminal_chat(local.clone());
    }
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        _ => return fatal("cannot install signal handlers".to_owned()),
    };
    let escalated = tokio::select! {
        _ = term.recv() => { tracing::info!("SIGTERM: stopping"); None }
        _ = int.recv() => { tracing::info!("SIGINT: stopping"); None }
        reason = shutdown_rx.recv() => { tracing::info!("stop requested by {}", reason.unwrap_or_default()); None }
        _ = &mut root_done => Some("a service failed past its restart limit".to_owned()),
    };
    server.abort();
    if args.foreground {
        println!("Stopping services...");
    }
    if escalated.is_none() {
        if let Err(err) = sup::shutdown(&stack.root, Duration::from_secs(60)).await {
            tracing::error!("shutdown: {err}");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut root_done).await;
    }
    stack.end_spares();
    if let Err(err) = connector.close().await {
        tracing::warn!("closing the chat connection: {err}");
    }
    drop(instance);
    match escalated {
        Some(reason) => {
            tracing::error!(
                "rosey stopped: {reason}; see the log lines above for the failing service"
            );
            if args.foreground {
                eprintln!(
                    "✗ rosey stopped: {reason}; see {}",
                    home.service_log("rosey").display()
                );
            }
            ExitCode::FAILURE
        }
        None => {
            tracing::info!("rosey stopped");
            if args.foreground {
                println!("✓ Stopped all");
            }
            ExitCode::SUCCESS
        }
    }
}

/// The NATS port: the configured one, or a free one picked now when the config says 0.
fn resolve_port(config: &Config) -> Result<u16, String> {
    if config.nats.port != 0 {
        return Ok(config.nats.port);
    }
    std::net::TcpListener::bind((config.nats.host.as_str(), 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("cannot find a free port on {}: {err}", config.nats.host))
}

/// Under `--foreground`: lines typed here are chat from `you` (or `name: text`), and
/// everything the bot says is printed.
fn spawn_terminal_chat(connector: Arc<LocalConnector>) {
    let mut said = connector.subscribe_outgoing();
    tokio::spawn(async move {
        while let Ok(out) = said.recv().await {
            println!("rosey: {}", out.text());
        }
    });
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let (user, text) = line.split_once(": ").unwrap_or(("you", line.as_str()));
            if text.trim().is_empty() {
                continue;
            }
            if let Err(err) = connector.inject(user.trim(), text.trim(), messaging::Source::Chat) {
                eprintln!("cannot send: {err}");
                break;
            }
        }
    });
}
