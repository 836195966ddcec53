//! `rosey dev`: a real dev session on a plugin crate written by the test. Editing the crate's
//! source rebuilds it and hot-reloads the new build; a broken edit shows the compiler's error and
//! leaves the running build alone; rosey's own writes (its home sits inside the crate here, the
//! worst case) never trigger a rebuild; a crate created in the workspace's `plugins/` while dev
//! mode runs is picked up; Ctrl+C stops everything.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rosey_e2e::{
    cli::{rosey_bin, workspace_root},
    process::ChildGuard,
    stack::processes_mentioning,
};

/// A plugin answering `!probe` with `text`.
fn plugin_source(text: &str) -> String {
    format!(
        r#"//! dev-mode probe plugin
use rosey_abi::{{export_plugin, Command, Context, LoadContext, Plugin, PluginResult}};

struct Probe;

impl Plugin for Probe {{
    fn load(_ctx: &LoadContext<'_>) -> PluginResult<Self> {{
        Ok(Probe)
    }}

    fn on_command(&mut self, ctx: &Context<'_>, _cmd: &Command<'_>) -> PluginResult<()> {{
        ctx.reply("{text}");
        Ok(())
    }}
}}

export_plugin!(Probe);
"#
    )
}

/// A standalone plugin crate (its own workspace) `crate_name` in `dir`, the plugin `plugin`
/// answering `!probe`, building into the workspace's target folder so rosey-abi's release build
/// is reused. Each test uses a crate name of its own, so its library never overwrites one that
/// other tests load.
fn write_crate(dir: &Path, crate_name: &str, plugin: &str) {
    let abi = workspace_root().join("rosey-abi");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{crate_name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nrosey-abi = {{ path = {:?} }}\n\n\
             [workspace]\n",
            abi.display().to_string()
        ),
    )
    .expect("write Cargo.toml");
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))
        .expect("copy Cargo.lock");
    std::fs::write(
        dir.join("manifest.yaml"),
        format!("name: {plugin}\ndescription: answers !probe\nauthor: tests\ncommands: [probe]\npermissions: [send_messages]\n"),
    )
    .expect("write manifest.yaml");
    std::fs::write(dir.join("src/lib.rs"), plugin_source("probe v1")).expect("write lib.rs");
}

/// Everything `rosey dev` printed so far, collected by reader threads.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<String>>);

