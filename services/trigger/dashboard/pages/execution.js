// #/executions/<id>: one execution, live: its facts, controls, steps, waits, KPIs and audit trail.

import { api, enc, RETRYABLE, TERMINAL } from "../lib/api.js";
import { h, fill, badge, pretty, progressBar } from "../lib/dom.js";
import { between, fmtDateTime, fmtDuration, fmtTime, toMs } from "../lib/format.js";
import { kpiPanel, waitsPanel } from "../lib/insights.js";

const LIVE_MS = 500; // execution page polling while the execution runs

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

export async function executionPage(view, page, id) {
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
      ex.priority ? fact("Priority", String(ex.priority), "fact-priority") : null,
      ex.migration ? fact("Migrated", migrated(ex.migration, link), "fact-migrated") : null,
      ex.traceId ? fact("Trace", ex.traceUrl
        ? h("a", { class: "mono", href: ex.traceUrl, target: "_blank", rel: "noopener" }, ex.traceId)
        : h("span", { class: "mono", title: "set WORKFLOWS_TRACE_URL to link it to a trace viewer" }, ex.traceId),
      "fact-trace") : null,
    );
  }

  // a new version moved it (services.core.migration): "v1 → v2, resume at hold" and links
  function migrated(m, link) {
    const how = m.resumeAt ? `, resume at ${m.resumeAt}`
      : m.restartedAs ? ", restarted as " : m.restartedFrom ? ", restarted from " : "";
    const other = m.restartedAs || m.restartedFrom;
    return h("span", {}, `v${m.from} → v${m.to} (${m.policy}${how}`, other ? link(other) : "", ")");
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
