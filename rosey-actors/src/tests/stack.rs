//! Building a stack as an embedder does ([`Stack::builder`]): what `prepare` refuses and how
//! it names the fix, what a prepared stack tells and keeps of the embedder's own parts, what
//! `Debug` shows of the builder, the prepared and the running stack (never a password), and a
//! started stack's accessors and clean shutdown. Plus the kit the other in-process stack
//! tests share: a test-sized configuration and a guard that kills what a stack left.

use std::{sync::Arc, time::Duration};

use rosey_core::{
    bus::{BusUser, Credentials},
    config::Config,
    connector::{Connector, LocalConnector},
    messaging::StoreBudget,
    paths::Home,
};

use super::nats::nats_binary;
use crate::stack::{Board, BuildError, ExtraService, Stack, StackBuilder, UnitReport};

const MIB: u64 = 1024 * 1024;

/// A configuration for in-process stacks: a free NATS port, no warm spare hosts (no plugin
/// host program is at hand), fast restarts.
pub(super) fn test_config(extra_yaml: &str) -> Config {
    Config::parse(&format!(
        "nats:\n  port: 0\nplugin_host:\n  spares: 0\nsupervision:\n  services: {{ backoff_initial_ms: 20, backoff_max_ms: 100, shutdown_timeout_ms: 5000 }}\n{extra_yaml}"
    ))
    .expect("test config")
}

/// A builder for a stack in `dir` with `config` and the test nats-server.
pub(super) fn builder(dir: &tempfile::TempDir, config: Config) -> StackBuilder {
    Stack::builder(Home::new(dir.path()))
        .config(config)
        .nats_binary(nats_binary())
}

/// A running stack that is stopped when the test ends; if the test failed first, whatever
/// process the stack reported on its board is killed with its group.
pub(super) struct Running {
    /// The stack.
    pub(super) stack: Stack,
}

impl Running {
    /// Starts `builder`'s stack.
    pub(super) async fn start(builder: StackBuilder) -> Running {
        let (stack, _done) = builder.start().await.expect("the stack starts");
        Running { stack }
    }

