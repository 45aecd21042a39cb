// Workflows dashboard: a dependency-free single-page app over the trigger service's JSON API.
// Hash routes: #/workflows, #/executions?workflow=&status=, #/executions/<id>, #/start/<workflow>,
// #/schedules, #/templates?q=&tag=, #/templates/<id>, #/metrics/<workflow> (insights.js). Everything is rendered with DOM APIs (text, never HTML strings from the API).

import { kpiPanel, waitsPanel, kpiCell, metricsPage, declaredMetrics } from "./insights.js";

const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);
const RETRYABLE = new Set(["failed", "cancelled", "timed_out"]);
const STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled", "timed_out"];
const LIVE_MS = 500; // execution page polling while the execution runs
const LIST_MS = 2000; // executions list auto-refresh
const WORKFLOWS_MS = 5000; // workflows list (stats) refresh
const enc = encodeURIComponent;

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

function setConnection(problem) {
  const conn = document.getElementById("conn");
  conn.hidden = !problem;
  conn.textContent = problem ? `API unreachable (${problem}), retrying…` : "";
}

// ---------------------------------------------------------------- API key (login)
// With access control on, every API call carries the key the user logged in with (kept in
// sessionStorage: gone with the tab); an answer 401 shows the login form instead of the page.
const KEY_STORAGE = "workflows.apiKey";

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function showLogout() {
  document.getElementById("logout").hidden = !apiKey();
}

function showLogin(message) {
  const view = document.getElementById("view");
  const shown = view.querySelector('[data-testid="login-error"]');
  if (shown) {
    shown.textContent = message;
    return;
  }
  newPage(); // stops the refreshes of the page behind the form
  document.title = "Log in · dashboard";
  const input = h("input", { type: "password", autocomplete: "current-password", placeholder: "wfk_…", required: true, testid: "login-key" });
  function onSubmit(event) {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, input.value.trim());
    showLogout();
    route();
  }
  fill(view, h("form", { class: "panel login", testid: "login", onsubmit: onSubmit },
    h("h1", {}, "Log in"),
    h("p", {}, "The API needs an API key; ", h("code", {}, "workflows keys create --scope read"), " makes one."),
    h("label", {}, "API key ", input),
    h("p", { class: "login-error", testid: "login-error" }, message),
    h("button", { class: "button primary", type: "submit", testid: "login-submit" }, "Log in")));
  input.focus();
}

document.getElementById("logout").addEventListener("click", (event) => {
  event.preventDefault();
  sessionStorage.removeItem(KEY_STORAGE);
  showLogout();
  route();
});
showLogout();

