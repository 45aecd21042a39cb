// What an execution measured and what it waits for, and a workflow's KPIs:
//   the execution page's KPI panel (values with the units the definition declares),
//   its "Waiting for" panel (approvals: approvers, quorum, deadline, message, decisions,
//   Approve / Reject; events: a "send signal" form),
//   the KPI column of the workflows list (the metrics page is pages/metrics.js).
//   The API enforces the scopes: a read-only key sees everything here and gets the API's
//   403 message when it tries to decide or signal.

import { api, enc } from "./api.js";
import { h, fill } from "./dom.js";
import { fmtDateTime } from "./format.js";

// ---------------------------------------------------------------- numbers with units

export function formatKpi(value, unit) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const shown = Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  if (!unit) return shown;
  return unit === "percent" || unit === "%" ? `${shown} %` : `${shown} ${unit}`;
}

// A registered version never changes: its metrics[] are read once per page load.
const declaredCache = new Map();

export async function declaredMetrics(name, version) {
  const key = `${name}@${version ?? "latest"}`;
  if (!declaredCache.has(key)) {
    const q = version ? `?version=${enc(version)}` : "";
    declaredCache.set(key, api(`/workflows/${enc(name)}${q}`).then(
      (wf) => (wf.definition && wf.definition.metrics) || [],
      (err) => { declaredCache.delete(key); throw err; }));
  }
  return declaredCache.get(key);
}

// ---------------------------------------------------------------- execution page: KPIs

