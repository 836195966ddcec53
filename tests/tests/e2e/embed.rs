//! End to end, in process: a stack embedded with `Stack::builder` (a real nats-server, real
//! plugin hosts, a plugin installed with the real CLI) and the operator's plugin operations on
//! a plugin that is in the stack but not running: a reload starts it, an update starts it at
//! the new version, rolls back to the previous one when the new one cannot start, and says so
//! when neither comes back; configuring a plugin the stack does not have is no error.

use std::time::Duration;

use rosey_actors::{
    children,
    stack::{HostProgram, Stack, StackError},
    stop_child, ChildState,
};
use rosey_core::{paths::Home, registry::Registry};
use rosey_e2e::{
    cli::{rosey_bin, TempHome},
    nats::nats_server_bin,
    stack::TEST_CONFIG,
};

const PLUGIN: &str = "dice-roller";

/// A stack embedded in this test process, in a home with [`PLUGIN`] installed. Dropping it
/// kills whatever processes it still has (a failed test never stopped it).
struct Embedded {
    stack: Stack,
    /// The installed version of [`PLUGIN`].
    version: String,
    _home: TempHome,
}

impl Embedded {
    /// Installs [`PLUGIN`] with the CLI and starts the home's stack in process.
    async fn start() -> Embedded {
        let home = TempHome::new();
        std::fs::write(home.path().join("rosey.yaml"), TEST_CONFIG).expect("write rosey.yaml");
        let archive = home.pack(PLUGIN);
        home.run_ok(&["plugin", "install", archive.to_str().expect("utf-8 path")]);
        let root = Home::new(home.path());
        let version = Registry::load(&root)
            .expect("registry")
            .get(PLUGIN)
            .expect("installed")
            .version
            .to_string();
        let (stack, _done) = Stack::builder(root)
            .nats_binary(nats_server_bin())
            .host_program(HostProgram::beside(&rosey_bin()))
            .start()
            .await
            .expect("the embedded stack starts");
        Embedded {
            stack,
            version,
            _home: home,
        }
    }

    /// The plugin's state under the plugin supervisor (`None`: not in the stack).
    async fn plugin_state(&self) -> Option<ChildState> {
        let plugins = self.stack.plugins().expect("the plugin supervisor runs");
        children(&plugins)
            .await
            .expect("children")
            .into_iter()
            .find(|child| child.name == PLUGIN)
            .map(|child| child.state)
    }

    /// Stops the plugin (an operator's `rosey stop <plugin>`): in the stack, not running.
    async fn stop_plugin(&self) {
        let plugins = self.stack.plugins().expect("the plugin supervisor runs");
        stop_child(&plugins, PLUGIN).await.expect("stop the plugin");
        assert_eq!(self.plugin_state().await, Some(ChildState::Stopped));
    }

    /// The version the plugin's host reports on the board.
    fn running_version(&self) -> Option<String> {
        self.stack
            .board()
            .get(&rosey_actors::stack::unit_name(PLUGIN))
            .and_then(|report| report.version)
    }

    /// Stops the whole stack.
    async fn stop(self) {
        self.stack
            .shutdown(Duration::from_secs(30))
            .await
            .expect("a clean shutdown");
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        // The bot reports this very process: only the children's groups are killed.
        let children = self.stack.board().pids("").into_iter().map(|(_, pid)| pid);
        for pid in children.chain(self.stack.spare_pids()) {
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

/// The operator's reason in a [`StackError::Plugin`] about [`PLUGIN`].
fn plugin_reason(err: StackError) -> String {
    match err {
        StackError::Plugin { plugin, reason } if plugin == PLUGIN => reason,
        other => panic!("not an error about {PLUGIN}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_a_stopped_plugin_starts_it_again() {
    let embedded = Embedded::start().await;
    embedded.stop_plugin().await;
    assert_eq!(embedded.stack.reload_plugin(PLUGIN).await.ok(), Some(true));
    assert_eq!(embedded.plugin_state().await, Some(ChildState::Running));
    assert_eq!(
        embedded
            .stack
            .configure_plugin("not-in-the-stack")
            .await
            .ok(),
        Some(None),
        "nothing runs to take a configuration"
    );
    embedded.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_a_stopped_plugin_starts_it_at_the_new_version() {
    let embedded = Embedded::start().await;
    embedded.stop_plugin().await;
    let version = embedded.version.clone();
    embedded
        .stack
        .update_plugin(PLUGIN, &version, &version)
        .await
        .expect("the update starts it");
    assert_eq!(embedded.plugin_state().await, Some(ChildState::Running));
    assert_eq!(embedded.running_version(), Some(version));
    embedded.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_a_stopped_plugin_that_cannot_start_rolls_back_to_the_previous_version() {
    let embedded = Embedded::start().await;
    embedded.stop_plugin().await;
    let previous = embedded.version.clone();
    let err = embedded
        .stack
        .update_plugin(PLUGIN, "9.9.9", &previous)
        .await
        .expect_err("v9.9.9 is not installed");
    let reason = plugin_reason(err);
    assert!(
        reason.starts_with("v9.9.9 failed: ")
            && reason.ends_with(&format!(
                "; rolled back: v{previous} runs again with its state"
            )),
        "{reason}"
    );
    assert_eq!(embedded.plugin_state().await, Some(ChildState::Running));
    assert_eq!(embedded.running_version(), Some(previous));
    embedded.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_previous_version_cannot_start_either_says_neither_came_back() {
    let embedded = Embedded::start().await;
    embedded.stop_plugin().await;
    let err = embedded
        .stack
        .update_plugin(PLUGIN, "9.9.9", "8.8.8")
        .await
        .expect_err("neither version is installed");
    let reason = plugin_reason(err);
    assert!(
        reason.starts_with("v9.9.9 failed: ")
            && reason.contains("; and v8.8.8 did not come back either: "),
        "{reason}"
    );
    assert_eq!(embedded.plugin_state().await, None, "nothing of it is left");
    assert!(!embedded.stack.has_plugin(PLUGIN).await.expect("asked"));
    embedded.stop().await;
}
