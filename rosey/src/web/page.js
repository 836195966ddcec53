// The dashboard page's behaviour (served at /page.js beside page.html): the status table kept
// live from /api/events (and the Nodes table, which nodes.js draws), supervision notices, the
// local chat box, installs by upload, updates and removals after a confirmation, dead letters
// with replay and purge, and a plugin's log pane that follows live. Plain JS, no build step.
"use strict";
const $ = (selector) => document.querySelector(selector);
let installed = [];   // from /api/plugins: name, version, enabled
let lastStatus = null;

function el(tag, props, children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children || []) node.append(child);
  return node;
}

function say(text, error) {
  const box = $("#message");
  box.textContent = text;
  box.className = error ? "error" : "";
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (method === "POST") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
  return data;
}

// Asks on the page (a blocking confirm() would stall the page and its live updates); resolves
// to {ok, keep}, `keep` being the "keep its data" box when `keepOption` shows it.
let confirming = null;
function askConfirm(text, yesLabel, keepOption) {
  if (confirming) confirming({ ok: false, keep: false });
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yesLabel;
  $("#confirm-keep").checked = false;
  $("#confirm-keep-label").hidden = !keepOption;
  $("#confirm").hidden = false;
  $("#confirm-yes").focus();
  return new Promise((resolve) => {
    confirming = (answer) => {
      confirming = null;
      $("#confirm").hidden = true;
      resolve(answer);
    };
  });
}
$("#confirm-yes").addEventListener("click", () => confirming && confirming({ ok: true, keep: $("#confirm-keep").checked }));
$("#confirm-no").addEventListener("click", () => confirming && confirming({ ok: false, keep: false }));

async function removePlugin(name, button) {
  button.disabled = true;
  try {
    const answer = await askConfirm(`Remove ${name}? It is stopped, and its files, storage and config.yaml are deleted.`, `Remove ${name}`, true);
    if (!answer.ok) {
      say(`${name} was not removed`);
      return;
    }
    say(`removing ${name}…`);
    const data = await api("POST", `/api/plugins/${encodeURIComponent(name)}/remove`, { yes: true, keep_data: answer.keep });
    say(data.message);
    await loadInstalled();
  } catch (err) {
    say(`remove ${name} failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// The dashboard takes archives up to this size (the server says so too).
const MAX_UPLOAD = 64 * 1024 * 1024;

function uploadSay(text, error) {
  const box = $("#upload-result");
  box.textContent = text;
  box.className = error ? "error" : "ok";
  say(text.split("\n")[0], error);
}

async function upload(file, update) {
  const button = $("#upload-send");
  button.disabled = true;
  uploadSay(`${update ? "updating from" : "installing"} ${file.name}…`);
  try {
    const query = `file=${encodeURIComponent(file.name)}${update ? "&update=true" : ""}`;
    const response = await fetch(`/api/plugins/install?${query}`, {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
    });
    const data = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
    if (response.status === 409 && data.confirm && !update) {
      const { name, installed: from, offered } = data.confirm;
      uploadSay(`${name} v${from} is installed: update it to v${offered}? Answer above…`);
      const answer = await askConfirm(`Update ${name} from v${from} to v${offered}? The new version takes over with the plugin's state; if it fails to start, v${from} keeps running.`, `Update ${name}`, false);
      if (answer.ok) return await upload(file, true);
      uploadSay(`not updated: ${name} stays at v${from}`);
      return;
    }
    if (!response.ok) {
      uploadSay(data.error || `HTTP ${response.status}`, true);
      return;
    }
    uploadSay([data.plugin.message, ...data.plugin.notes].join("\n"));
    await loadInstalled();
  } catch (err) {
    uploadSay(`the upload failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

$("#upload").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = $("#upload-file").files[0];
  if (!file) return uploadSay("choose a .roseyplug file first", true);
  if (file.size > MAX_UPLOAD) {
    return uploadSay(`${file.name} is larger than 64 MiB, the most the dashboard takes: install it on the daemon's machine with \`rosey plugin install <file>\``, true);
  }
  upload(file, false);
});

function duration(secs) {
  if (secs == null) return "-";
  if (secs < 60) return secs + "s";
  if (secs < 3600) return Math.floor(secs / 60) + "m " + (secs % 60) + "s";
  return Math.floor(secs / 3600) + "h " + Math.floor((secs % 3600) / 60) + "m";
}

function megabytes(bytes) {
  return bytes == null ? "-" : (bytes / 1e6).toFixed(1) + " MB";
}