export function kpiPanel() {
  const body = h("div", { testid: "kpi-body" }, h("p", { class: "muted" }, "…"));
  const panel = h("div", { class: "panel", testid: "kpi-panel" }, h("h2", {}, "KPIs"), body);
  let shownFor = null;
  async function render(ex, terminal) {
    const key = `${ex.status}:${JSON.stringify((ex.metrics || {}).kpis || {})}`;
    if (key === shownFor) return;
    let declared = [];
    try {
      declared = await declaredMetrics(ex.workflow, ex.version);
    } catch {
      declared = []; // the definition is gone: show what the execution recorded
    }
    shownFor = key;
    const metrics = ex.metrics || {};
    const values = metrics.kpis || {};
    const missing = metrics.kpisMissing || {};
    const names = [...declared.map((m) => m.name), ...Object.keys(values), ...Object.keys(missing)];
    const unique = [...new Set(names)];
    if (!unique.length) {
      fill(body, h("p", { class: "muted", testid: "no-kpis" }, "This workflow declares no KPIs (metrics[] in its definition)."));
      return;
    }
    const byName = new Map(declared.map((m) => [m.name, m]));
    fill(body,
      terminal ? null : h("p", { class: "muted", testid: "kpis-pending" }, "KPIs are measured when the execution ends."),
      h("table", { testid: "kpi-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "KPI"), h("th", { class: "num" }, "Value"), h("th", {}, "How it is measured"))),
        h("tbody", {}, unique.map((name) => {
          const m = byName.get(name) || {};
          const has = Object.prototype.hasOwnProperty.call(values, name);
          const how = m.value ? h("code", {}, m.value) : m.between ? `${m.between[0]} → ${m.between[1]} (ms)` : "reported by a step (_kpis)";
          return h("tr", { testid: `kpi-${name}` },
            h("td", {}, h("strong", {}, name), m.description ? h("div", { class: "small muted" }, m.description) : null),
            h("td", { class: "num kpi-value", testid: `kpi-value-${name}` },
              has ? formatKpi(values[name], m.unit) : "–",
              !has && missing[name] ? h("div", { class: "small muted", testid: `kpi-missing-${name}` }, missing[name]) : null),
            h("td", { class: "small" }, how));
        }))));
  }
  return { panel, render };
}

// ---------------------------------------------------------------- execution page: waits

function deadlineText(iso) {
  if (!iso) return "none";
  const ms = Date.parse(iso) - Date.now();
  if (!Number.isFinite(ms)) return iso;
  const minutes = Math.round(Math.abs(ms) / 60000);
  const rel = minutes < 1 ? "under a minute" : minutes < 120 ? `${minutes} min` : `${Math.round(minutes / 60)} h`;
  return `${fmtDateTime(iso)} (${ms >= 0 ? `in ${rel}` : `${rel} ago`})`;
}

function approvalBlock(executionId, stepId, wait, onDone) {
  const decisions = wait.decisions || {};
  const approvers = wait.approvers || [];
  const open = approvers.filter((a) => !decisions[a]);
  const note = h("span", { class: "note", testid: `approval-note-${stepId}` });
  const who = h("select", { testid: `approver-${stepId}` }, open.map((a) => h("option", { value: a }, a)));
  const comment = h("input", { type: "text", placeholder: "comment (recorded in the audit trail)", testid: `approval-comment-${stepId}` });
  async function decide(decision) {
    note.textContent = `${decision}…`;
    try {
      await api(`/executions/${enc(executionId)}/approvals/${enc(stepId)}`, {
        method: "POST", body: { approver: who.value, decision, comment: comment.value || null } });
      note.textContent = `${decision === "approve" ? "approval" : "rejection"} by ${who.value} sent`;
      onDone();
    } catch (err) {
      note.textContent = err.message;
      note.classList.add("bad");
    }
  }
  const fact = (label, value, testid) => h("div", { testid }, h("span", {}, label), h("strong", {}, value));
  return h("div", { class: "wait", testid: `wait-${stepId}`, "data-kind": "approval" },
    h("h3", {}, "Approval ", h("code", {}, stepId)),
    wait.message ? h("p", { class: "wait-message", testid: `approval-message-${stepId}` }, wait.message) : null,
    h("div", { class: "facts" },
      fact("Approvers", approvers.join(", ") || "–", `approval-approvers-${stepId}`),
      fact("Quorum", String(wait.quorum || "any"), `approval-quorum-${stepId}`),
      fact("Deadline", deadlineText(wait.deadline), `approval-deadline-${stepId}`),
      (wait.escalateTo || []).length ? fact("Escalates to", `${wait.escalateTo.join(", ")}${wait.escalated ? " (escalated)" : ""}`) : null),
    h("table", { class: "decisions", testid: `approval-decisions-${stepId}` },
      h("thead", {}, h("tr", {}, h("th", {}, "Approver"), h("th", {}, "Decision"), h("th", {}, "Comment"), h("th", {}, "At"))),
      h("tbody", {}, approvers.map((a) => {
        const d = decisions[a];
        return h("tr", { testid: `decision-${stepId}-${a}` },
          h("td", {}, a),
          h("td", {}, d ? h("span", { class: `badge ${d.decision === "approve" ? "s-completed" : "s-failed"}` }, d.decision === "approve" ? "approved" : "rejected") : h("span", { class: "muted" }, "pending")),
          h("td", {}, d && d.comment ? d.comment : ""),
          h("td", { class: "mono" }, d ? fmtDateTime(d.at) : ""));
      }))),
    open.length
      ? h("div", { class: "actions" }, h("label", {}, "Decide as ", who), comment,
        h("button", { type: "button", class: "primary", testid: `approve-${stepId}`, onclick: () => decide("approve") }, "Approve"),
        h("button", { type: "button", class: "danger", testid: `reject-${stepId}`, onclick: () => decide("reject") }, "Reject"),
        note)
      : h("p", { class: "muted" }, "Every approver has decided."));
}

function eventBlock(executionId, stepId, wait, onDone) {
  const events = wait.events || [];
  const note = h("span", { class: "note", testid: `signal-note-${stepId}` });
  const name = h("select", { testid: `signal-name-${stepId}` }, events.map((e) => h("option", { value: e }, e)));
  const payload = h("textarea", { rows: 3, testid: `signal-payload-${stepId}`, placeholder: '{"approved": true}' });
  async function send() {
    let body;
    try {
      body = { name: name.value, payload: payload.value.trim() ? JSON.parse(payload.value) : null };
    } catch (err) {
      note.textContent = `the payload is not valid JSON: ${err.message}`;
      return;
    }
    if (wait.correlation) body.correlation = wait.correlation;
    note.textContent = "sending…";
    try {
      await api(`/executions/${enc(executionId)}/signal`, { method: "POST", body });
      note.textContent = `signal ${body.name} sent`;
      onDone();
    } catch (err) {
      note.textContent = err.message;
    }
  }
  return h("div", { class: "wait", testid: `wait-${stepId}`, "data-kind": "event" },
    h("h3", {}, "Waiting for an event ", h("code", {}, stepId)),
    h("div", { class: "facts" },
      h("div", {}, h("span", {}, "Events"), h("strong", {}, events.join(", ") || "–")),
      h("div", {}, h("span", {}, "Correlation"), h("strong", {}, wait.correlation || "–")),
      h("div", {}, h("span", {}, "Deadline"), h("strong", {}, deadlineText(wait.deadline)))),
    h("div", { class: "signal-form" }, h("label", {}, "Signal ", name), h("label", { class: "grow" }, "Payload (JSON) ", payload),
      h("button", { type: "button", class: "primary", testid: `send-signal-${stepId}`, onclick: send }, "Send signal"), note));
}

export function waitsPanel(executionId, refresh) {
  const body = h("div", { testid: "waits-body" });
  const panel = h("div", { class: "panel", testid: "waits-panel", hidden: true }, h("h2", {}, "Waiting for"), body);
  let shown = null;
  async function render(ex) {
    const waiting = Object.values(ex.steps || {}).some((s) => s.status === "waiting");
    panel.hidden = !waiting;
    if (!waiting) { shown = null; return; }
    const reply = await api(`/executions/${enc(executionId)}/waits`);
    const key = JSON.stringify(reply.waits);
    if (key === shown) return; // keep what the user typed while nothing changed
    shown = key;
    fill(body, Object.entries(reply.waits || {}).map(([stepId, wait]) => {
      if (wait.kind === "approval") return approvalBlock(executionId, stepId, wait, refresh);
      if (wait.kind === "event") return eventBlock(executionId, stepId, wait, refresh);
      return h("div", { class: "wait", testid: `wait-${stepId}`, "data-kind": wait.kind },
        h("h3", {}, "Sleeping ", h("code", {}, stepId)), h("p", {}, `until ${deadlineText(wait.until)}`));
    }));
  }
  return { panel, render };
}

// ---------------------------------------------------------------- workflows list: KPI column

export function kpiCell(metrics, declared) {
  const byName = new Map((declared || []).map((m) => [m.name, m]));
  const entries = Object.entries((metrics && metrics.kpis) || {}).filter(([, s]) => s.count);
  if (!entries.length) return "–";
  return entries.map(([name, s]) => h("div", { class: "small nowrap", testid: `kpi-mean-${name}` },
    h("span", { class: "muted" }, `${name} `), formatKpi(s.mean, s.unit || (byName.get(name) || {}).unit)));
}