// `body` goes as JSON; `text` as it is, with `contentType` (a definition's YAML, say)
async function api(path, { method = "GET", body, text: sent, contentType } = {}) {
  const init = { method, headers: { Accept: "application/json" } };
  if (apiKey()) init.headers.Authorization = `Bearer ${apiKey()}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (sent !== undefined) {
    init.headers["Content-Type"] = contentType || "text/plain";
    init.body = sent;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    setConnection(err.message || "network error");
    throw err;
  }
  setConnection(null);
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text };
    }
  }
  // no key yet: the form alone, no error before any input; a refused key: the API's reason
  if (res.status === 401) showLogin(apiKey() ? (data && data.error) || "that API key was refused" : "");
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "testid") el.dataset.testid = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Replace el's children, skipping null/undefined/false (replaceChildren would print "null").
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function badge(status, extra = {}) {
  return h("span", { class: `badge s-${status}`, ...extra }, String(status).replace("_", " "));
}

function progressBar(done, total) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  return h(
    "div",
    { class: "progress-cell" },
    h("div", { class: "progress", title: `${done} of ${total} steps done` },
      h("i", { style: `width:${pct}%` })),
    h("span", { class: "muted" }, `${done}/${total}`),
  );
}

function errorBox(err) {
  const issues = (err.body && err.body.issues) || [];
  return h(
    "div",
    { class: "panel error-box", testid: "error" },
    h("strong", {}, err.status ? `Error ${err.status}: ` : "Error: "),
    err.message,
    issues.length ? h("ul", {}, issues.map((i) => h("li", {}, `${i.path}: ${i.message}`))) : null,
  );
}

function pretty(value) {
  return h("pre", {}, value === undefined ? "–" : JSON.stringify(value, null, 2));
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

function toMs(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : null;
}

function fmtTime(iso) {
  const t = toMs(iso);
  if (t === null) return "–";
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function fmtDateTime(iso) {
  const t = toMs(iso);
  if (t === null) return "–";
  const d = new Date(t);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function fmtRate(rate) {
  return rate === null || rate === undefined ? "–" : `${(100 * rate).toFixed(rate === 1 ? 0 : 1)} %`;
}

function between(startIso, endIso) {
  const a = toMs(startIso);
  const b = toMs(endIso);
  return a === null || b === null ? null : Math.max(b - a, 0);
}

function pick(obj, ...paths) {
  for (const path of paths) {
    let value = obj;
    for (const key of path.split(".")) value = value === null || value === undefined ? undefined : value[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---------------------------------------------------------------- router

let generation = 0;

// One per rendered page: `alive` turns false when the user navigates away, ending its polling.
function newPage() {
  const gen = ++generation;
  const page = {
    get alive() {
      return gen === generation;
    },
    // Wait `ms`, call fn, repeat until the page is left or fn returns false.
    async every(ms, fn) {
      while (page.alive) {
        await new Promise((resolve) => setTimeout(resolve, ms));
        if (!page.alive) return;
        try {
          if ((await fn()) === false) return;
        } catch (err) {
          if (!(err instanceof ApiError)) continue; // network trouble: shown in the top bar
          console.warn("refresh failed", err);
        }
      }
    },
  };
  return page;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/workflows";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

async function route() {
  const page = newPage();
  const { parts, params } = parseHash();
  const view = document.getElementById("view");
  const section = parts[0] === "start" || parts[0] === "metrics" ? "workflows" : parts[0] || "workflows";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
  fill(view, h("p", { class: "muted" }, "Loading…"));
  try {
    if (parts[0] === "executions" && parts[1]) await executionPage(view, page, parts[1]);
    else if (parts[0] === "executions") await executionsPage(view, page, params);
    else if (parts[0] === "start" && parts[1]) await startPage(view, page, parts[1]);
    else if (parts[0] === "schedules") await schedulesPage(view, page);
    else if (parts[0] === "limits") await limitsPage(view, page);
    else if (parts[0] === "metrics" && parts[1]) await metricsPage(view, page, parts[1]);
    else if (parts[0] === "templates" && parts[1]) await templatePage(view, page, parts[1]);
    else if (parts[0] === "templates") await templatesPage(view, page, params);
    else if (parts[0] === "editor" || parts[0] === "versions") await (await import("./editor.js")).authoringPage(view, page, parts, params);
    else await workflowsPage(view, page);
  } catch (err) {
    if (page.alive) fill(view, errorBox(err));
  }
}

// ---------------------------------------------------------------- workflows

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

async function workflowsPage(view, page) {
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

// ---------------------------------------------------------------- executions list

async function executionsPage(view, page, params) {
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

// ---------------------------------------------------------------- one execution

// step id -> the function its definition names, so a skipped or pending step (which never
// ran, so its state has no function) still says what it would call
async function stepFunctions(ex) {
  try {
    const wf = await api(`/workflows/${enc(ex.workflow)}?version=${enc(ex.version)}`);
    const steps = (wf.definition && wf.definition.steps) || [];
    return new Map(steps.filter((s) => s && s.id).map((s) => [s.id, s.function]));
  } catch {
    return new Map(); // a key that may not read definitions, or a version gone: no names
  }
}

async function executionPage(view, page, id) {
  let definedFunctions = null;
  document.title = `Execution ${id.slice(0, 8)} · dashboard`;
  let auditOpen = false;
  let auditShown = -1;
  let latest = null;
  const openSteps = new Set();
  const stepLogs = new Map(); // stepId -> {key, attempts}: GET /executions/{id}/logs?step=
  // the attempts' log lines of an open step, fetched again when its attempt or status changes
  const logsOf = (stepId, st) => {
    const key = `${st.attempt || 0}:${st.status}`;
    const cached = stepLogs.get(stepId);
    if (!cached || cached.key !== key) {
      stepLogs.set(stepId, { key, attempts: cached ? cached.attempts : null });
      api(`/executions/${enc(id)}/logs?step=${enc(stepId)}`).then((body) => {
        stepLogs.set(stepId, { key, attempts: body.attempts || [] });
        if (page.alive && latest) renderTimeline(latest);
      }, () => {});
    }
    return stepLogs.get(stepId).attempts;
  };
  const logsView = (stepId, attempts) => {
    if (!attempts || !attempts.length) return null;
    return [h("strong", {}, "Logs"), attempts.map((a) =>
      h("div", { class: "attempt-logs", testid: `attempt-logs-${stepId}-${a.attempt}` },
        h("div", { class: "small muted" }, `attempt ${a.attempt} · ${a.ok ? "ok" : "failed"}`),
        h("pre", { class: "mono small" }, (a.lines || []).map((l) =>
          `${fmtTime(l.at) || ""} ${l.level} ${l.logger && !["stdout", "stderr"].includes(l.logger) ? `${l.logger}: ` : ""}${l.message}\n`).join(""))))];
  };

  const title = h("h1", {}, "Execution ", h("span", { class: "mono", testid: "execution-id" }, id));
  const crumbs = h("div", { class: "crumbs" }, h("a", { href: "#/executions" }, "← Executions"));
  const status = h("span", { class: "badge big", testid: "execution-status" }, "…");
  const live = h("span", { class: "live", testid: "live-indicator", hidden: true }, "live");
  const facts = h("div", { class: "facts", testid: "execution-facts" });
  const note = h("span", { class: "note", testid: "action-note" });
  const fromStep = h("select", { testid: "retry-from", title: "Retry from this step (earlier outputs are reused)" },
    h("option", { value: "" }, "from the start"));
  const button = (label, testid, onclick, cls = "") => h("button", { type: "button", testid, onclick, class: cls }, label);
  const pauseBtn = button("Pause", "btn-pause", () => control("pause"));
  const resumeBtn = button("Resume", "btn-resume", () => control("resume"));
  const cancelBtn = button("Cancel", "btn-cancel", () => control("cancel"), "danger");
  const retryBtn = button("Retry", "btn-retry", () => retry(), "primary");
  const timelineBody = h("tbody", { testid: "timeline-body" });
  const output = h("div", { testid: "execution-output" });
  const input = h("div", { testid: "execution-input" });
  const auditBody = h("tbody");
  const auditTable = h("table", { testid: "audit-trail", hidden: true },
    h("thead", {}, h("tr", {},
      h("th", { class: "num" }, "#"), h("th", {}, "Time"), h("th", { class: "num" }, "+ms"), h("th", {}, "Event"),
      h("th", {}, "Step"), h("th", { class: "num" }, "Attempt"), h("th", {}, "Actor"), h("th", {}, "Worker"), h("th", {}, "Data"))),
    auditBody);
  const auditToggle = button("Show audit trail", "toggle-audit", () => {
    auditOpen = !auditOpen;
    auditShown = -1;
    if (latest) renderAudit(latest);
  });

  const kpis = kpiPanel();
  const waits = waitsPanel(id, () => load().catch(() => {}));
  fill(view, 
    crumbs, title,
    h("div", { class: "panel" },
      h("h2", {}, status, live, h("span", { class: "spacer" }),
        h("div", { class: "actions" }, pauseBtn, resumeBtn, cancelBtn, retryBtn, fromStep)),
      facts, h("div", { class: "actions" }, note)),
    waits.panel,
    kpis.panel,
    h("div", { class: "panel" }, h("h2", {}, "Steps"),
      h("table", { class: "timeline", testid: "timeline" },
        h("thead", {}, h("tr", {},
          h("th", { class: "num" }, "#"), h("th", {}, "Step / function"), h("th", {}, "Status"),
          h("th", { class: "num" }, "Attempts"), h("th", {}, "Started"), h("th", {}, "Finished"),
          h("th", { class: "num" }, "Duration"), h("th", { class: "bar-cell" }, "Timeline"))),
        timelineBody)),
    h("div", { class: "cols" },
      h("div", { class: "panel" }, h("h2", {}, "Input"), input),
      h("div", { class: "panel" }, h("h2", {}, "Output / error"), output)),
    h("div", { class: "panel", style: "margin-top:18px" },
      h("h2", {}, "Audit trail", h("span", { class: "spacer" }), auditToggle), auditTable),
  );

  async function control(action) {
    note.textContent = `${action}…`;
    try {
      await api(`/executions/${enc(id)}/${action}`, { method: "POST" });
      note.textContent = `${action} requested`;
      await load();
    } catch (err) {
      note.textContent = err.message;
    }
  }

  async function retry() {
    note.textContent = "retry…";
    try {
      const body = fromStep.value ? { fromStep: fromStep.value } : undefined;
      const accepted = await api(`/executions/${enc(id)}/retry`, { method: "POST", body });
      location.hash = `#/executions/${enc(accepted.executionId)}`;
    } catch (err) {
      note.textContent = err.message;
    }
  }

  function renderFacts(ex) {
    const end = ex.finishedAt || (TERMINAL.has(ex.status) ? ex.updatedAt : new Date().toISOString());
    const progress = ex.progress || {};
    const metrics = ex.metrics || {};
    const fact = (label, value, testid) => h("div", { testid }, h("span", {}, label), h("strong", {}, value));
    const link = (other) => h("a", { class: "mono", href: `#/executions/${enc(other)}` }, other.slice(0, 12));
    fill(facts, 
      fact("Workflow", h("a", { href: `#/executions?workflow=${enc(ex.workflow || "")}` },
        `${ex.workflow || "–"}${ex.version ? ` v${ex.version}` : ""}`), "fact-workflow"),
      fact("Progress", progressBar(progress.done || 0, progress.total || 0), "fact-progress"),
      fact("Created", fmtDateTime(ex.createdAt)),
      fact("Finished", ex.finishedAt ? fmtDateTime(ex.finishedAt) : "–"),
      fact("Duration", fmtDuration(metrics.durationMs ?? between(ex.createdAt, end)), "fact-duration"),
      fact("Retries", String(metrics.retries ?? 0)),
      fact("Current steps", (ex.currentSteps || []).join(", ") || "–"),
      ex.retryOf ? fact("Retry of", link(ex.retryOf)) : null,
      ex.retriedBy ? fact("Retried by", link(ex.retriedBy), "fact-retried-by") : null,
      ex.traceId ? fact("Trace", ex.traceUrl
        ? h("a", { class: "mono", href: ex.traceUrl, target: "_blank", rel: "noopener" }, ex.traceId)
        : h("span", { class: "mono", title: "set WORKFLOWS_TRACE_URL to link it to a trace viewer" }, ex.traceId),
      "fact-trace") : null,
    );
  }

  function renderTimeline(ex) {
    const steps = Object.entries(ex.steps || {});
    const skipReasons = new Map();
    for (const e of ex.auditTrail || []) {
      if (e.type === "step.skipped" && e.stepId) skipReasons.set(e.stepId, e.data && e.data.condition);
    }
    const t0 = toMs(ex.createdAt) ?? Date.now();
    const t1 = toMs(ex.finishedAt) ?? (TERMINAL.has(ex.status) ? toMs(ex.updatedAt) : Date.now()) ?? Date.now();
    const span = Math.max(t1 - t0, 1);
    const rows = [];
    steps.forEach(([stepId, st], index) => {
      const start = toMs(st.startedAt);
      // a step still open when the execution ended (cancelled, timed out) ends with it
      const end = toMs(st.finishedAt) ?? (start !== null ? t1 : null);
      let bar = null;
      if (start !== null || end !== null) {
        const a = start ?? end;
        const left = Math.min(Math.max((100 * (a - t0)) / span, 0), 99.5);
        const width = Math.max(Math.min((100 * ((end ?? a) - a)) / span, 100 - left), 0.6);
        bar = h("i", { class: `s-${st.status}`, style: `left:${left}%;width:${width}%`,
          title: `${stepId}: ${fmtDuration((end ?? a) - a)}` });
      }
      const attempts = st.attempt || 0;
      const reason = skipReasons.get(stepId);
      rows.push(h("tr", {
        class: "step-row", testid: `step-${stepId}`, "data-status": st.status,
        title: "Click for the step's output or error",
        onclick: () => { openSteps.has(stepId) ? openSteps.delete(stepId) : openSteps.add(stepId); renderTimeline(latest); },
      },
      h("td", { class: "num muted" }, String(index + 1)),
      h("td", {}, h("strong", {}, stepId),
        st.fallback ? h("span", { class: "mark", testid: `fallback-${stepId}` }, "↪ fallback") : null,
        st.status === "skipped"
          ? h("span", { class: "mark muted", testid: `skipped-${stepId}`, title: reason || "" }, "condition false")
          : null,
        h("div", { class: "mono small muted", testid: `step-function-${stepId}` },
          st.function || (definedFunctions && definedFunctions.get(stepId)) || "–")),
      h("td", {}, badge(st.status, { testid: `step-status-${stepId}` })),
      h("td", { class: "num", testid: `step-attempts-${stepId}` },
        attempts ? String(attempts) : "–", attempts > 1 ? h("span", { class: "mark" }, `${attempts - 1} retr${attempts > 2 ? "ies" : "y"}`) : null),
      h("td", { class: "mono" }, fmtTime(st.startedAt)),
      h("td", { class: "mono" }, fmtTime(st.finishedAt)),
      h("td", { class: "num" }, fmtDuration(start !== null && end !== null ? end - start : null)),
      h("td", { class: "bar-cell" }, h("div", { class: "track" }, bar))));
      if (openSteps.has(stepId)) {
        rows.push(h("tr", { class: "step-detail", testid: `step-detail-${stepId}` }, h("td", { colspan: 8 },
          reason ? h("p", {}, "Skipped: condition ", h("code", {}, reason), " was false.") : null,
          st.error ? [h("strong", {}, "Error"), pretty(st.error)] : null,
          st.output !== undefined && st.output !== null ? [h("strong", {}, "Output"), pretty(st.output)] : null,
          logsView(stepId, logsOf(stepId, st)),
          !reason && !st.error && (st.output === undefined || st.output === null) ? h("span", { class: "muted" }, "No output yet.") : null)));
      }
    });
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "Waiting for the orchestrator to pick the execution up…")));
    fill(timelineBody, ...rows);
  }

  function renderAudit(ex) {
    const trail = ex.auditTrail || [];
    auditToggle.textContent = auditOpen ? "Hide audit trail" : `Show audit trail (${trail.length} events)`;
    auditTable.hidden = !auditOpen;
    if (!auditOpen || trail.length === auditShown) return;
    auditShown = trail.length;
    const first = trail.length ? toMs(trail[0].at) : null;
    fill(auditBody, ...trail.map((e) => {
      const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : "";
      const actor = e.actor ? [e.actor.kind, e.actor.id].filter(Boolean).join(":") : "";
      return h("tr", { testid: "audit-row", "data-type": e.type },
        h("td", { class: "num muted" }, String(e.seq ?? "")),
        h("td", { class: "mono" }, fmtTime(e.at)),
        h("td", { class: "num mono" }, first !== null && toMs(e.at) !== null ? String(toMs(e.at) - first) : ""),
        h("td", {}, h("code", {}, e.type)),
        h("td", {}, e.stepId || ""),
        h("td", { class: "num" }, e.attempt ?? ""),
        h("td", { class: "muted" }, actor),
        h("td", { class: "mono small", testid: "audit-worker" }, (e.data && e.data.workerId) || ""),
        h("td", { class: "mono data", title: data }, data.length > 160 ? `${data.slice(0, 160)}…` : data));
    }));
  }

  function render(ex) {
    latest = ex;
    const paused = ex.status === "paused" || ex.paused;
    const terminal = TERMINAL.has(ex.status);
    status.className = `badge big s-${ex.status}`;
    status.textContent = ex.status;
    status.dataset.status = ex.status;
    live.hidden = terminal;
    pauseBtn.disabled = terminal || paused || ex.status === "pending";
    resumeBtn.disabled = terminal || !paused;
    cancelBtn.disabled = terminal;
    retryBtn.disabled = !RETRYABLE.has(ex.status);
    fromStep.hidden = retryBtn.disabled;
    const stepIds = Object.keys(ex.steps || {});
    if (fromStep.options.length !== stepIds.length + 1) {
      fill(fromStep, h("option", { value: "" }, "from the start"),
        stepIds.map((s) => h("option", { value: s }, `from ${s}`)));
    }
    renderFacts(ex);
    renderTimeline(ex);
    fill(input, pretty(ex.input));
    fill(output, 
      ex.error ? h("div", { testid: "execution-error" }, h("strong", {}, "Error"), pretty(ex.error)) : null,
      ex.output !== undefined && ex.output !== null ? pretty(ex.output) : null,
      !ex.error && (ex.output === undefined || ex.output === null) ? h("p", { class: "muted" }, terminal ? "No output." : "Not finished yet.") : null,
    );
    renderAudit(ex);
    kpis.render(ex, terminal).catch((err) => console.warn("KPIs", err));
    waits.render(ex).catch((err) => console.warn("waits", err));
  }

  async function load() {
    const ex = await api(`/executions/${enc(id)}?includeAuditTrail=true&includeMetrics=true`);
    if (!page.alive) return false;
    if (definedFunctions === null) definedFunctions = await stepFunctions(ex);
    render(ex);
    return !TERMINAL.has(ex.status);
  }

  if (await load()) page.every(LIVE_MS, load);
}