function actionButton(kind, name, action) {
  const button = el("button", { type: "button", textContent: action });
  button.dataset.action = action;
  button.dataset.unit = name;
  button.addEventListener("click", () => act(kind, name, action, button));
  return button;
}

async function act(kind, name, action, button) {
  if (action === "remove") return removePlugin(name, button);
  const unit = encodeURIComponent(name);
  const path = kind === "plugin" ? `/api/plugins/${unit}/${action}` : `/api/services/${unit}/restart`;
  button.disabled = true;
  say(`${action} ${name}…`);
  try {
    const data = await api("POST", path);
    say(data.message || `${action} ${name}: done`);
    if (action === "enable" || action === "disable") await loadInstalled();
  } catch (err) {
    say(`${action} ${name} failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function row(kind, unit) {
  const tr = el("tr");
  tr.dataset.unit = unit.name;
  tr.dataset.kind = kind;
  tr.dataset.state = unit.state;
  const name = kind === "plugin"
    ? el("a", { className: "unit", textContent: unit.name, title: "show its log" })
    : document.createTextNode(unit.name);
  if (kind === "plugin") name.addEventListener("click", () => showLog(unit.name));
  const cell = (field, text) => {
    const td = el("td", { textContent: text });
    td.dataset.field = field;
    td.dataset.value = text;
    return td;
  };
  const actions = el("td");
  actions.dataset.field = "actions";
  if (kind === "plugin") {
    if (unit.state === "disabled") {
      actions.append(actionButton(kind, unit.name, "enable"));
    } else {
      for (const action of ["reload", "restart", "disable"]) actions.append(actionButton(kind, unit.name, action));
    }
    actions.append(actionButton(kind, unit.name, "remove"));
  } else {
    actions.append(actionButton(kind, unit.name, "restart"));
  }
  const refused = Object.entries(unit.refused || {});
  const notes = [unit.detail, unit.last_exit && "last exit: " + unit.last_exit,
    unit.dead_letters ? unit.dead_letters + " dead letters" : null,
    kind === "plugin" && unit.dead_letters == null && unknownWhy("dead letters") ? "dead letters: unknown" : null,
    refused.length ? "refused: " + refused.reduce((sum, [, n]) => sum + n, 0) + " (" + refused.map(([key]) => key).join(", ") + ")" : null,
    unit.sandbox ? "sandbox: " + unit.sandbox : null,
    unit.held_back && unit.held_back.length ? "held back: " + unit.held_back.map((held) => held.user + " (" + held.why + ")").join(", ") : null,
    kind === "service" && unit.name === "nats" && lastStatus && lastStatus.jetstream ? "jetstream: " + lastStatus.jetstream : null,
  ].filter(Boolean).join(" · ");
  tr.append(el("td", {}, [name]), cell("state", unit.state), cell("version", unit.version || "-"),
    cell("pid", unit.pid == null ? "-" : String(unit.pid)), cell("uptime", duration(unit.uptime_secs)),
    cell("restarts", String(unit.restarts ?? 0)), cell("memory", megabytes(unit.memory_bytes)), actions,
    el("td", { className: "note", textContent: notes }));
  return tr;
}

// Why the last status could not find `what` out (its `unknown` list), if it could not.
function unknownWhy(what) {
  const found = ((lastStatus && lastStatus.unknown) || []).find((unknown) => unknown.what === what);
  return found ? found.why : null;
}

function render() {
  if (!lastStatus) return;
  // What the status could not tell, and a plugin supervisor that is not running: said, not
  // shown as an empty list or zero counts.
  const state = lastStatus.plugin_supervisor;
  $("#unknown").replaceChildren(...[
    state ? `plugins: ${state} (the plugin supervisor is ${state}${state === "stopped" ? ": rosey start plugins" : ""})` : null,
    ...(lastStatus.unknown || []).map((unknown) => `${unknown.what}: unknown (${unknown.why})`),
  ].filter(Boolean).map((text) => el("li", { textContent: text })));
  const body = $("#units tbody");
  const rows = lastStatus.services.map((unit) => row("service", unit));
  const running = new Set(lastStatus.plugins.map((unit) => unit.name));
  rows.push(...lastStatus.plugins.map((unit) => row("plugin", unit)));
  for (const plugin of installed) {
    if (!plugin.enabled && !running.has(plugin.name)) {
      rows.push(row("plugin", { name: plugin.name, state: "disabled", version: plugin.version, restarts: 0 }));
    }
  }
  // Keep a button that has focus (or is working) in place: replace only rows that changed.
  const old = new Map([...body.rows].map((tr) => [tr.dataset.kind + ":" + tr.dataset.unit, tr]));
  body.replaceChildren(...rows.map((tr) => {
    const before = old.get(tr.dataset.kind + ":" + tr.dataset.unit);
    if (before && before.querySelector("button:disabled")) return before;
    return tr;
  }));
  if (typeof renderNodes === "function") renderNodes(lastStatus);
}

function addNotice(notice) {
  const when = new Date(notice.time_ms || Date.now());
  const li = el("li", {}, [el("time", { textContent: when.toLocaleTimeString() }), notice.text || notice.event]);
  li.dataset.event = notice.event || "";
  li.dataset.unit = notice.unit || "";
  const feed = $("#feed");
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastChild.remove();
}

// The log pane follows one plugin's log live: the last lines, then each new one.
let following = null;
const LOG_KEEP = 2000;
function showLog(name) {
  if (following) following.close();
  const log = $("#log");
  const state = $("#log-state");
  log.dataset.plugin = name;
  $("#log-name").textContent = `Plugin log: ${name}`;
  state.textContent = "";
  log.textContent = "loading…";
  let lines = [];
  const draw = () => {
    const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    if (lines.length > LOG_KEEP) lines = lines.slice(-LOG_KEEP);
    log.textContent = lines.length ? lines.join("\n") : "(empty: new lines appear here)";
    if (atEnd) log.scrollTop = log.scrollHeight;
  };
  const events = new EventSource(`/api/plugins/${encodeURIComponent(name)}/log/follow?lines=200`);
  following = events;
  events.addEventListener("open", () => { state.textContent = "(following)"; state.dataset.state = "live"; });
  events.addEventListener("lines", (event) => {
    lines = JSON.parse(event.data);
    log.scrollTop = log.scrollHeight;
    draw();
    log.scrollTop = log.scrollHeight;
  });
  events.addEventListener("line", (event) => { lines.push(event.data); draw(); });
  events.addEventListener("skipped", (event) => { lines.push(`(${event.data} lines skipped: the log file has them)`); draw(); });
  events.addEventListener("error", async () => {
    if (following !== events) return;
    if (events.readyState !== EventSource.CLOSED) {
      state.textContent = "(reconnecting…)";
      state.dataset.state = "lost";
      return;
    }
    // Refused (no such plugin, no log): the plain request says why.
    state.textContent = "";
    try {
      await api("GET", `/api/plugins/${encodeURIComponent(name)}/log?lines=1`);
      log.textContent = "the live log stopped; click the plugin's name to follow it again";
    } catch (err) {
      log.textContent = err.message;
    }
  });
}

// Dead letters: listed, replayed and purged through the daemon.
function ago(ms) {
  const secs = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return secs < 60 ? `${secs} s ago` : secs < 3600 ? `${Math.floor(secs / 60)} min ago` : `${Math.floor(secs / 3600)} h ago`;
}

function dlSay(items, error) {
  $("#dl-result").replaceChildren(...items.map(([text, bad]) => el("li", { className: bad || error ? "error" : "ok", textContent: text })));
}

function dlButton(action, label, handler) {
  const button = el("button", { type: "button", textContent: label });
  button.dataset.action = action;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { await handler(); } finally { button.disabled = false; }
  });
  return button;
}

function replayed(report) {
  const items = report.replayed.map((letter) => [`✓ replayed dead letter ${letter.id}: ${letter.summary}`, false]);
  items.push(...report.refused.map((letter) => [`✗ dead letter ${letter.id} stays parked: ${letter.why}`, true]));
  return items.length ? items : [["no dead letters to replay", false]];
}

async function dlAct(path, body, describe) {
  try {
    const data = await api("POST", path, body);
    dlSay(describe(data));
  } catch (err) {
    dlSay([[err.message, true]]);
  }
  await loadDeadLetters();
}

async function purgeAsked(text, label, path) {
  const answer = await askConfirm(text, label, false);
  if (!answer.ok) return dlSay([["nothing was purged", false]]);
  await dlAct(path, { yes: true }, (data) => [[data.message, false]]);
}

let letterCounts = "";
async function loadDeadLetters() {
  let letters;
  try {
    letters = await api("GET", "/api/deadletters");
  } catch (err) {
    $("#dl-empty").textContent = `dead letters: unknown (${err.message})`;
    $("#dl-empty").hidden = false;
    return;
  }
  $("#dl-empty").textContent = "No dead letters.";
  $("#dl-empty").hidden = letters.length > 0;
  const rows = letters.map((letter) => {
    const tr = el("tr");
    tr.dataset.id = letter.id;
    tr.dataset.plugin = letter.plugin;
    const cell = (field, text) => {
      const td = el("td", { textContent: text });
      td.dataset.field = field;
      return td;
    };
    const id = encodeURIComponent(letter.id);
    tr.append(cell("id", String(letter.id)), cell("plugin", letter.plugin), cell("died", letter.attempts == null ? "?" : String(letter.attempts)),
      cell("parked", `${new Date(letter.parked_at_ms).toLocaleString()} (${ago(letter.parked_at_ms)})`), cell("summary", letter.summary),
      el("td", {}, [
        dlButton("replay", "replay", () => dlAct(`/api/deadletters/${id}/replay`, {}, replayed)),
        dlButton("purge", "purge", () => purgeAsked(`Purge dead letter ${letter.id} (${letter.summary})? It is removed for good.`, `Purge ${letter.id}`, `/api/deadletters/${id}/purge`)),
      ]));
    return tr;
  });
  $("#dead-letters tbody").replaceChildren(...rows);
  const perPlugin = new Map();
  for (const letter of letters) perPlugin.set(letter.plugin, (perPlugin.get(letter.plugin) || 0) + 1);
  $("#dl-plugins").replaceChildren(...[...perPlugin].map(([plugin, count]) => {
    const name = encodeURIComponent(plugin);
    const div = el("div", { className: "dl-plugin" }, [`${plugin} (${count}) `,
      dlButton("replay-all", "replay all", () => dlAct(`/api/deadletters/replay?plugin=${name}`, {}, replayed)),
      dlButton("purge-all", "purge all", () => purgeAsked(`Purge all ${count} dead letters of ${plugin}? They are removed for good.`, `Purge ${plugin}'s`, `/api/deadletters/purge?plugin=${name}`)),
    ]);
    div.dataset.plugin = plugin;
    return div;
  }));
}
$("#dl-refresh").addEventListener("click", loadDeadLetters);

