// The dashboard's "Nodes" table (served at /nodes.js, loaded before page.js): the plugin nodes
// the main daemon's status lists (its `nodes`, there only when it has some), drawn by
// page.js's render() through renderNodes(status) each time a status arrives. The section
// stays hidden when there are none. Node names, addresses and plugin names come from other
// machines: only ever set as text. Rows carry data-node and data-state, cells a class and
// data-field naming their field (for scripts and tests). Uses page.js's duration() and
// megabytes() (called only after page.js has loaded).
"use strict";
const renderNodes = (() => {
  const FIELDS = ["name", "state", "server_name", "address", "plugins", "memory", "room", "heartbeat", "uptime"];

  function text(node, field) {
    switch (field) {
      case "plugins": return node.plugins && node.plugins.length ? node.plugins.join(", ") : "(none)";
      case "memory": return megabytes(node.memory_bytes);
      case "room": return megabytes(node.room_bytes);
      case "heartbeat": return node.last_heartbeat_ms == null ? "-" : (node.last_heartbeat_ms / 1000).toFixed(1) + " s ago";
      case "uptime": return duration(node.uptime_secs);
      default: return node[field] == null ? "-" : String(node[field]);
    }
  }

  function row(node) {
    const tr = document.createElement("tr");
    tr.dataset.node = node.name;
    tr.dataset.state = node.state;
    for (const field of FIELDS) {
      const td = document.createElement("td");
      td.className = field;
      td.dataset.field = field;
      td.textContent = text(node, field);
      if (field === "state") td.dataset.value = node.state;
      tr.append(td);
    }
    return tr;
  }

  return (status) => {
    const nodes = (status && status.nodes) || [];
    document.getElementById("nodes-section").hidden = nodes.length === 0;
    document.querySelector("#nodes tbody").replaceChildren(...nodes.map(row));
  };
})();
