// #/executions?workflow=&status=&query=: the executions list, filtered, searched, auto-refreshed.

import { api, enc, ApiError, STATUSES, TERMINAL } from "../lib/api.js";
import { h, fill, badge, progressBar } from "../lib/dom.js";
import { between, fmtDateTime, fmtDuration } from "../lib/format.js";

const LIST_MS = 2000; // executions list auto-refresh

export async function executionsPage(view, page, params) {
  document.title = "Executions · dashboard";
  const workflow = params.get("workflow") || "";
  const status = params.get("status") || "";
  const query = params.get("query") || "";
  const go = (wf, st, qu = search.value.trim()) => {
    const q = new URLSearchParams();
    if (wf) q.set("workflow", wf);
    if (st) q.set("status", st);
    if (qu) q.set("query", qu);
    location.hash = `#/executions${q.toString() ? `?${q}` : ""}`;
  };
  // search by business fields (README: Search), e.g. customerId = 'cust_12345' AND amount > 100
  const search = h("input", {
    type: "search", testid: "search-query", size: 48, value: query,
    placeholder: "customerId = 'cust_12345' AND status = 'failed'",
    onkeydown: (e) => { if (e.key === "Enter") go(wfSelect.value, stSelect.value); },
  });
  const searchError = h("div", { class: "error", testid: "search-error", hidden: true });
  const wfSelect = h("select", { testid: "filter-workflow", onchange: () => go(wfSelect.value, stSelect.value) },
    h("option", { value: "" }, "all workflows"));
  const stSelect = h("select", { testid: "filter-status", onchange: () => go(wfSelect.value, stSelect.value) },
    h("option", { value: "" }, "any status"), STATUSES.map((s) => h("option", { value: s }, s)));
  stSelect.value = status;
  const auto = h("input", { type: "checkbox", checked: true, testid: "auto-refresh" });
  const count = h("span", { class: "muted", testid: "executions-count" });
  const body = h("tbody", { testid: "executions-body" });
  fill(view, 
    h("h1", {}, "Executions", workflow ? h("span", { class: "sub" }, workflow) : null),
    h("div", { class: "toolbar" },
      h("label", {}, "Workflow", wfSelect), h("label", {}, "Status", stSelect),
      h("label", {}, "Search", search),
      h("label", {}, auto, "auto-refresh"), h("span", { class: "spacer" }), count,
      workflow ? h("a", { class: "button primary", href: `#/start/${enc(workflow)}` }, `Start ${workflow}`) : null),
    searchError,
    h("div", { class: "panel" }, h("table", { testid: "executions-table" },
      h("thead", {}, h("tr", {},
        h("th", {}, "Execution"), h("th", {}, "Workflow"), h("th", {}, "Status"), h("th", {}, "Progress"),
        h("th", {}, "Created"), h("th", { class: "num" }, "Duration"))),
      body)),
  );

  api("/workflows").then((workflows) => {
    const names = new Set(workflows.map((w) => w.name));
    if (workflow) names.add(workflow);
    for (const name of [...names].sort()) wfSelect.append(h("option", { value: name }, name));
    wfSelect.value = workflow;
  }, () => {});

  async function load() {
    if (!auto.checked && body.childElementCount) return true;
    const q = new URLSearchParams({ limit: "100" });
    if (workflow) q.set("workflow", workflow);
    if (status) q.set("status", status);
    if (query) q.set("query", query);
    let list;
    try {
      list = await api(`/executions?${q}`);
      searchError.hidden = true;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 400) throw err;
      searchError.textContent = err.message; // names the column of the query it is about
      searchError.hidden = false;
      list = [];
    }
    if (!page.alive) return false;
    count.textContent = `${list.length} shown${list.length === 100 ? " (newest 100)" : ""}`;
    if (!list.length) {
      fill(body, h("tr", {}, h("td", { colspan: 6, class: "empty", testid: "no-executions" },
        "No executions match these filters.")));
      return true;
    }
    fill(body, ...list.map((e) => {
      const end = e.finishedAt || (TERMINAL.has(e.status) ? e.updatedAt : new Date().toISOString());
      const progress = e.progress || {};
      return h("tr", { testid: "execution-row", "data-id": e.executionId, "data-status": e.status },
        h("td", {}, h("a", { class: "mono", href: `#/executions/${enc(e.executionId)}` }, e.executionId)),
        h("td", {}, e.workflow || "–", e.version ? h("span", { class: "muted" }, ` v${e.version}`) : null),
        h("td", {}, badge(e.status)),
        h("td", {}, progressBar(progress.done || 0, progress.total || 0)),
        h("td", {}, fmtDateTime(e.createdAt)),
        h("td", { class: "num" }, fmtDuration(between(e.createdAt, end))));
    }));
    return true;
  }
  await load();
  page.every(LIST_MS, load);
}
