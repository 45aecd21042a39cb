// #/schedules: the schedules, their next fire times in their own zone, pause/resume/delete, a form.

import { api, enc, ApiError } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";
import { fmtDateTime, pick, toMs } from "../lib/format.js";

const WORKFLOWS_MS = 5000; // list refresh

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

export async function schedulesPage(view, page) {
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