    /// Stops the stack; `Err` says why it did not stop cleanly.
    pub(super) async fn stop(self) -> Result<(), crate::stack::StackError> {
        self.stack.shutdown(Duration::from_secs(30)).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for (_, pid) in self.stack.board().pids("") {
            // The bot reports this very process: only the children's groups are killed.
            if pid != std::process::id() {
                // SAFETY: a plain syscall on a process group the stack made.
                unsafe {
                    libc::killpg(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        self.stack.end_spares();
    }
}

#[tokio::test]
async fn prepare_refuses_a_logs_folder_it_cannot_write_and_names_it() {
    let dir = tempfile::tempdir().expect("temp home");
    // Where the logs folder should be there is a file.
    std::fs::write(dir.path().join("logs"), "not a folder").expect("write");
    let err = builder(&dir, test_config(""))
        .prepare()
        .expect_err("the logs cannot be written");
    assert!(
        matches!(&err, BuildError::Logs { folder, .. } if *folder == dir.path().join("logs")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot write logs in {}: ",
            dir.path().join("logs").display()
        )) && text.ends_with("; check the folder's permissions"),
        "{text}"
    );
}

#[tokio::test]
async fn prepare_refuses_a_nats_host_it_cannot_listen_on_and_names_it() {
    let dir = tempfile::tempdir().expect("temp home");
    // A documentation address (TEST-NET-1): no interface of this machine has it.
    let mut config = test_config("");
    config.nats.host = "192.0.2.1".to_owned();
    let err = builder(&dir, config)
        .prepare()
        .expect_err("no port can be had on that address");
    assert!(
        matches!(&err, BuildError::NoFreePort { host, .. } if host == "192.0.2.1"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot find a free port on 192.0.2.1: "),
        "{err}"
    );
}

#[tokio::test]
async fn without_a_config_prepare_reads_the_home_s_rosey_yaml_and_names_a_bad_key() {
    let dir = tempfile::tempdir().expect("temp home");
    let home = Home::new(dir.path());
    std::fs::write(
        home.config_file(),
        "bot:\n  name: yamlbot\nnats:\n  port: 0\nplugin_host:\n  spares: 0\n",
    )
    .expect("write rosey.yaml");
    let prepared = Stack::builder(home.clone())
        .nats_binary(nats_binary())
        .prepare()
        .expect("prepared from rosey.yaml");
    assert_eq!(prepared.config().bot.name, "yamlbot");

    std::fs::write(home.config_file(), "nats:\n  prot: 4222\n").expect("write rosey.yaml");
    let err = Stack::builder(home)
        .nats_binary(nats_binary())
        .prepare()
        .expect_err("a bad key is refused");
    assert!(matches!(err, BuildError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("prot"), "{err}");
}

#[tokio::test]
async fn a_prepared_stack_tells_its_settings_and_keeps_the_embedder_s_own_parts() {
    let dir = tempfile::tempdir().expect("temp home");
    let connector = Arc::new(LocalConnector::new());
    let board = Board::default();
    let mut config = test_config("");
    config.nats.max_storage = Some(32 * MIB);
    let prepared = builder(&dir, config)
        .connector(connector.clone())
        .board(board.clone())
        .host_log_level("debug")
        .prepare()
        .expect("prepared");
    assert_eq!(prepared.store(), StoreBudget::new(32 * MIB));
    assert_eq!(prepared.connector().name(), "local");
    assert!(
        prepared.local().is_none(),
        "the embedder's connector is its own to drive, not the stack's local chat"
    );
    // The board is the embedder's: what a unit reports there, the prepared stack sees.
    board.set(
        "dashboard",
        UnitReport {
            pid: Some(42),
            ..UnitReport::default()
        },
    );
    assert_eq!(
        prepared
            .board()
            .get("dashboard")
            .and_then(|report| report.pid),
        Some(42)
    );
    let url = prepared.nats_url();
    let port: u16 = url
        .strip_prefix("nats://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("{url}"));
    assert_ne!(port, 0, "the free port is picked at prepare");
}

#[tokio::test]
async fn debug_of_a_builder_and_a_prepared_stack_shows_their_parts_but_no_password() {
    let dir = tempfile::tempdir().expect("temp home");
    let secret = "cytube-password-never-shown";
    let config = test_config(&format!(
        "bot:\n  cytube:\n    password: {secret}\n    channel_password: {secret}\n"
    ));
    let dashboard = ExtraService::new("dashboard", |_supervisor: ractor::ActorCell| async {
        Err::<ractor::ActorCell, _>("not started in this test".into())
    });
    let builder = builder(&dir, config)
        .connector(Arc::new(LocalConnector::new()))
        .extra_service(dashboard);
    let shown = format!("{builder:?}");
    assert!(
        shown.starts_with("StackBuilder {")
            && shown.contains("connector: Some(\"local\")")
            && shown.contains("ExtraService { name: \"dashboard\", .. }"),
        "{shown}"
    );
    let prepared = builder.prepare().expect("prepared");
    let shown = format!("{prepared:?}");
    assert!(
        shown.contains("StackContext {")
            && shown.contains(&format!(
                "nats_port: {}",
                prepared.nats_url().rsplit(':').next().unwrap_or("?")
            ))
            && shown.contains("host_log_level: \"info\"")
            && shown.contains("ExtraService { name: \"dashboard\", .. }"),
        "{shown}"
    );
    let credentials = Credentials::load(&Home::new(dir.path())).expect("the bus's passwords");
    assert!(!shown.contains(secret), "{shown}");
    for user in [BusUser::Daemon, BusUser::Reader] {
        assert!(!shown.contains(credentials.password(user)), "{shown}");
    }
}

#[tokio::test]
async fn a_started_stack_tells_its_home_config_and_url_and_its_shutdown_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp home");
    let running = Running::start(builder(&dir, test_config("bot:\n  name: embedded\n"))).await;
    let stack = &running.stack;
    assert_eq!(stack.home().root(), dir.path());
    assert_eq!(stack.config().bot.name, "embedded");
    let url = stack.nats_url();
    let nats = stack.board().get("nats").expect("nats reported");
    assert_eq!(nats.detail.as_deref(), Some(url.as_str()));
    let pid = nats.pid.expect("the nats-server's pid");
    assert!(
        stack.local().is_some(),
        "the configured chat is the local one"
    );

    let shown = format!("{stack:?}");
    assert!(
        shown.starts_with("Stack {") && shown.contains("keeper: Keeper {"),
        "{shown}"
    );
    let credentials = Credentials::load(stack.home()).expect("the bus's passwords");
    for user in [BusUser::Daemon, BusUser::Reader] {
        assert!(!shown.contains(credentials.password(user)), "{shown}");
    }

    let stack = stack.clone();
    running.stop().await.expect("a clean shutdown");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "nats-server (pid {pid}) outlived the stack"
    );
    assert!(stack.plugins().is_none(), "the plugin supervisor stopped");
}