// The status counts each plugin's dead letters: the list is read again when they change.
function watchLetterCounts() {
  if (!lastStatus) return;
  const counts = lastStatus.plugins.map((unit) => `${unit.name}:${unit.dead_letters ?? "?"}`).join(",");
  if (counts !== letterCounts) {
    letterCounts = counts;
    loadDeadLetters();
  }
}

async function loadInstalled() {
  try {
    installed = await api("GET", "/api/plugins");
    render();
  } catch (err) {
    say(`cannot list installed plugins: ${err.message}`, true);
  }
}

$("#chat").addEventListener("submit", async (event) => {
  event.preventDefault();
  const user = $("#chat-user").value.trim();
  const text = $("#chat-text").value.trim();
  if (!text) return;
  const chatLog = $("#chat-log");
  const line = (className, content) => {
    const li = el("li", { className, textContent: content });
    chatLog.append(li);
    chatLog.scrollTop = chatLog.scrollHeight;
  };
  line("said", `${user}: ${text}`);
  $("#chat-text").value = "";
  $("#chat-send").disabled = true;
  try {
    const data = await api("POST", "/api/chat", { user, text });
    if (data.replies.length === 0) line("none", "(no reply)");
    for (const reply of data.replies) line("reply", `rosey: ${reply}`);
  } catch (err) {
    line("error", err.message);
  } finally {
    $("#chat-send").disabled = false;
  }
});

function connect() {
  const events = new EventSource("/api/events");
  const conn = $("#conn");
  events.addEventListener("open", () => { conn.dataset.state = "live"; conn.textContent = "live"; });
  events.addEventListener("error", () => { conn.dataset.state = "lost"; conn.textContent = "reconnecting…"; });
  events.addEventListener("status", (event) => {
    lastStatus = JSON.parse(event.data);
    render();
    watchLetterCounts();
  });
  events.addEventListener("status_error", (event) => say(JSON.parse(event.data).error, true));
  events.addEventListener("notice", (event) => {
    const notice = JSON.parse(event.data);
    addNotice(notice);
    if (["started", "removed", "stopped"].includes(notice.event)) loadInstalled();
  });
}

(async () => {
  try {
    for (const notice of await api("GET", "/api/events/recent")) addNotice(notice);
  } catch (err) {
    say(`cannot read recent events: ${err.message}`, true);
  }
  try {
    lastStatus = await api("GET", "/api/status");
  } catch (err) {
    say(`cannot read the status: ${err.message}`, true);
  }
  await loadInstalled();
  watchLetterCounts();
  connect();
})();
