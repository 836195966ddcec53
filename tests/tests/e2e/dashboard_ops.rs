//! The dashboard as the operator's tool, end to end: a real stack (`rosey start`, nats-server,
//! plugin hosts) driven by headless Chromium and by plain HTTP requests. Plugins are
//! installed by upload (refused with the CLI's own message, the home unchanged, when the
//! archive is broken), updated after a confirmation, removed after one; dead letters are
//! replayed and purged from the page; a plugin's log pane shows new lines as they are written;
//! the last hour's charts draw what the daemon counted.

use std::{collections::BTreeMap, path::Path, time::Duration};

use rosey_e2e::{
    browser::Browser,
    cli::{fake_plugin_files, sha256_hex, with_checksums, zip_bytes},
    stack::{repack, with_version, TestStack},
};

const WAIT: Duration = Duration::from_secs(30);

/// The dashboard's URL, from `rosey status` (the `web` service's detail).
fn web_url(stack: &TestStack) -> String {
    let web = stack.unit("web");
    web["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("web shows no URL: {web}"))
        .to_owned()
}

/// `Bearer <the generated token>`.
fn bearer(stack: &TestStack) -> String {
    let token = std::fs::read_to_string(stack.home.path().join("data/web-token"))
        .expect("the generated token");
    format!("Bearer {}", token.trim())
}

/// A browser on the page, signed in with the link `rosey status` prints, once `plugin` shows
/// as running.
fn open_page(stack: &TestStack, plugin: &str) -> Browser {
    let mut browser = Browser::launch();
    browser.navigate(&stack.dashboard_link());
    browser.wait_until(
        &format!("{} === 'running'", row_field(plugin, "state")),
        WAIT,
        &format!("{plugin} listed as running"),
    );
    browser
}

fn row_field(unit: &str, field: &str) -> String {
    format!(
        "(document.querySelector('tr[data-unit=\"{unit}\"] td[data-field=\"{field}\"]')?.textContent ?? '')"
    )
}

/// What the page's element `selector` says, once it has class `class` and says something.
fn wait_text(browser: &mut Browser, selector: &str, class: &str, what: &str) -> String {
    let value = browser.wait_until(
        &format!(
            "(() => {{ const e = document.querySelector('{selector}'); return e && e.classList.contains('{class}') && !e.textContent.endsWith('…') ? e.textContent : ''; }})()"
        ),
        WAIT,
        what,
    );
    value.as_str().unwrap_or_default().to_owned()
}

/// Chooses `archive` in the upload form and sends it; clears the last result first.
fn upload(browser: &mut Browser, archive: &Path) {
    browser.eval("document.querySelector('#upload-result').className = ''; document.querySelector('#upload-result').textContent = ''");
    browser.set_files("#upload-file", &[archive]);
    let chosen = browser.eval("document.querySelector('#upload-file').files[0]?.name ?? ''");
    assert_eq!(
        chosen.as_str(),
        archive.file_name().and_then(|name| name.to_str()),
        "the file input holds the archive"
    );
    browser.eval("document.querySelector('#upload-send').click()");
}

/// Waits for the page's confirmation bar; returns its question.
fn confirmation(browser: &mut Browser) -> String {
    let text = browser.wait_until(
        "document.querySelector('#confirm').hidden ? '' : document.querySelector('#confirm-text').textContent",
        WAIT,
        "the page to ask for confirmation",
    );
    text.as_str().unwrap_or_default().to_owned()
}

/// The home's plugins as files, each path with the sha256 of its content (`dir/` for a
/// folder): the registry, its lock, and everything under `data/plugins/`. (The whole home
/// changes while a stack runs: logs, the message store.)
fn plugin_files(stack: &TestStack) -> BTreeMap<String, String> {
    let data = stack.home.path().join("data");
    let mut files = BTreeMap::new();
    let mut folders = vec![data.join("plugins")];
    for file in ["registry.json", "registry.lock"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            files.insert(file.to_owned(), sha256_hex(&bytes));
        }
    }
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            let shown = path
                .strip_prefix(&data)
                .expect("inside data/")
                .display()
                .to_string();
            if path.is_dir() {
                folders.push(path);
                files.insert(shown, "dir/".to_owned());
            } else {
                let bytes = std::fs::read(&path).expect("read");
                files.insert(shown, sha256_hex(&bytes));
            }
        }
    }
    files
}

