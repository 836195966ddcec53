//! The new API endpoints over plain HTTP: the token guards each of them, mistakes are named
//! with the right status code, and an upload is refused or taken as the CLI would.

use rosey_e2e::{
    http,
    stack::{repack, with_version, TestStack},
};
use serde_json::json;

use super::{bearer, leftover_uploads, plugin_files, web_url};

/// Asserts the API answered with `status` and a JSON error containing `says`.
fn expect_error(what: &str, answer: &http::HttpResponse, status: u16, says: &str) {
    assert_eq!(answer.status, status, "{what}: {answer:?}");
    let error = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains(says), "{what}: {error}");
}

#[test]
fn the_new_endpoints_need_the_token_and_answer_mistakes_with_json() {
    let stack = TestStack::with_plugins(&["dice-roller"]);
    stack.start();
    let url = web_url(&stack);
    let api = |path: &str| format!("{url}api/{path}");
    let bearer = bearer(&stack);
    let auth = [("Authorization", bearer.as_str())];

    // Without the token, nothing.
    for path in [
        "deadletters",
        "deadletters/1",
        "plugins/dice-roller/log/follow",
    ] {
        assert_eq!(http::get(&api(path), &[]).status, 401, "{path}");
    }
    for path in [
        "plugins/dice-roller/remove",
        "deadletters/1/replay",
        "deadletters/replay?plugin=dice-roller",
        "deadletters/1/purge",
        "deadletters/purge",
    ] {
        let answer = http::post_json(&api(path), &json!({ "yes": true }));
        assert_eq!(answer.status, 401, "{path}");
    }
    let dice = stack.home.pack("dice-roller");
    let bytes = std::fs::read(&dice).expect("archive");
    assert_eq!(
        http::post_bytes(&api("plugins/install?file=x.roseyplug"), &bytes, &[]).status,
        401
    );

    // Dead letters: none yet; mistakes named.
    let list = http::get(&api("deadletters"), &auth);
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(list.json(), json!([]));
    for (path, status, says) in [
        ("deadletters/999999", 404, "there is no dead letter 999999"),
        ("deadletters/abc", 400, "is not a dead letter's id"),
        ("deadletters?plugin=..%2Fx", 400, "not a plugin name"),
        ("plugins/no-such-plugin/log/follow", 404, "no plugin named"),
        ("plugins/..%2Fetc/log/follow", 400, "not a plugin name"),
    ] {
        expect_error(path, &http::get(&api(path), &auth), status, says);
    }
    for (path, body, status, says) in [
        (
            "deadletters/999999/replay",
            json!({}),
            404,
            "there is no dead letter 999999",
        ),
        (
            "deadletters/replay",
            json!({}),
            400,
            "name the plugin whose dead letters to replay",
        ),
        (
            "deadletters/replay?plugin=no-such",
            json!({}),
            404,
            "no-such is not installed",
        ),
        (
            "deadletters/1/purge",
            json!({}),
            409,
            "send {\"yes\": true} to confirm",
        ),
        (
            "deadletters/purge?plugin=dice-roller",
            json!({ "yes": false }),
            409,
            "purging dice-roller's dead letters removes it for good",
        ),
        (
            "plugins/no-such-plugin/remove",
            json!({ "yes": true }),
            404,
            "no plugin named \"no-such-plugin\" is installed",
        ),
        (
            "plugins/dice-roller/remove",
            json!({}),
            409,
            "removing dice-roller deletes its data",
        ),
        (
            "plugins/nats/remove",
            json!({ "yes": true }),
            404,
            "is a service",
        ),
    ] {
        expect_error(
            path,
            &http::post_json_with(&api(path), &body, &auth),
            status,
            says,
        );
    }
    let purged = http::post_json_with(
        &api("deadletters/purge?plugin=dice-roller"),
        &json!({ "yes": true }),
        &auth,
    );
    assert_eq!(purged.status, 200, "{purged:?}");
    assert_eq!(purged.json()["purged"], 0);

    // Uploads: the size limit, an empty body, a form (which a foreign page could send), and
    // the installed version again, each refused; the home unchanged and no upload left.
    let before = plugin_files(&stack);
    let install = api("plugins/install?file=dice-roller-0.1.0.roseyplug");
    let huge = http::request_bytes(
        "POST",
        &install,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "100000000"),
            auth[0],
        ],
        b"",
    );
    expect_error("too large", &huge, 413, "larger than 64 MiB");
    expect_error(
        "empty",
        &http::post_bytes(&install, b"", &auth),
        400,
        "the upload is empty",
    );
    let form = http::request_bytes(
        "POST",
        &install,
        &[("Content-Type", "multipart/form-data; boundary=x"), auth[0]],
        &bytes,
    );
    assert_eq!(form.status, 415, "{form:?}");
    let again = http::post_bytes(&install, &bytes, &auth);
    expect_error("again", &again, 409, "v0.1.0 is already installed");
    assert_eq!(plugin_files(&stack), before);
    assert!(leftover_uploads(&stack).is_empty());

    // A newer version needs update=true; with it, it is swapped in.
    let newer = stack.home.scratch().join("dice-roller-0.3.0.roseyplug");
    repack(&dice, &newer, |text| with_version(text, "0.3.0"), None);
    let newer_bytes = std::fs::read(&newer).expect("archive");
    let asked = http::post_bytes(&install, &newer_bytes, &auth);
    assert_eq!(asked.status, 409, "{asked:?}");
    assert_eq!(
        asked.json()["confirm"],
        json!({ "name": "dice-roller", "installed": "0.1.0", "offered": "0.3.0" })
    );
    assert_eq!(stack.registry_version("dice-roller"), "0.1.0");
    let updated = http::post_bytes(&format!("{install}&update=true"), &newer_bytes, &auth);
    assert_eq!(updated.status, 200, "{updated:?}");
    let plugin = updated.json()["plugin"].clone();
    assert_eq!(plugin["previous"], "0.1.0", "{plugin}");
    assert_eq!(plugin["version"], "0.3.0", "{plugin}");
    assert!(plugin["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{plugin}");
    assert_eq!(stack.registry_version("dice-roller"), "0.3.0");
    assert!(leftover_uploads(&stack).is_empty());
}