// ---------------------------------------------------------------- start form

function fieldKind(schema) {
  if (Array.isArray(schema.enum) || schema.const !== undefined) return "enum";
  const types = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null") : [schema.type];
  const type = types.length === 1 ? types[0] : undefined;
  if (type === "string") return "string";
  if (type === "integer" || type === "number") return type;
  if (type === "boolean") return "boolean";
  return "json";
}

function buildField(key, schema, required) {
  const kind = fieldKind(schema);
  const id = `in-${key}`;
  const testid = `input-${key}`;
  let control;
  let read;
  if (kind === "enum") {
    const values = Array.isArray(schema.enum) ? schema.enum : [schema.const];
    control = h("select", { id, testid, name: key },
      h("option", { value: "" }, required ? "— choose —" : "(not set)"),
      values.map((v, i) => h("option", { value: String(i) }, typeof v === "string" ? v : JSON.stringify(v))));
    if (schema.default !== undefined) {
      const i = values.findIndex((v) => JSON.stringify(v) === JSON.stringify(schema.default));
      if (i >= 0) control.value = String(i);
    }
    read = () => (control.value === "" ? undefined : values[Number(control.value)]);
  } else if (kind === "boolean") {
    control = h("input", { id, testid, name: key, type: "checkbox", checked: schema.default === true });
    read = () => control.checked;
  } else if (kind === "integer" || kind === "number") {
    control = h("input", {
      id, testid, name: key, type: "number", step: kind === "integer" ? "1" : "any",
      min: schema.minimum, max: schema.maximum, value: schema.default ?? "",
    });
    read = () => {
      if (control.value.trim() === "") return undefined;
      const n = Number(control.value);
      if (!Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) throw new Error(`must be ${kind === "integer" ? "an integer" : "a number"}`);
      return n;
    };
  } else if (kind === "string") {
    control = h("input", {
      id, testid, name: key, type: "text", autocomplete: "off", value: schema.default ?? "",
      placeholder: schema.format || (schema.examples && schema.examples[0]) || "",
    });
    read = () => (control.value === "" ? undefined : control.value);
  } else {
    const example = schema.default ?? (schema.type === "array" ? [] : {});
    control = h("textarea", { id, testid, name: key, rows: 4, spellcheck: "false", placeholder: JSON.stringify(example) });
    if (schema.default !== undefined) control.value = JSON.stringify(schema.default, null, 2);
    read = () => {
      if (control.value.trim() === "") return undefined;
      try {
        return JSON.parse(control.value);
      } catch (err) {
        throw new Error(`not valid JSON: ${err.message}`);
      }
    };
  }
  const issue = h("div", { class: "issue", testid: `issue-${key}`, hidden: true });
  for (const type of ["input", "change"]) control.addEventListener(type, () => { issue.hidden = true; });
  const typeHint = kind === "json" ? `JSON ${schema.type || "value"}` : kind === "enum" ? "one of the listed values" : kind;
  const el = h("div", { class: "field", testid: `field-${key}` },
    h("label", { for: id }, key, required ? h("span", { class: "req", title: "required" }, "*") : null),
    control,
    h("div", { class: "hint" }, [schema.title, schema.description].filter(Boolean).join(" — ") || typeHint),
    issue);
  return { key, el, read, issue, required };
}