/// Uploads waiting in the home (there must be none once a request is answered).
fn leftover_uploads(stack: &TestStack) -> Vec<String> {
    std::fs::read_dir(stack.home.path().join("data/run"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".upload"))
                .collect()
        })
        .unwrap_or_default()
}

/// What `rosey plugin install <file name>` says when it refuses `archive`, run from the
/// archive's folder, without the `error: ` prefix.
fn cli_refusal(stack: &TestStack, archive: &Path) -> String {
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");
    let stderr = stack.home.run_err(&["plugin", "install", name]);
    stderr
        .trim()
        .strip_prefix("error: ")
        .unwrap_or_else(|| panic!("not an error line: {stderr}"))
        .to_owned()
}

#[test]
fn an_uploaded_archive_is_installed_and_a_broken_one_is_refused_in_the_clis_words() {
    let stack = TestStack::with_plugins(&["8ball"]);
    stack.start();
    let scratch = stack.home.scratch();
    // Beside the broken ones, in the folder the CLI runs from, so both name it alike.
    let dice = scratch.join("dice-roller-0.1.0.roseyplug");
    std::fs::copy(stack.home.pack("dice-roller"), &dice).expect("copy the archive");
    let mut browser = open_page(&stack, "8ball");
    let eight_pid = stack.unit("8ball")["pid"].clone();

    // Broken archives: each refused with the message the CLI gives for the same file, nothing
    // on disk changed, no upload left behind, the running plugin untouched.
    let mut traversal = with_checksums(fake_plugin_files("fake-plugin", "1.0.0", &["fake"]));
    traversal.push(("../evil".into(), b"x".to_vec()));
    let bad_manifest: Vec<(String, Vec<u8>)> = fake_plugin_files("fake-plugin", "1.0.0", &[])
        .into_iter()
        .map(|(name, data)| {
            if name == "manifest.yaml" {
                (name, b"name: Not A Name!\nversion: one\n".to_vec())
            } else {
                (name, data)
            }
        })
        .collect();
    let abi = stack.home.pack("fixtures/abi-mismatch");
    let broken = [
        ("not-a-zip.roseyplug", b"just some text\n".to_vec()),
        ("traversal.roseyplug", zip_bytes(&traversal)),
        (
            "bad-manifest.roseyplug",
            zip_bytes(&with_checksums(bad_manifest)),
        ),
        (
            "abi-mismatch.roseyplug",
            std::fs::read(&abi).expect("the abi-mismatch archive"),
        ),
    ];
    let before = plugin_files(&stack);
    for (name, bytes) in broken {
        let archive = scratch.join(name);
        std::fs::write(&archive, bytes).expect("write archive");
        upload(&mut browser, &archive);
        let shown = wait_text(&mut browser, "#upload-result", "error", name);
        assert_eq!(shown, cli_refusal(&stack, &archive), "{name}");
        assert!(
            shown.starts_with(&format!("cannot install {name}: ")),
            "{shown}"
        );
        assert_eq!(plugin_files(&stack), before, "{name}: the home changed");
        assert!(leftover_uploads(&stack).is_empty(), "{name}");
    }
    assert!(
        !scratch.join("evil").exists() && !stack.home.path().join("evil").exists(),
        "nothing unpacked outside"
    );
    assert_eq!(stack.unit("8ball")["pid"], eight_pid, "8ball was disturbed");

    // A good one: installed, loaded, and it answers in the chat box.
    upload(&mut browser, &dice);
    let result = wait_text(
        &mut browser,
        "#upload-result",
        "ok",
        "dice-roller installed",
    );
    assert!(
        result.starts_with("installed dice-roller v0.1.0 in ") && result.contains(" ms"),
        "{result}"
    );
    assert!(result.contains("Permissions: send_messages"), "{result}");
    assert_eq!(stack.registry_version("dice-roller"), "0.1.0");
    assert!(leftover_uploads(&stack).is_empty());
    browser.wait_until(
        &format!("{} === 'running'", row_field("dice-roller", "state")),
        WAIT,
        "dice-roller listed as running",
    );
    let reply = browser.dashboard_say("alice", "!roll 2d6", WAIT);
    assert!(reply.starts_with("rosey: alice rolled 2d6: ["), "{reply}");
    // The same archive again is the CLI's refusal too.
    upload(&mut browser, &dice);
    let again = wait_text(
        &mut browser,
        "#upload-result",
        "error",
        "a second install refused",
    );
    assert!(again.contains("v0.1.0 is already installed"), "{again}");
    assert_eq!(again, cli_refusal(&stack, &dice));
}

