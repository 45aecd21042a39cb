// #/workflows: every registered workflow with its executions, success rate, p95 duration and KPIs.

import { api, enc, TERMINAL } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";
import { between, fmtDuration, fmtRate, percentile, pick } from "../lib/format.js";
import { declaredMetrics, kpiCell } from "../lib/insights.js";

const WORKFLOWS_MS = 5000; // workflows list (stats) refresh

async function workflowStats(name) {
  try {
    const m = await api(`/workflows/${enc(name)}/metrics`);
    let rate = pick(m, "completionRate", "successRate", "executions.completionRate");
    if (typeof rate === "number" && rate > 1) rate /= 100;
    let p95 = pick(m, "durationMs.p95", "duration.p95", "durationP95Ms", "duration.p95Ms");
    const p95s = pick(m, "durationSeconds.p95", "durationS.p95");
    if (p95 === undefined && typeof p95s === "number") p95 = p95s * 1000;
    let count = pick(m, "executions", "count", "total", "executionCount");
    if (typeof count !== "number") count = pick(m, "executions.total", "executions.count");
    return { rate: rate ?? null, p95: p95 ?? null, count: count ?? null, source: "metrics API", metrics: m };
  } catch {
    // no metrics endpoint (or it failed): compute from the recent executions instead
  }
  const list = await api(`/executions?workflow=${enc(name)}&limit=500`);
  const done = list.filter((e) => TERMINAL.has(e.status));
  const completed = done.filter((e) => e.status === "completed").length;
  const durations = done.map((e) => between(e.createdAt, e.finishedAt)).filter((d) => d !== null);
  return {
    rate: done.length ? completed / done.length : null,
    p95: percentile(durations, 95),
    count: list.length,
    source: "the latest 500 executions",
  };
}

export async function workflowsPage(view, page) {
  document.title = "Workflows · dashboard";
  const body = h("tbody", { testid: "workflows-body" });
  const table = h(
    "table",
    { testid: "workflows-table" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Workflow"), h("th", { class: "num" }, "Version"), h("th", {}, "Description"),
      h("th", { class: "num" }, "Executions"), h("th", { class: "num" }, "Success rate"),
      h("th", { class: "num" }, "p95 duration"), h("th", {}, "KPIs (mean)"), h("th", {}, ""))),
    body,
  );
  fill(view, h("h1", {}, "Workflows"), h("div", { class: "panel" }, table));

  const rows = new Map();
  async function load() {
    const workflows = await api("/workflows");
    if (!page.alive) return false;
    if (!workflows.length) {
      fill(body, h("tr", {}, h("td", { colspan: 8, class: "empty", testid: "no-workflows" },
        "No workflows registered yet. Register one with POST /workflows or `workflows register`.")));
      rows.clear();
      return true;
    }
    const seen = new Set();
    for (const wf of workflows) {
      seen.add(wf.name);
      let row = rows.get(wf.name);
      if (!row) {
        row = {
          count: h("td", { class: "num", testid: `count-${wf.name}` }, "…"),
          rate: h("td", { class: "num", testid: `success-rate-${wf.name}` }, "…"),
          p95: h("td", { class: "num", testid: `p95-${wf.name}` }, "…"),
          kpis: h("td", { testid: `kpis-${wf.name}` }, "…"),
          version: h("td", { class: "num" }),
          description: h("td", { class: "muted" }),
        };
        row.tr = h("tr", { testid: `workflow-row-${wf.name}` },
          h("td", {}, h("a", { href: `#/executions?workflow=${enc(wf.name)}` }, h("strong", {}, wf.name))),
          row.version, row.description, row.count, row.rate, row.p95, row.kpis,
          h("td", {}, h("div", { class: "actions nowrap" },
            h("a", { class: "button primary", href: `#/start/${enc(wf.name)}`, testid: `start-${wf.name}` }, "Start"),
            h("a", { class: "button", href: `#/executions?workflow=${enc(wf.name)}` }, "Executions"),
            h("a", { class: "button", href: `#/metrics/${enc(wf.name)}`, testid: `metrics-${wf.name}` }, "Metrics"),
            h("a", { class: "button", href: `#/editor/${enc(wf.name)}`, testid: `edit-${wf.name}` }, "Edit"),
            h("a", { class: "button", href: `#/versions/${enc(wf.name)}`, testid: `versions-${wf.name}` }, "Versions"))));
        rows.set(wf.name, row);
      }
      row.version.textContent = `v${wf.latestVersion}`;
      row.description.textContent = wf.description || "";
    }
    for (const name of [...rows.keys()]) if (!seen.has(name)) rows.delete(name);
    fill(body, ...workflows.map((wf) => rows.get(wf.name).tr));
    await Promise.all(workflows.map(async (wf) => {
      const row = rows.get(wf.name);
      try {
        const stats = await workflowStats(wf.name);
        row.count.textContent = stats.count ?? "–";
        row.rate.textContent = fmtRate(stats.rate);
        row.p95.textContent = fmtDuration(stats.p95);
        for (const cell of [row.count, row.rate, row.p95]) cell.title = `from ${stats.source}`;
        const declared = await declaredMetrics(wf.name).catch(() => []);
        fill(row.kpis, stats.metrics ? kpiCell(stats.metrics, declared) : "–");
      } catch {
        row.rate.textContent = row.p95.textContent = "?";
      }
    }));
    return true;
  }
  await load();
  page.every(WORKFLOWS_MS, load);
}