// Required fields first, in the order `required` lists them, then the others as given.
function fieldOrder(keys, required) {
  const rank = (key) => (required.includes(key) ? required.indexOf(key) : required.length + keys.indexOf(key));
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

function showIssue(field, message) {
  field.issue.hidden = !message;
  field.issue.textContent = message || "";
}

// The value of a form of `buildField`s (`whole`: one field holds the whole input); `bad` when
// a field could not be read (its issue is shown next to it).
function readFields(fields, whole) {
  let value = {};
  let bad = false;
  for (const f of fields) {
    showIssue(f, null);
    try {
      const read = f.read();
      if (whole) value = read === undefined ? {} : read;
      else if (read !== undefined) value[f.key] = read;
    } catch (err) {
      showIssue(f, err.message);
      bad = true;
    }
  }
  return { value, bad };
}

async function startPage(view, page, name) {
  document.title = `Start ${name} · dashboard`;
  const wf = await api(`/workflows/${enc(name)}`);
  if (!page.alive) return;
  const schema = (wf.definition && wf.definition.input) || {};
  const props = schema.properties && typeof schema.properties === "object" ? schema.properties : null;
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const fields = props
    ? fieldOrder(Object.keys(props), [...required]).map((key) => buildField(key, props[key] || {}, required.has(key)))
    : [buildField("input", { type: "object", description: "The whole execution input as JSON." }, true)];
  const whole = !props;
  const formError = h("div", { class: "form-error", testid: "form-error", hidden: true });
  const version = h("select", { testid: "start-version", name: "version" },
    [...(wf.versions || [])].reverse().map((v) => h("option", { value: String(v.version) },
      `v${v.version}${v.version === wf.version ? " (latest)" : ""}`)));
  version.value = String(wf.version);
  const submit = h("button", { type: "submit", class: "primary", testid: "start-submit" }, "Start execution");

  const form = h("form", { class: "start panel", novalidate: true, testid: "start-form", onsubmit: onSubmit },
    fields.map((f) => f.el),
    h("div", { class: "field" }, h("label", { for: "start-version" }, "version"), version,
      h("div", { class: "hint" }, "The definition version to run.")),
    h("div", { class: "form-actions" }, submit, h("a", { href: "#/workflows" }, "Cancel"), formError));
  version.id = "start-version";

  fill(view, 
    h("div", { class: "crumbs" }, h("a", { href: "#/workflows" }, "← Workflows")),
    h("h1", {}, `Start ${name}`, h("span", { class: "sub" }, wf.description || "")),
    form,
  );

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    const { value: data, bad } = readFields(fields, whole);
    if (bad) return;
    submit.disabled = true;
    try {
      const query = version.value && Number(version.value) !== wf.version ? `?version=${enc(version.value)}` : "";
      const accepted = await api(`/workflows/${enc(name)}/execute${query}`, { method: "POST", body: data });
      location.hash = `#/executions/${enc(accepted.executionId)}`;
    } catch (err) {
      const unplaced = [];
      for (const issue of (err.body && err.body.issues) || []) {
        const missing = /^'([^']+)' is a required property$/.exec(issue.message || "");
        const key = whole ? "input" : missing && (issue.path === "(root)" || !issue.path) ? missing[1] : String(issue.path || "").split(".")[0];
        const field = fields.find((f) => f.key === key);
        if (field) showIssue(field, missing && !whole ? "required" : issue.message);
        else unplaced.push(`${issue.path}: ${issue.message}`);
      }
      formError.hidden = false;
      formError.textContent = [err.message, ...unplaced].join(" · ");
    } finally {
      submit.disabled = false;
    }
  }
}

