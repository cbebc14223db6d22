// The overview's live refresh: every 5 s, the numbers and charts from overview.json.
"use strict";
(function () {
  const table = document.getElementById("services");
  if (!table) return;
  const show = (field, value) =>
    value === null || value === undefined ? "-" : field === "oldest_unpublished" ? value + " s" : String(value);
  async function refresh() {
    const answer = await fetch(table.dataset.source, { credentials: "same-origin", cache: "no-store" });
    if (answer.status === 401) { window.location.reload(); return; }
    if (!answer.ok) return;
    const data = await answer.json();
    document.getElementById("bus").textContent = data.bus;
    document.getElementById("updated").textContent = data.at;
    document.getElementById("samples").textContent = data.samples;
    for (const s of data.services) {
      const row = table.querySelector(`tr[data-service="${CSS.escape(s.name)}"]`);
      if (!row) continue;
      for (const cell of row.querySelectorAll("[data-field]")) {
        const field = cell.dataset.field;
        if (field === "health") {
          cell.textContent = s.health;
          cell.className = s.healthy ? "ok" : "bad";
        } else if (field === "ready") {
          cell.textContent = s.ready ? "ready" : "not ready";
          cell.className = s.ready ? "ok" : "bad";
        } else if (field === "sagas") {
          const parts = Object.keys(s.sagas).sort().map((k) => `${k} ${s.sagas[k]}`);
          cell.textContent = parts.length ? parts.join(", ") : "-";
        } else {
          cell.textContent = show(field, s[field]);
        }
      }
      for (const line of row.querySelectorAll("polyline[data-chart]")) {
        line.setAttribute("points", s.charts[line.dataset.chart] || "");
      }
    }
  }
  setInterval(() => refresh().catch(() => {}), 5000);
})();
