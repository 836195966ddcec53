//! The rosey daemon: one per home. It takes the home's lock, starts the supervision tree
//! (nats, bot, plugins), serves the control socket, and on SIGINT, SIGTERM or `rosey stop`
//! stops everything in reverse order and leaves nothing running. A service that fails past its
//! restart intensity escalates to the root, which stops the stack and says why. It is the only
//! writer of the home's log files (`logging`).

mod chat;
mod control_server;
pub mod instance;
mod logging;
pub mod metrics;
mod notices;
pub(crate) mod ops;
pub mod peer;
pub mod progress;
mod reporter;
mod systemd;
mod verdict;

use std::{
    io::{BufRead, IsTerminal},
    os::fd::FromRawFd,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rosey_actors::{
    stack::{BuildError, HostProgram, PreparedStack, Stack, StackError},
    SupervisionNotice, SupervisorError,
};
use rosey_core::{
    config::Config, connector::local::LocalConnector, logs::LogHub, messaging, paths::Home,
};
use tokio::signal::unix::{signal, SignalKind};

use self::{
    instance::Instance,
    notices::Notices,
    ops::Daemon,
    progress::{Progress, ProgressSink},
    reporter::Reporter,
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
    /// Run as a plugin node (`rosey node start`): nats (clustered) and the node service, no
    /// bot, no dashboard.
    #[arg(long)]
    pub node: bool,
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

async fn run(home: Home, sink: ProgressSink, args: DaemonArgs) -> ExitCode {
    let sink = Arc::new(Mutex::new(sink));
    let systemd = Arc::new(systemd::Systemd::from_env());
    let fatal = |message: String| {
        systemd.status(&message);
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
    let logs = match start_logging(&home, &args, instance.cleaned_stale) {
        Ok(logs) => logs,
        Err(message) => return fatal(message),
    };
    let config = match Config::load(&home) {
        Ok(config) => config,
        Err(err) => return fatal(err.to_string()),
    };
    logs.set_limits(config.logs);
    // Before the stack starts, so its first events are counted.
    tokio::spawn(metrics::sample_history(metrics::install()));
    let listener = match instance.bind_socket() {
        Ok(listener) => listener,
        Err(err) => return fatal(err.to_string()),
    };
    let dashboard = match Dashboard::bind(&home, &config, args.node) {
        Ok(dashboard) => dashboard,
        Err(message) => return fatal(message),
    };
    let reporter = Reporter::new(sink.clone(), dashboard.link());
    let (notices, notice_publisher) = Notices::new();
    let prepared = match prepare_stack(&home, config, logs.clone(), &args, &reporter, &notices) {
        Ok(prepared) => prepared,
        Err(err) => return fatal(err.to_string()),
    };
    reporter.set_nats_url(prepared.nats_url().trim_start_matches("nats://").to_owned());
    let daemon_slot = crate::web::DaemonSlot::default();
    let prepared = dashboard.serve(prepared, daemon_slot.clone(), &notices);
    let config = prepared.config().clone();
    let (stack, mut root_done) = match prepared.start().await {
        Ok(started) => started,
        Err(err) => return fatal(not_started(&home, err)),
    };
    if let Some(reason) = chat::refused(stack.connector().as_ref()) {
        // Refused for good (a wrong password): retrying cannot help, so start fails now.
        let _ = stack.shutdown(Duration::from_secs(60)).await;
        return fatal(format!("the bot cannot join the chat: {reason}"));
    }
    let verdict = verdict::judge(&stack, &home).await;
    if let verdict::Verdict::ServicesDown(message) = &verdict {
        // Never `Started all` over a failed service: nothing is left running, and the CLI
        // exits non-zero with what failed and the fix.
        let _ = stack.shutdown(Duration::from_secs(60)).await;
        return fatal(format!("not started: {message}"));
    }
    match stack.client().await {
        Ok(client) => notice_publisher.start(client),
        Err(err) => tracing::warn!("supervision notices are not published on NATS: {err}"),
    }
    reporter.started();
    let ready = match verdict {
        verdict::Verdict::PluginsDown(plugins) => {
            tracing::warn!(
                "started, but these plugins do not run: {}",
                plugins.join(", ")
            );
            systemd.ready(&format!(
                "running, except plugins {} (rosey status says why)",
                plugins.join(", ")
            ));
            Progress::StartedExcept(plugins)
        }
        _ => {
            systemd.ready("running");
            Progress::Ready
        }
    };
    reporter.report(ready);
    if let Some(interval) = systemd.watchdog_interval() {
        watch_dog(systemd.clone(), interval, stack.root().get_cell());
    }
    if let Ok(mut sink) = sink.lock() {
        sink.finish();
    }
    tracing::info!("stack ready");

    let (shutdown_tx, mut shutdown_rx) = tokio::sync::mpsc::unbounded_channel();
    let daemon = Arc::new(Daemon {
        home: home.clone(),
        stack: stack.clone(),
        board: stack.board().clone(),
        local: stack.local().cloned(),
        waiters: stack.reply_waiters().clone(),
        started: Instant::now(),
        shutdown: shutdown_tx,
        plugin_ops: Default::default(),
        notices: notices.clone(),
        logs: logs.clone(),
    });
    // The dashboard has been serving 503 "still starting" until now.
    let _ = daemon_slot.set(daemon.clone());
    let server = tokio::spawn(control_server::serve(listener, daemon));
    greet(&home, &args, &config, &reporter, &stack, &logs);
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
    systemd.stopping();
    shut_down(&home, &args, &stack, &mut root_done, instance, escalated).await
}

/// Pings systemd's watchdog every `interval` while the root supervisor lives: a daemon whose
/// tree died, or whose runtime wedged, stops pinging and is restarted by systemd.
fn watch_dog(
    systemd: Arc<systemd::Systemd>,
    interval: std::time::Duration,
    root: ractor::ActorCell,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        loop {
            ticks.tick().await;
            if root.get_status() != ractor::ActorStatus::Running {
                return;
            }
            systemd.notify("WATCHDOG=1");
        }
    });
}

/// Opens the home's logs (the daemon is their only writer) and, in the background, sends the
/// daemon's own output there too.
fn start_logging(home: &Home, args: &DaemonArgs, cleaned_stale: bool) -> Result<LogHub, String> {
    let logs = logging::init(home, args.debug).map_err(|err| {
        format!(
            "cannot write logs in {}: {err}; check the folder's permissions",
            home.logs_dir().display()
        )
    })?;
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
    if cleaned_stale {
        tracing::info!(
            "removed a stale pid file and socket left by a daemon that did not stop cleanly"
        );
    }
    Ok(logs)
}

/// The stack as the daemon runs it: the builder's defaults, with the daemon's logs, plugin
/// hosts beside this binary, and every notice logged, published and shown as progress.
fn prepare_stack(
    home: &Home,
    config: Config,
    logs: LogHub,
    args: &DaemonArgs,
    reporter: &Reporter,
    notices: &Notices,
) -> Result<PreparedStack, String> {
    let rosey_exe = std::env::current_exe()
        .map_err(|err| format!("cannot find the rosey executable: {err}"))?;
    let host_log_level = if args.debug {
        "debug".to_owned()
    } else {
        config.logs.plugins.as_str().to_owned()
    };
    let builder = Stack::builder(home.clone());
    let builder = if args.node { builder.node() } else { builder };
    builder
        .config(config)
        .logs(logs)
        .host_program(HostProgram::beside(&rosey_exe))
        .host_log_level(host_log_level)
        .listener({
            let reporter = reporter.clone();
            let notices = notices.clone();
            Arc::new(move |notice: SupervisionNotice| {
                notices.supervision(&notice);
                reporter.on_notice(&notice);
            })
        })
        .on_starting({
            let reporter = reporter.clone();
            Arc::new(move |unit: &str| reporter.on_starting(unit))
        })
        .prepare()
        .map_err(|err| err.to_string())
}

/// The last line of a start that failed: what failed, why, and the fix.
fn not_started(home: &Home, err: BuildError) -> String {
    match err {
        BuildError::Start(StackError::Supervisor(SupervisorError::StartFailed {
            child,
            reason,
        })) => {
            // The services start all or nothing: what started is stopped again already.
            let fix = verdict::fix_for(&child, &reason, home);
            format!("not started: {child} failed: {reason}. Fix: {fix}")
        }
        other => format!("not started: {other}"),
    }
}

/// The dashboard (`web.enabled`): its port bound and its token resolved before anything
/// starts, so a taken port or a bad token fails the start at once.
struct Dashboard {
    bound: Option<crate::web::Bound>,
    token: Option<String>,
}

impl Dashboard {
    /// A node (`node`) has no dashboard: the main daemon's shows it.
    fn bind(home: &Home, config: &Config, node: bool) -> Result<Dashboard, String> {
        if !config.web.enabled || node {
            return Ok(Dashboard {
                bound: None,
                token: None,
            });
        }
        let token = crate::web::token::resolve(home, &config.web)?;
        let bound = crate::web::bind(config)?;
        Ok(Dashboard {
            bound: Some(bound),
            token,
        })
    }

    /// The link that signs a browser in; it goes to the terminal (or the CLI's progress
    /// pipe), never to the logs.
    fn link(&self) -> String {
        self.bound
            .as_ref()
            .map(|bound| crate::web::token::link(&bound.url, self.token.as_deref()))
            .unwrap_or_default()
    }

    /// Adds the dashboard to the stack, as the root's last service.
    fn serve(
        self,
        prepared: PreparedStack,
        daemon: crate::web::DaemonSlot,
        notices: &Notices,
    ) -> PreparedStack {
        let Some(bound) = self.bound else {
            return prepared;
        };
        let service = crate::web::service(
            bound,
            prepared.config(),
            self.token,
            daemon,
            notices.feed.clone(),
            prepared.board(),
        );
        prepared.extra_service(service)
    }
}

/// What the terminal shows once the stack is up (`--foreground`, `rosey dev`).
fn greet(
    home: &Home,
    args: &DaemonArgs,
    config: &Config,
    reporter: &Reporter,
    stack: &Stack,
    logs: &LogHub,
) {
    if let Some(node) = stack.node_name() {
        if args.foreground {
            println!();
            println!("Node {node} is running: the main daemon places plugins here. Ctrl+C stops.");
            println!(
                "Other terminals: rosey --home {} status",
                home.root().display()
            );
        }
        return;
    }
    let local = stack.local();
    let chat_line = match local {
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
            home,
            banner,
            &format!("nats://{}", reporter.nats_url()),
            &reporter.web_url,
        );
        println!("{chat_line}");
        crate::dev::echo_logs(home, logs.subscribe());
    } else if args.foreground {
        println!();
        println!("{chat_line}");
        println!(
            "Other terminals: rosey --home {} status",
            home.root().display()
        );
    }
    if let (true, Some(local)) = (args.foreground, local) {
        spawn_terminal_chat(local.clone());
    }
}

/// Stops the stack (unless a service's escalation already did), leaves nothing running, gives
/// up the home, and says how it ended.
async fn shut_down(
    home: &Home,
    args: &DaemonArgs,
    stack: &Stack,
    root_done: &mut tokio::task::JoinHandle<()>,
    instance: Instance,
    escalated: Option<String>,
) -> ExitCode {
    if args.foreground {
        println!("Stopping services...");
    }
    if escalated.is_none() {
        if let Err(err) = stack.shutdown(Duration::from_secs(60)).await {
            tracing::error!("shutdown: {err}");
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), root_done).await;
    } else {
        stack.end_spares();
        if let Err(err) = stack.connector().close().await {
            tracing::warn!("closing the chat connection: {err}");
        }
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
                    home.service_log(rosey_core::logs::ALL).display()
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