// ---------------------------------------------------------------- schedules

// A fire time in the schedule's own time zone, with the zone's short name (CET, GMT+2, UTC).
function fmtInZone(iso, timeZone) {
  const t = toMs(iso);
  if (t === null) return "–";
  try {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone || undefined, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date(t)).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
  } catch {
    return fmtDateTime(iso); // a zone this browser does not know
  }
}

function scheduleForm(workflows, onCreated) {
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const wfSel = h("select", { testid: "schedule-new-workflow", required: true },
    workflows.map((w) => h("option", { value: w.name }, w.name)));
  const idInput = h("input", { type: "text", testid: "schedule-new-id", placeholder: "optional: a random id", pattern: "[A-Za-z0-9_.\\-]+" });
  const kindSel = h("select", { testid: "schedule-new-kind", onchange: () => { whenInput.placeholder = placeholders[kindSel.value]; } },
    h("option", { value: "cron" }, "cron expression"), h("option", { value: "every" }, "every (interval)"));
  const placeholders = { cron: "0 9 * * MON-FRI", every: "15m, 2 hours, $.Daily" };
  const whenInput = h("input", { type: "text", testid: "schedule-new-when", required: true, placeholder: placeholders.cron });
  const zoneInput = h("input", { type: "text", testid: "schedule-new-timezone", value: browserZone, required: true, list: "schedule-zones" });
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zoneList = h("datalist", { id: "schedule-zones" }, ["UTC", ...zones].map((z) => h("option", { value: z })));
  const inputArea = h("textarea", { testid: "schedule-new-input", rows: 3 }, "{}");
  const error = h("p", { class: "login-error", testid: "schedule-new-error" });
  const submit = h("button", { class: "button primary", type: "submit", testid: "schedule-new-submit" }, "Create schedule");
  async function onSubmit(event) {
    event.preventDefault();
    error.textContent = "";
    let input;
    try {
      input = JSON.parse(inputArea.value || "{}");
    } catch (err) {
      error.textContent = `input: not JSON (${err.message})`;
      return;
    }
    const body = { workflow: wfSel.value, timezone: zoneInput.value.trim(), input };
    body[kindSel.value === "cron" ? "cronExpression" : "every"] = whenInput.value.trim();
    if (idInput.value.trim()) body.id = idInput.value.trim();
    submit.disabled = true;
    try {
      const created = await api("/schedules", { method: "POST", body });
      idInput.value = "";
      whenInput.value = "";
      await onCreated(created);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  }
  return h("form", { class: "panel schedule-form", testid: "schedule-form", onsubmit: onSubmit },
    h("h2", {}, "New schedule"),
    workflows.length ? null : h("p", { class: "muted" }, "Register a workflow first."),
    h("div", { class: "form-row" },
      h("label", {}, "Workflow ", wfSel), h("label", {}, "Id ", idInput)),
    h("div", { class: "form-row" },
      h("label", {}, "When ", kindSel), h("label", {}, whenInput),
      h("label", {}, "Time zone ", zoneInput), zoneList),
    h("label", { class: "block" }, "Input (JSON, checked against the workflow's input schema) ", inputArea),
    error, submit);
}

async function schedulesPage(view, page) {
  document.title = "Schedules · dashboard";
  const heading = h("h1", {}, "Schedules");
  const note = h("span", { class: "note", testid: "schedule-note" });
  const body = h("tbody", { testid: "schedules-body" });

  async function toggle(id, paused) {
    note.textContent = `${paused ? "resuming" : "pausing"} ${id}…`;
    try {
      await api(`/schedules/${enc(id)}/${paused ? "resume" : "pause"}`, { method: "POST" });
      note.textContent = "";
      await load();
    } catch (err) {
      note.textContent = err.message;
    }
  }

  async function remove(id, button) {
    if (button.dataset.confirm !== "yes") { // a second click deletes
      button.dataset.confirm = "yes";
      button.textContent = "Confirm delete";
      return;
    }
    note.textContent = `deleting ${id}…`;
    try {
      await api(`/schedules/${enc(id)}`, { method: "DELETE" });
      note.textContent = `deleted ${id}`;
      await load();
    } catch (err) {
      note.textContent = err.message;
    }
  }

  function row(s) {
    const id = String(pick(s, "id", "scheduleId", "name") ?? "");
    const next = pick(s, "nextFireTimes", "nextFires", "nextRuns") || [];
    const times = (Array.isArray(next) ? next : [next]).slice(0, 5);
    const paused = s.paused === true || s.enabled === false;
    const when = pick(s, "cronExpression", "cron") || (s.every ? `every ${s.every}` : "–");
    const last = s.lastExecutionId
      ? h("a", { class: "mono", href: `#/executions/${enc(s.lastExecutionId)}` }, fmtInZone(s.lastFireTime, s.timezone) || "open")
      : h("span", { class: "muted" }, "never");
    const del = h("button", { type: "button", class: "danger", testid: `schedule-delete-${id}`, onclick: () => remove(id, del) }, "Delete");
    return h("tr", { testid: "schedule-row", "data-id": id, "data-paused": String(paused) },
      h("td", { class: "mono" }, id),
      h("td", {}, s.workflow ? h("a", { href: `#/executions?workflow=${enc(s.workflow)}` }, s.workflow) : "–"),
      h("td", { class: "mono" }, when, h("div", { class: "muted small", testid: `schedule-zone-${id}` }, s.timezone || "UTC")),
      h("td", {}, h("span", { class: `badge s-${paused ? "paused" : "completed"}`, testid: `schedule-state-${id}` },
        paused ? "paused" : "active")),
      h("td", { class: "mono", testid: `schedule-next-${id}` },
        times.length ? times.map((t) => h("div", {}, fmtInZone(t, s.timezone))) : h("span", { class: "muted" }, "–")),
      h("td", { class: "num" }, String(s.fired ?? "–")),
      h("td", {}, last),
      h("td", { class: "row-actions" },
        h("button", { type: "button", testid: `schedule-toggle-${id}`, onclick: () => toggle(id, paused) },
          paused ? "Resume" : "Pause"), " ", del));
  }

  async function load() {
    let found;
    try {
      found = await api("/schedules");
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      fill(view, heading, h("div", { class: "panel empty", testid: "schedules-unavailable" },
        "No schedules API yet: this trigger service does not serve GET /schedules."));
      return false;
    }
    if (!page.alive) return false;
    const list = Array.isArray(found) ? found : (found && (found.schedules || found.items)) || [];
    fill(body, list.length ? list.map(row) : h("tr", {}, h("td", { colspan: 8, class: "empty", testid: "no-schedules" },
      "No schedules yet: create one below (a cron expression or an interval, in a time zone).")));
    return true;
  }

  let workflows = [];
  try {
    workflows = await api("/workflows");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err; // a key that cannot list them
  }
  if (!page.alive) return;
  const created = async (schedule) => {
    note.textContent = `created ${schedule.id}`;
    await load();
  };
  fill(view, heading, h("div", { class: "panel" }, h("table", { testid: "schedules-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Schedule"), h("th", {}, "Workflow"), h("th", {}, "When"),
      h("th", {}, "State"), h("th", {}, "Next fire times (the schedule's zone)"), h("th", { class: "num" }, "Fired"),
      h("th", {}, "Last fire"), h("th", {}, ""))),
    body), h("div", { class: "actions" }, note)),
    scheduleForm(Array.isArray(workflows) ? workflows : [], created));
  if (await load()) page.every(WORKFLOWS_MS, load);
}