#[test]
fn an_update_and_a_remove_wait_for_the_operators_confirmation() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let packed = stack.home.pack("dice-roller");
    let newer = stack.home.scratch().join("dice-roller-0.2.0.roseyplug");
    repack(&packed, &newer, |text| with_version(text, "0.2.0"), None);
    let mut browser = open_page(&stack, "dice-roller");
    let old_pid = stack.unit("dice-roller")["pid"].clone();

    // Cancelled: nothing changes.
    upload(&mut browser, &newer);
    let question = confirmation(&mut browser);
    assert!(
        question.contains("Update dice-roller from v0.1.0 to v0.2.0?"),
        "{question}"
    );
    browser.eval("document.querySelector('#confirm-no').click()");
    let kept = wait_text(&mut browser, "#upload-result", "ok", "the update cancelled");
    assert_eq!(kept, "not updated: dice-roller stays at v0.1.0");
    assert_eq!(stack.registry_version("dice-roller"), "0.1.0");
    assert_eq!(stack.unit("dice-roller")["pid"], old_pid);

    // Confirmed: swapped in, and it answers.
    upload(&mut browser, &newer);
    confirmation(&mut browser);
    browser.eval("document.querySelector('#confirm-yes').click()");
    let updated = wait_text(&mut browser, "#upload-result", "ok", "the update done");
    assert!(
        updated.starts_with("updated dice-roller v0.1.0 → v0.2.0 in ") && updated.contains(" ms"),
        "{updated}"
    );
    assert_eq!(stack.registry_version("dice-roller"), "0.2.0");
    stack.wait_for_unit("dice-roller", WAIT, "running v0.2.0", |unit| {
        unit["state"] == "running" && unit["version"] == "0.2.0"
    });
    assert!(stack
        .say_until("!roll 1d6", "rolled 1d6", WAIT)
        .contains("rolled 1d6"));

    // Remove: cancelled first, then confirmed.
    let remove = "document.querySelector('tr[data-unit=\"dice-roller\"] button[data-action=\"remove\"]').click()";
    browser.eval(remove);
    let question = confirmation(&mut browser);
    assert!(question.contains("Remove dice-roller?"), "{question}");
    browser.eval("document.querySelector('#confirm-no').click()");
    browser.wait_until(
        "document.querySelector('#message').textContent === 'dice-roller was not removed'",
        WAIT,
        "the remove cancelled",
    );
    assert_eq!(stack.registry_version("dice-roller"), "0.2.0");
    browser.eval(remove);
    confirmation(&mut browser);
    browser.eval("document.querySelector('#confirm-yes').click()");
    browser.wait_until(
        "document.querySelector('#message').textContent === 'removed dice-roller v0.2.0'",
        WAIT,
        "the remove done",
    );
    assert!(!stack.home.path().join("data/plugins/dice-roller").exists());
    let registry = std::fs::read_to_string(stack.home.path().join("data/registry.json"))
        .expect("the registry");
    assert!(!registry.contains("dice-roller"), "{registry}");
    assert!(
        !stack.status()["plugins"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|unit| unit["name"] == "dice-roller"),
        "still in the stack"
    );
    browser.wait_until(
        "!document.querySelector('tr[data-unit=\"dice-roller\"]')",
        WAIT,
        "dice-roller's row gone",
    );
}

// The other tests, in files of their own beside this one.
#[path = "dashboard_ops/api.rs"]
mod api;
#[path = "dashboard_ops/charts.rs"]
mod charts;
#[path = "dashboard_ops/dead_letters.rs"]
mod dead_letters;
