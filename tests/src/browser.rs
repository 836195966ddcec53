//! Headless Chromium driven over the DevTools protocol, for the dashboard tests.
//!
//! The browser is Debian's chromium made available by `scripts/install-chromium` (the path in
//! `ROSEY_CHROMIUM`, else `.tools/chromium/chromium`). It runs in a process group of its own
//! with a fresh profile in a temp dir (its own temporary files too) and is killed with its
//! whole group when the [`Browser`] is dropped ([`ChildGuard`]), the temp dir removed after. The client speaks just enough of the protocol: one page
//! target, attached with a flat session; navigate; evaluate JavaScript; poll until true (saving
//! a screenshot when the wait fails); choose the files of a file input.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

use crate::process::ChildGuard;

/// The chromium to run: `$ROSEY_CHROMIUM`, else the project's `.tools/chromium/chromium`.
/// Panics, saying what to run, when there is none.
pub fn chromium_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ROSEY_CHROMIUM") {
        return PathBuf::from(path);
    }
    let local = crate::workspace_root().join(".tools/chromium/chromium");
    assert!(
        local.exists(),
        "no chromium: run scripts/install-chromium (or set ROSEY_CHROMIUM to a chromium binary)"
    );
    local
}

/// A headless Chromium with one page, killed (with its process group) on drop.
pub struct Browser {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    _child: ChildGuard,
    _profile: tempfile::TempDir,
}

/// How long one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Browser {
    /// Starts Chromium and opens a blank page.
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = Command::new(chromium_path());
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            // Its own temporary files (`org.chromium.Chromium.*`) go in the profile's folder
            // too, so they end with it rather than pile up in the machine's /tmp.
            .env("TMPDIR", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn("chromium", command);
        let stderr = child.take_stderr().expect("chromium stderr");
        // Chromium prints its DevTools address on stderr; the rest of stderr keeps being read
        // (a full pipe would stall the browser) and dropped.
        let (found, url) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ws://") {
                    let _ = found.send(line[at..].trim().to_owned());
                }
            }
        });
        let url = url
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium printed no DevTools address within 60 s");
        let (ws, _) = tungstenite::connect(url.as_str())
            .unwrap_or_else(|err| panic!("cannot connect to chromium at {url}: {err}"));
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .expect("read timeout");
        }
        let mut browser = Browser {
            ws,
            session: String::new(),
            next_id: 0,
            _child: child,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        browser
    }

    /// Sends one protocol command (to the page's session once attached) and waits for its
    /// result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|err| panic!("{method}: cannot send: {err}"));
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "{method}: no answer within {CALL_TIMEOUT:?}"
            );
            let text = match self.ws.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(err) => panic!("{method}: the DevTools connection failed: {err}"),
            };
            let Ok(answer) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if answer["id"] != json!(id) {
                continue; // an event, or an answer to someone else
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    /// Opens `url` and waits until the document has loaded.
    pub fn navigate(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({ "url": url }));
        if let Some(error) = result.get("errorText") {
            panic!("cannot open {url}: {error}");
        }
        self.wait_until(
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            Duration::from_secs(30),
            "the page to load",
        );
    }

    /// Sets the files of the `<input type="file">` that `selector` finds, as if the user
    /// had chosen `files` in the browser's file dialog.
    pub fn set_files(&mut self, selector: &str, files: &[&std::path::Path]) {
        let document = self.call("DOM.getDocument", json!({ "depth": 0 }));
        let root = document["root"]["nodeId"].clone();
        let found = self.call(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": selector }),
        );
        let node = found["nodeId"].as_u64().unwrap_or(0);
        assert!(node != 0, "no element matches {selector}");
        let paths: Vec<String> = files
            .iter()
            .map(|file| file.to_str().expect("a UTF-8 path").to_owned())
            .collect();
        self.call(
            "DOM.setFileInputFiles",
            json!({ "nodeId": node, "files": paths }),
        );
    }

    /// Saves a PNG of the page as it looks now (for looking at a failing page by eye).
    pub fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = shot["data"].as_str().expect("screenshot data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot is base64");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value as JSON;
    /// panics when it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Says `text` as `user` in the dashboard's chat box (local connector) and waits for the
    /// bot's first reply there; returns its text (`rosey: …`).
    pub fn dashboard_say(&mut self, user: &str, text: &str, timeout: Duration) -> String {
        let (user, text) = (Value::from(user), Value::from(text));
        self.eval(&format!(
            "document.querySelector('#chat-user').value = {user};
             document.querySelector('#chat-text').value = {text};
             document.querySelector('#chat-send').click();"
        ));
        self.wait_until(
            "document.querySelector('#chat-log li.reply')?.textContent ?? ''",
            timeout,
            "the bot's reply in the chat box",
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Evaluates `expression` until it is truthy (not false, null, 0 or ""); returns that
    /// value. Panics after `timeout` naming `what` and the page's text.
    pub fn wait_until(&mut self, expression: &str, timeout: Duration, what: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''");
                let shot = std::env::temp_dir().join(format!(
                    "rosey-dashboard-{}-{}.png",
                    std::process::id(),
                    self.next_id
                ));
                self.screenshot(&shot);
                panic!(
                    "waited {timeout:?} for {what} ({expression}); the page (screenshot: {}) shows:\n{text}",
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