// ---------------------------------------------------------------- limits

// GET /limits: each function's concurrency/rate limit, the calls holding its slots and its
// circuit breaker (closed / open until / half open), workflows' rate limits, parked commands.
async function limitsPage(view, page) {
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

// ---------------------------------------------------------------- templates

async function templatesPage(view, page, params) {
  document.title = "Templates · dashboard";
  const q = params.get("q") || "";
  const tag = params.get("tag") || "";
  const go = (text, t) => {
    const query = new URLSearchParams();
    if (text) query.set("q", text);
    if (t) query.set("tag", t);
    location.hash = `#/templates${query.toString() ? `?${query}` : ""}`;
  };
  const search = h("input", { type: "text", testid: "template-search", placeholder: "search id, title, description", value: q });
  const tagSelect = h("select", { testid: "template-tag", onchange: () => go(search.value.trim(), tagSelect.value) },
    h("option", { value: "" }, "any tag"));
  const form = h("form", { class: "toolbar", testid: "template-filters",
    onsubmit: (event) => { event.preventDefault(); go(search.value.trim(), tagSelect.value); } },
  h("label", {}, "Search", search), h("label", {}, "Tag", tagSelect),
  h("button", { type: "submit", testid: "template-search-submit" }, "Search"));
  const query = new URLSearchParams();
  if (q) query.set("q", q);
  if (tag) query.set("tag", tag);
  const [all, list] = await Promise.all([api("/templates"), api(`/templates${query.toString() ? `?${query}` : ""}`)]);
  if (!page.alive) return;
  const tags = new Set(all.flatMap((t) => t.tags || []));
  if (tag) tags.add(tag);
  for (const t of [...tags].sort()) tagSelect.append(h("option", { value: t }, t));
  tagSelect.value = tag;
  const rows = list.length
    ? list.map((t) => h("tr", { testid: "template-row", "data-id": t.id },
      h("td", {}, h("a", { href: `#/templates/${enc(t.id)}`, testid: `template-link-${t.id}` }, h("strong", {}, t.title || t.id)),
        h("div", { class: "muted small mono" }, t.id)),
      h("td", { class: "muted" }, t.description || ""),
      h("td", {}, (t.tags || []).map((x) => h("span", { class: "tag" }, x))),
      h("td", {}, h("a", { class: "button primary", href: `#/templates/${enc(t.id)}` }, "Install…"))))
    : h("tr", {}, h("td", { colspan: 4, class: "empty", testid: "no-templates" }, "No templates match."));
  fill(view, h("h1", {}, "Templates", h("span", { class: "sub", testid: "templates-count" }, `${list.length} of ${all.length}`)),
    form,
    h("div", { class: "panel" }, h("table", { testid: "templates-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Template"), h("th", {}, "Description"), h("th", {}, "Tags"), h("th", {}, ""))),
      h("tbody", { testid: "templates-body" }, rows))));
}

