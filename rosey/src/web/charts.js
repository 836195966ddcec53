// The dashboard's "Last hour" charts (served at /charts.js), drawn from the daemon's own
// in-memory history (GET /api/history: a point every 10 s, an hour of them): per plugin, its
// commands and answers per interval and its mean reply time; and the restarts per unit. Small
// SVG lines, no library. Each figure carries its totals as data attributes for scripts and
// tests (data-commands, data-answered, data-restarts).
"use strict";
(() => {
  const WIDTH = 360, HEIGHT = 48, NS = "http://www.w3.org/2000/svg";
  let every = 10;

  function line(values, max, cls) {
    const step = WIDTH / Math.max(values.length - 1, 1);
    const points = values.map((v, i) =>
      `${(i * step).toFixed(1)},${(HEIGHT - 2 - (max > 0 ? v / max : 0) * (HEIGHT - 4)).toFixed(1)}`);
    const poly = document.createElementNS(NS, "polyline");
    poly.setAttribute("points", points.join(" "));
    poly.setAttribute("class", cls);
    return poly;
  }

  function frame(title) {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("width", WIDTH);
    svg.setAttribute("height", HEIGHT);
    svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    const tip = document.createElementNS(NS, "title");
    tip.textContent = title;
    svg.append(tip);
    return svg;
  }

  function figure(attrs, caption, svgs) {
    const fig = document.createElement("figure");
    for (const [key, value] of Object.entries(attrs)) fig.dataset[key] = value;
    const cap = document.createElement("figcaption");
    cap.textContent = caption;
    fig.append(cap, ...svgs);
    return fig;
  }

  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const ms = (v) => (v < 10 ? v.toFixed(2) : v.toFixed(0)) + " ms";

  function render(points) {
    const root = document.getElementById("charts");
    const plugins = new Set(), units = new Set();
    for (const point of points) {
      Object.keys(point.plugins).forEach((name) => plugins.add(name));
      Object.keys(point.restarts).forEach((name) => units.add(name));
    }
    const figures = [];
    for (const name of [...plugins].sort()) {
      const commands = points.map((p) => p.plugins[name]?.commands ?? 0);
      const answered = points.map((p) => p.plugins[name]?.answered ?? 0);
      const replies = points.map((p) => p.plugins[name]?.reply_ms ?? null);
      const timed = replies.filter((v) => v !== null);
      const max = Math.max(...commands, ...answered);
      const counts = frame(`${name}: commands (solid) and answers (dashed) per ${every} s`);
      counts.append(line(commands, max, "commands"), line(answered, max, "answered"));
      const latency = frame(`${name}: mean time to the first reply per ${every} s`);
      latency.append(line(replies.map((v) => v ?? 0), Math.max(...timed, 0), "reply"));
      const mean = timed.length ? ms(sum(timed) / timed.length) : "no replies";
      figures.push(figure(
        { plugin: name, commands: sum(commands), answered: sum(answered) },
        `${name}: ${sum(commands)} commands, ${sum(answered)} answered; reply ${mean} on average`,
        [counts, latency]));
    }
    if (units.size) {
      const totals = [...units].sort().map((unit) =>
        `${unit} ${sum(points.map((p) => p.restarts[unit] ?? 0))}`);
      const perPoint = points.map((p) => sum(Object.values(p.restarts)));
      const restarts = frame(`restarts per ${every} s`);
      restarts.append(line(perPoint, Math.max(...perPoint), "restarts"));
      figures.push(figure({ restarts: sum(perPoint) }, `Restarts: ${totals.join(", ")}`, [restarts]));
    }
    if (!figures.length) {
      const empty = document.createElement("p");
      empty.id = "charts-empty";
      empty.className = "note";
      empty.textContent = points.length
        ? "Nothing happened in the last hour."
        : `Nothing yet: a point is taken every ${every} seconds.`;
      figures.push(empty);
    }
    root.replaceChildren(...figures);
  }

  async function refresh() {
    try {
      const response = await fetch("/api/history");
      if (!response.ok) return;
      const data = await response.json();
      every = data.interval_secs || every;
      render(data.points);
    } finally {
      setTimeout(refresh, every * 1000);
    }
  }
  refresh();
})();