impl Transcript {
    fn collect(&self, stream: impl std::io::Read + Send + 'static) {
        let text = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut text = text.lock().expect("transcript");
                text.push_str(&line);
                text.push('\n');
            }
        });
    }

    fn text(&self) -> String {
        self.0.lock().expect("transcript").clone()
    }

    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }

    fn wait_for_count(&self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(needle) < count {
            assert!(
                Instant::now() < deadline,
                "`rosey dev` never printed {needle:?} {count} times; it printed:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn rosey(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(rosey_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rosey")
}

fn say(home: &Path, text: &str) -> String {
    String::from_utf8_lossy(&rosey(home, &["say", text, "--timeout", "8"]).stdout).into_owned()
}

fn installed_version(home: &Path) -> String {
    rosey_e2e::host::installed_version(home, "dev-probe")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// `rosey dev` on `home`, run from `cwd`, with everything it prints collected; returns once
/// its stack is up.
fn start_dev(home: &Path, cwd: &Path) -> (ChildGuard, Transcript) {
    let mut command = Command::new(rosey_bin());
    command
        .arg("--home")
        .arg(home)
        .arg("dev")
        .env(rosey_e2e::cli::HOME_MARK_ENV, home)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut dev = ChildGuard::spawn("rosey dev", command);
    let transcript = Transcript::default();
    transcript.collect(dev.take_stdout().expect("stdout piped"));
    transcript.collect(dev.take_stderr().expect("stderr piped"));
    transcript.wait_for_count("Development mode active", 1, Duration::from_secs(60));
    (dev, transcript)
}

/// Ctrl+C: `rosey dev` stops everything gracefully and leaves no process behind.
fn stop_dev(mut dev: ChildGuard, transcript: &Transcript, home: &Path) {
    dev.signal(libc::SIGINT);
    let status = dev.expect_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", transcript.text());
    assert!(transcript.text().contains("✓ Stopped all"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(home).is_empty() {
        assert!(Instant::now() < deadline, "processes left behind");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dev_mode_rebuilds_and_reloads_a_changed_plugin_and_keeps_it_on_a_broken_build() {
    let root = tempfile::tempdir().expect("tempdir");
    let crate_dir = root.path().join("probe");
    write_crate(&crate_dir, "rosey-dev-probe", "dev-probe");
    // The home inside the crate: its logs and data change constantly and must not count as
    // edits of the crate.
    let home = crate_dir.join("devhome");
    std::fs::create_dir_all(&home).expect("mkdir home");
    std::fs::write(
        home.join("rosey.yaml"),
        format!(
            "{}dev:\n  watch: [..]\n  debounce_ms: 200\n",
            rosey_e2e::stack::TEST_CONFIG
        ),
    )
    .expect("write rosey.yaml");

    let (dev, transcript) = start_dev(&home, root.path());
    assert!(
        transcript.text().contains("dev-probe ("),
        "{}",
        transcript.text()
    );
    // The dashboard's link, signed in with the token generated into the home.
    let token = std::fs::read_to_string(home.join("data/web-token")).expect("generated token");
    assert!(
        transcript
            .text()
            .contains(&format!("/?token={}", token.trim())),
        "{}",
        transcript.text()
    );

    // Nothing installed yet: the first save builds and installs it.
    std::fs::write(crate_dir.join("src/lib.rs"), plugin_source("probe v1")).expect("write");
    // (The ✓ line is dev mode's own; log lines echoed to the terminal name the version too.)
    transcript.wait_for_count("✓ dev-probe v0.1.0+dev.", 1, Duration::from_secs(300));
    assert!(
        transcript.text().contains("installed and started"),
        "{}",
        transcript.text()
    );
    assert!(say(&home, "!probe").contains("probe v1"));
    let first = installed_version(&home);

    // An edit: rebuilt and reloaded.
    std::fs::write(crate_dir.join("src/lib.rs"), plugin_source("probe v2")).expect("write");
    transcript.wait_for_count(" reloaded (built in", 1, Duration::from_secs(300));
    assert!(say(&home, "!probe").contains("probe v2"));
    let second = installed_version(&home);
    assert_ne!(first, second);
    let versions = std::fs::read_dir(home.join("data/plugins/dev-probe/versions"))
        .expect("versions")
        .count();
    assert_eq!(versions, 1, "old dev builds are pruned");
    // A dev build is installed like any version, and sandboxed like one.
    let status: serde_json::Value =
        serde_json::from_slice(&rosey(&home, &["status", "--json"]).stdout).expect("status json");
    let probe = status["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|unit| unit["name"] == "dev-probe")
        .unwrap_or_else(|| panic!("no dev-probe in {status}"));
    assert_eq!(probe["sandbox"], "full", "{probe}");

    // A broken edit: the compiler's error is shown and v2 keeps answering.
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        plugin_source("probe v3").replace("Ok(Probe)", "Ok(Probe"),
    )
    .expect("write");
    transcript.wait_for_count("keeps running", 1, Duration::from_secs(300));
    let text = transcript.text();
    assert!(
        text.contains("could not compile `rosey-dev-probe`"),
        "the compiler's error is shown:\n{text}"
    );
    assert!(text.contains(&format!("v{second} keeps running")), "{text}");
    assert!(say(&home, "!probe").contains("probe v2"));
    assert_eq!(installed_version(&home), second);

    // Three edits, three builds: rosey's own writes in the home (logs of every `say`, the
    // registry, the plugin's storage) triggered none.
    for _ in 0..3 {
        say(&home, "!probe");
    }
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        transcript.count("sources changed"),
        3,
        "{}",
        transcript.text()
    );

    // Ctrl+C stops everything gracefully.
    stop_dev(dev, &transcript, &home);
}

#[test]
fn dev_mode_picks_up_a_plugin_crate_created_in_the_workspace_while_it_runs() {
    // A workspace laid out like a rosey checkout, with no plugin crate yet; `rosey dev` is run
    // from it with no `dev.watch`, so it watches the workspace's plugins/.
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        root.path().join("Cargo.toml"),
        "[workspace]\nmembers = []\n",
    )
    .expect("write Cargo.toml");
    std::fs::create_dir_all(root.path().join("plugins")).expect("mkdir plugins");
    let home = root.path().join("devhome");
    std::fs::create_dir_all(&home).expect("mkdir home");
    std::fs::write(
        home.join("rosey.yaml"),
        format!(
            "{}dev:\n  debounce_ms: 200\n",
            rosey_e2e::stack::TEST_CONFIG
        ),
    )
    .expect("write rosey.yaml");
    let (dev, transcript) = start_dev(&home, root.path());
    assert!(
        transcript.text().contains("new plugin crates in"),
        "{}",
        transcript.text()
    );

    // A new crate: watched and built without a restart.
    let crate_dir = root.path().join("plugins/newcomer");
    write_crate(&crate_dir, "rosey-dev-newcomer", "dev-newcomer");
    transcript.wait_for_count(
        "+ dev-newcomer: new plugin crate",
        1,
        Duration::from_secs(60),
    );
    transcript.wait_for_count("✓ dev-newcomer v0.1.0+dev.", 1, Duration::from_secs(300));
    assert!(
        transcript.text().contains("installed and started"),
        "{}",
        transcript.text()
    );
    assert!(say(&home, "!probe").contains("probe v1"));

    // From then on it is watched like any other: an edit is rebuilt and reloaded.
    std::fs::write(crate_dir.join("src/lib.rs"), plugin_source("probe v2")).expect("write");
    transcript.wait_for_count(" reloaded (built in", 1, Duration::from_secs(300));
    assert!(say(&home, "!probe").contains("probe v2"));
    assert_eq!(
        transcript.count("sources changed"),
        2,
        "one build for the new crate, one for the edit:\n{}",
        transcript.text()
    );

    stop_dev(dev, &transcript, &home);
}
