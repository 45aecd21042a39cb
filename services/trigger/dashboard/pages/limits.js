// #/limits: functions' and workflows' limits, the calls holding slots, circuit breakers (GET /limits).

import { api } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";
import { fmtDateTime } from "../lib/format.js";

const WORKFLOWS_MS = 5000; // refresh

// GET /limits: each function's concurrency/rate limit, the calls holding its slots and its
// circuit breaker (closed / open until / half open), workflows' rate limits, parked commands.
export async function limitsPage(view, page) {
  document.title = "Limits · dashboard";
  const heading = h("h1", {}, "Limits");
  const body = h("tbody", { testid: "limits-body" });
  const parked = h("span", { class: "muted", testid: "limits-parked" });

  function circuit(name, c) {
    if (!c) return h("span", { class: "muted" }, "–");
    const state = { closed: "completed", open: "failed", half_open: "waiting" }[c.state] || c.state;
    return h("div", { testid: `circuit-${name}`, "data-state": c.state },
      h("span", { class: `badge s-${state}` }, c.state.replace("_", " ")),
      c.state === "open" && c.openUntil ? h("div", { class: "muted small" }, `trial calls from ${fmtDateTime(c.openUntil)}`) : null,
      h("div", { class: "muted small" }, `${c.failures} failure(s) in a row; opened ${c.opened}×`));
  }

  function setting(limit) {
    const out = [];
    if (limit.concurrency) out.push(`concurrency ${limit.concurrency}`);
    const rate = limit.rateLimit;
    if (rate) out.push(`${rate.limit} per ${rate.periodSeconds ?? 1} s`);
    const cb = limit.circuitBreaker;
    if (cb) out.push(`breaker: opens after ${cb.failureThreshold} failures, for ${cb.resetAfter} ms, ${cb.halfOpenCalls ?? 1} trial call(s)`);
    return out.join("; ") || "–";
  }

  async function load() {
    const limits = await api("/limits");
    if (!page.alive) return;
    const rows = (limits.functions || []).map((f) => h("tr", { testid: `limit-${f.name}` },
      h("td", { class: "mono" }, f.name),
      h("td", {}, setting(f.limit || {})),
      h("td", { class: "num" }, String((f.holders || []).length)),
      h("td", { class: "num" }, String((f.inWindow || []).length)),
      h("td", {}, circuit(f.name, f.circuit))));
    const flows = (limits.workflows || []).map((w) => h("tr", { testid: `limit-workflow-${w.name}` },
      h("td", { class: "mono" }, w.name), h("td", {}, setting({ rateLimit: w.rateLimit })),
      h("td", { class: "num" }, "–"), h("td", { class: "num" }, String((w.inWindow || []).length)), h("td", {}, "")));
    fill(body, rows.length || flows.length ? [...rows, ...flows]
      : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No limits declared (PUT /limits/functions/{name}).")));
    parked.textContent = `${limits.parked ?? 0} step command(s) waiting for a slot`;
  }

  fill(view, heading, h("div", { class: "panel" }, h("table", { testid: "limits-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Function / workflow"), h("th", {}, "Limit"),
      h("th", { class: "num" }, "Holding a slot"), h("th", { class: "num" }, "In the rate window"),
      h("th", {}, "Circuit"))), body), h("div", { class: "actions" }, parked)));
  await load();
  page.every(WORKFLOWS_MS, load);
}