async function templatePage(view, page, id) {
  document.title = `Template ${id} · dashboard`;
  const t = await api(`/templates/${enc(id)}`);
  if (!page.alive) return;
  const schema = t.parameters && typeof t.parameters === "object" ? t.parameters : {};
  const props = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const fields = fieldOrder(Object.keys(props), [...required]).map((key) => buildField(key, props[key] || {}, required.has(key)));
  const formError = h("div", { class: "form-error", testid: "form-error", hidden: true });
  const result = h("div", { class: "panel", testid: "install-result", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", testid: "install-submit" }, "Install");
  const form = h("form", { class: "start panel", novalidate: true, testid: "install-form", onsubmit: onSubmit },
    h("h2", {}, "Install"),
    fields.length ? fields.map((f) => f.el) : h("p", { class: "muted" }, "This template has no parameters."),
    h("div", { class: "form-actions" }, submit, h("a", { href: "#/templates" }, "Back"), formError));
  const functions = t.functionNames || [];
  fill(view,
    h("div", { class: "crumbs" }, h("a", { href: "#/templates" }, "← Templates")),
    h("h1", {}, t.title || t.id, h("span", { class: "sub mono" }, t.id)),
    h("div", { class: "panel", testid: "template-detail" },
      h("p", { testid: "template-description" }, t.description || ""),
      h("div", { class: "facts" },
        h("div", {}, h("span", {}, "Tags"), h("strong", { testid: "template-tags" }, (t.tags || []).join(", ") || "–")),
        h("div", {}, h("span", {}, "Functions"), h("strong", { testid: "template-functions" }, functions.join(", ") || "–")),
        h("div", {}, h("span", {}, "Function module"), h("strong", { class: "mono" }, t.functions || "–"))),
      // the parameters appear once, as the install form's fields below (with their descriptions)
      h("a", { class: "button", href: `#/editor?template=${enc(t.id)}`, testid: "template-open-editor" }, "Open in the editor")),
    form, result);

  async function onSubmit(event) {
    event.preventDefault();
    formError.hidden = true;
    const parameters = {};
    let bad = false;
    for (const f of fields) {
      showIssue(f, null);
      try {
        const value = f.read();
        if (value !== undefined) parameters[f.key] = value;
      } catch (err) {
        showIssue(f, err.message);
        bad = true;
      }
    }
    if (bad) return;
    submit.disabled = true;
    try {
      const wf = await api(`/templates/${enc(id)}/install`, { method: "POST", body: { parameters } });
      result.hidden = false;
      fill(result, h("strong", {}, "Installed "),
        h("span", { class: "mono", testid: "installed-name" }, wf.name), " ",
        h("span", { testid: "installed-version" }, `v${wf.version}`), " ",
        h("a", { class: "button primary", href: `#/start/${enc(wf.name)}`, testid: "installed-start" }, `Start ${wf.name}`), " ",
        h("a", { class: "button", href: "#/workflows" }, "All workflows"));
    } catch (err) {
      formError.hidden = false;
      formError.textContent = [err.message, ...((err.body && err.body.issues) || []).map((i) => `${i.path}: ${i.message}`)].join(" · ");
    } finally {
      submit.disabled = false;
    }
  }
}

// for the authoring pages (editor.js, versions.js), loaded on demand
export { api, h, fill, errorBox, badge, buildField, fieldOrder, showIssue, readFields, fmtDateTime };

window.addEventListener("hashchange", route);
route();
