// #/metrics/<name>: a workflow's outcomes and KPIs over its executions (GET /workflows/{name}/metrics).

import { api, enc } from "../lib/api.js";
import { h, fill, errorBox } from "../lib/dom.js";
import { formatKpi } from "../lib/insights.js";

const METRICS_MS = 5000;

export async function metricsPage(view, page, name) {
  document.title = `Metrics ${name} · dashboard`;
  const facts = h("div", { class: "facts", testid: "metrics-facts" });
  const body = h("tbody", { testid: "metrics-kpis" });
  const statuses = h("div", { testid: "metrics-statuses" });
  fill(view,
    h("div", { class: "crumbs" }, h("a", { href: "#/workflows" }, "← Workflows")),
    h("h1", {}, "Metrics ", h("span", { class: "sub" }, name)),
    h("div", { class: "panel" }, h("h2", {}, "Outcomes", h("span", { class: "spacer" }),
      h("a", { class: "button", href: `#/executions?workflow=${enc(name)}` }, "Executions")), facts, statuses),
    h("div", { class: "panel" }, h("h2", {}, "KPIs"),
      h("table", { testid: "metrics-table" },
        h("thead", {}, h("tr", {},
          h("th", {}, "KPI"), h("th", {}, "Unit"), h("th", { class: "num" }, "Executions"), h("th", { class: "num" }, "Missing"),
          h("th", { class: "num" }, "Mean"), h("th", { class: "num" }, "p50"), h("th", { class: "num" }, "p95"),
          h("th", { class: "num" }, "Min"), h("th", { class: "num" }, "Max"))),
        body)),
  );
  const fact = (label, value, testid) => h("div", { testid }, h("span", {}, label), h("strong", {}, value));
  async function load() {
    let m;
    try {
      m = await api(`/workflows/${enc(name)}/metrics`);
    } catch (err) {
      if (page.alive) fill(view, errorBox(err));
      return false;
    }
    if (!page.alive) return false;
    const d = m.durationMs || {};
    const ms = (v) => (v === null || v === undefined ? "–" : formatKpi(Math.round(v), "ms"));
    fill(facts,
      fact("Executions summarized", `${m.executions} (newest, up to ${m.limit})`, "metrics-executions"),
      fact("Completion rate", m.completionRate === null || m.completionRate === undefined ? "–" : formatKpi(100 * m.completionRate, "percent"), "metrics-completion"),
      fact("Duration p50 (completed)", ms(d.p50), "metrics-duration-p50"),
      fact("Duration p95 (completed)", ms(d.p95), "metrics-duration-p95"));
    fill(statuses, Object.entries(m.byStatus || {}).map(([status, count]) =>
      h("span", { class: `badge s-${status}`, testid: `metrics-status-${status}`, style: "margin-right:8px" }, `${status.replace("_", " ")} ${count}`)));
    const kpis = Object.entries(m.kpis || {});
    if (!kpis.length) {
      fill(body, h("tr", {}, h("td", { colspan: 9, class: "empty" }, "This workflow declares no KPIs.")));
      return true;
    }
    fill(body, kpis.map(([kpi, s]) => h("tr", { testid: `metrics-kpi-${kpi}` },
      h("td", {}, h("strong", {}, kpi), s.description ? h("div", { class: "small muted" }, s.description) : null),
      h("td", {}, s.unit || "–"),
      h("td", { class: "num" }, String(s.count)),
      h("td", { class: "num" }, String(s.missing)),
      ...["mean", "p50", "p95", "min", "max"].map((f) => h("td", { class: "num", testid: `metrics-${kpi}-${f}` }, formatKpi(s[f], s.unit))))));
    return true;
  }
  if (await load()) page.every(METRICS_MS, load);
}
