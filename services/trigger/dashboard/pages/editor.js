// Authoring pages, loaded on demand by the router (app.js):
//   #/editor                      a new workflow
//   #/editor/<name>[?version=N]   a new version of a registered workflow, starting from version N
//   #/editor?template=<id>        a catalog template, its parameters filled in
//   #/versions/<name>             versions, who registered them, a diff, executions per version
// Every API call goes through lib/api.js's `api` helper (it carries the credentials).

import { api, enc } from "../lib/api.js";
import { h, fill, errorBox, badge } from "../lib/dom.js";
import { buildField, fieldOrder, showIssue, readFields } from "../lib/forms.js";
import { drawGraph } from "../lib/graph.js";
import * as CM from "../editor.bundle.js";
import { versionsPage } from "./versions.js";

const CHECK_DELAY_MS = 300; // live validation runs this long after the last keystroke
const STARTER = `name: myWorkflow
description: What this workflow does
input:
  type: object
  properties:
    customerId: {type: string}
  required: [customerId]
steps:
  - id: firstStep
    function: myFunction
    input: {customerId: '{{input.customerId}}'}
`;

function ensureCss() {
  if (document.querySelector('link[data-editor-css]')) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/dashboard/editor.css", "data-editor-css": true }));
}

export async function authoringPage(view, page, parts, params) {
  ensureCss();
  if (parts[0] === "versions" && parts[1]) return versionsPage(view, page, parts[1], params);
  return editorPage(view, page, parts[1], params);
}

// ---------------------------------------------------------------- the editor page

async function startingPoint(name, params) {
  const templateId = params.get("template");
  if (name) {
    const version = params.get("version");
    const src = await api(`/workflows/${enc(name)}/source${version ? `?version=${enc(version)}` : ""}`);
    // the text as registered (comments kept); a version from before texts were kept is YAML
    return { title: `Edit ${name}`, sub: `a new version, starting from v${src.version}`, text: src.text, format: src.format };
  }
  if (templateId) {
    const [template, draft] = await Promise.all([
      api(`/templates/${enc(templateId)}`),
      api(`/templates/${enc(templateId)}/draft`, { method: "POST", body: { parameters: {} } }),
    ]);
    return { title: `New workflow from ${template.title || template.id}`, sub: "parameters filled in with their defaults", text: draft.text, template };
  }
  return { title: "New workflow", sub: "YAML or JSON; checked as you type", text: STARTER };
}

function templatePanel(template, onText) {
  const schema = template.parameters && typeof template.parameters === "object" ? template.parameters : {};
  const props = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const fields = fieldOrder(Object.keys(props), [...required]).map((key) => buildField(key, props[key] || {}, required.has(key)));
  const error = h("div", { class: "form-error", testid: "template-error", hidden: true });
  async function onSubmit(event) {
    event.preventDefault();
    error.hidden = true;
    const { value: parameters, bad } = readFields(fields, false);
    if (bad) return;
    try {
      const draft = await api(`/templates/${enc(template.id)}/draft`, { method: "POST", body: { parameters } });
      onText(draft.text);
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
  }
  return h("details", { class: "panel template-params", testid: "template-params", open: true },
    h("summary", {}, `Template parameters (${template.id})`),
    h("form", { class: "start compact", novalidate: true, onsubmit: onSubmit },
      fields.map((f) => f.el),
      h("div", { class: "form-actions" },
        h("button", { type: "submit", testid: "template-fill" }, "Fill in the editor"), error)));
}

function lineOffset(doc, line) {
  const n = Math.min(Math.max(1, line || 1), doc.lines);
  return doc.line(n).from;
}

async function editorPage(view, page, name, params) {
  document.title = `${name ? `Edit ${name}` : "New workflow"} · dashboard`;
  const start = await startingPoint(name, params);
  if (!page.alive) return;

  const language = new CM.Compartment();
  const status = h("span", { class: "check-status", testid: "validation-status" }, "checking…");
  const problems = h("ul", { class: "problems", testid: "problems" });
  const graphBox = h("div", { class: "graph-box", testid: "graph-panel" }, h("p", { class: "muted" }, "The graph appears once the definition is valid."));
  const saveBtn = h("button", { class: "primary", testid: "editor-save", disabled: true, onclick: () => save() }, "Save as new version");
  const saved = h("div", { class: "saved", testid: "saved", hidden: true });
  const formatSel = h("select", { testid: "editor-format", onchange: () => switchFormat() },
    h("option", { value: "yaml" }, "YAML"), h("option", { value: "json" }, "JSON"));
  formatSel.value = start.format === "json" ? "json" : "yaml";
  const host = h("div", { class: "editor-host", testid: "editor" });
  const dryRun = h("div", { class: "panel dry-run", testid: "dry-run" }, h("h2", {}, "Dry run"),
    h("p", { class: "muted" }, "Available once the definition is valid."));

  fill(view,
    h("div", { class: "crumbs" }, h("a", { href: "#/workflows" }, "← Workflows"),
      name ? [" · ", h("a", { href: `#/versions/${enc(name)}` }, "Versions")] : null),
    h("h1", {}, start.title, h("span", { class: "sub" }, start.sub)),
    start.template ? templatePanel(start.template, (text) => replaceText(text)) : null,
    h("div", { class: "authoring" },
      h("div", { class: "authoring-main" },
        h("div", { class: "panel editor-panel" },
          h("div", { class: "editor-toolbar" }, h("label", {}, "Format ", formatSel), status, saveBtn),
          host, problems),
        saved),
      h("div", { class: "authoring-side" },
        h("div", { class: "panel" }, h("h2", {}, "Step graph"),
          h("div", { class: "legend muted" },
            h("span", { class: "lg data" }, "data reference"), h("span", { class: "lg depends" }, "dependsOn"),
            h("span", { class: "lg order" }, "order"), h("span", { class: "lg if" }, "if = condition"),
            h("span", { class: "lg fb" }, "↪ = fallback")),
          graphBox),
        dryRun)),
  );

  let seq = 0;
  let timer = null;
  let last = null; // the latest check result that matches the editor's text
  let graph = null;
  let dryFields = null;

  const editor = new CM.EditorView({
    parent: host,
    state: CM.EditorState.create({
      doc: start.text,
      extensions: [
        CM.basicSetup,
        CM.lintGutter(),
        language.of(formatSel.value === "json" ? CM.json() : CM.yaml()),
        CM.keymap.of([{ key: "Mod-s", preventDefault: true, run: () => { save(); return true; } }]),
        CM.EditorView.updateListener.of((update) => { if (update.docChanged) schedule(); }),
      ],
    }),
  });

  function replaceText(text) {
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
  }

  function schedule() {
    status.textContent = "checking…";
    status.className = "check-status";
    saveBtn.disabled = true;
    clearTimeout(timer);
    timer = setTimeout(() => check(), CHECK_DELAY_MS);
  }

  async function check() {
    const mine = ++seq;
    const text = editor.state.doc.toString();
    let result;
    try {
      result = await api("/workflows/validate", { method: "POST", body: { text, format: formatSel.value } });
    } catch (err) {
      if (mine === seq && page.alive) {
        status.textContent = `cannot check: ${err.message}`;
        status.className = "check-status bad";
      }
      return null;
    }
    if (mine !== seq || !page.alive || text !== editor.state.doc.toString()) return null; // stale
    show(result);
    return result;
  }

  function show(result) {
    last = result;
    const doc = editor.state.doc;
    const diagnostics = result.issues.map((issue) => {
      const from = issue.offset ?? (issue.line ? lineOffset(doc, issue.line) : 0);
      const at = Math.min(from, doc.length);
      const to = Math.min(doc.lineAt(at).to, Math.max(at + 1, at));
      return { from: at, to: to > at ? to : at, severity: "error", message: issue.text };
    });
    editor.dispatch(CM.setDiagnostics(editor.state, diagnostics));
    fill(problems, result.issues.map((issue) => h("li", {
      testid: "problem", "data-line": issue.line ?? "", "data-path": issue.path,
      onclick: () => jump(issue.offset ?? (issue.line ? lineOffset(editor.state.doc, issue.line) : 0)),
    }, issue.text)));
    if (result.ok) {
      status.textContent = `✓ valid: ${result.name}, ${result.steps} step${result.steps === 1 ? "" : "s"}`;
      status.className = "check-status good";
      saveBtn.disabled = false;
      graph = drawGraph(graphBox, result.graph, (node) => jump(lineOffset(editor.state.doc, node.line)));
      buildDryRun(result);
    } else {
      const n = result.issues.length;
      status.textContent = `${n} problem${n === 1 ? "" : "s"}`;
      status.className = "check-status bad";
      graphBox.classList.add("stale");
    }
    if (result.ok) graphBox.classList.remove("stale");
  }

  function jump(offset) {
    const at = Math.min(Math.max(0, offset || 0), editor.state.doc.length);
    editor.dispatch({ selection: { anchor: at }, scrollIntoView: true });
    editor.focus();
  }

  function switchFormat() {
    const fmt = formatSel.value;
    editor.dispatch({ effects: language.reconfigure(fmt === "json" ? CM.json() : CM.yaml()) });
    if (fmt === "json" && last && last.ok && last.definition) replaceText(`${JSON.stringify(last.definition, null, 2)}\n`);
    else schedule(); // JSON text is YAML too: going back keeps the text as it is
  }

  async function save() {
    clearTimeout(timer);
    const result = await check();
    if (!result || !result.ok) return;
    saveBtn.disabled = true;
    saved.hidden = false;
    try {
      // the text itself, so the version keeps its comments and layout (GET .../source shows it)
      const text = editor.state.doc.toString();
      const contentType = formatSel.value === "json" ? "application/json" : "application/yaml";
      const reg = await api("/workflows", { method: "POST", text, contentType });
      fill(saved, h("div", { class: "panel saved-box" },
        h("strong", { testid: "saved-message" },
          reg.created ? `Registered ${reg.name} v${reg.version}` : `Unchanged: identical to ${reg.name} v${reg.version}`),
        " ",
        h("a", { class: "button primary", href: `#/start/${enc(reg.name)}`, testid: "saved-start" }, `Start ${reg.name}`), " ",
        h("a", { class: "button", href: `#/versions/${enc(reg.name)}`, testid: "saved-versions" }, "Versions")));
    } catch (err) {
      fill(saved, errorBox(err));
    } finally {
      saveBtn.disabled = !(last && last.ok);
    }
  }

  // -------------------------------------------------------------- dry run

  function buildDryRun(result) {
    const schema = result.input || {};
    const steps = result.graph.nodes.map((n) => n.id);
    // a fallback function's output is mocked by its function name (the API's `mocks` keys)
    const fallbacks = [...new Set(result.graph.nodes.map((n) => n.fallback).filter((f) => f && !steps.includes(f)))];
    const key = JSON.stringify([schema, steps, fallbacks]);
    if (dryFields && dryFields.key === key) return; // keep what the user entered
    const previous = dryFields;
    const props = schema.properties && typeof schema.properties === "object" ? schema.properties : null;
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    const fields = props
      ? fieldOrder(Object.keys(props), [...required]).map((k) => buildField(k, props[k] || {}, required.has(k)))
      : [buildField("input", { type: "object", description: "The whole execution input as JSON." }, false)];
    const mocks = new Map();
    for (const id of [...steps, ...fallbacks]) {
      const old = previous && previous.mocks.get(id);
      const area = h("textarea", { rows: 1, spellcheck: "false", testid: `mock-${id}`, placeholder: "{}", "aria-label": `mocked output of ${id}` });
      if (old) area.value = old.area.value;
      const fail = steps.includes(id)
        ? h("input", { type: "checkbox", testid: `fail-${id}`, checked: old && old.fail ? old.fail.checked : false, title: "every attempt fails (then its fallback runs, if any)" })
        : null;
      mocks.set(id, { area, fail });
    }
    const formError = h("div", { class: "form-error", testid: "dry-run-error", hidden: true });
    const out = h("div", { class: "dry-run-result", testid: "dry-run-result", hidden: true });
    const run = h("button", { type: "submit", class: "primary", testid: "dry-run-submit" }, "Run dry run");
    dryFields = { key, fields, mocks, whole: !props };
    fill(dryRun, h("h2", {}, "Dry run"),
      h("form", { class: "start compact", novalidate: true, testid: "dry-run-form", onsubmit: (e) => { e.preventDefault(); runDry(run, formError, out); } },
        h("h3", {}, "Input"), fields.map((f) => f.el),
        h("h3", {}, "Mocked step outputs ", h("span", { class: "muted" }, "(JSON; default {})")),
        h("table", { class: "mocks" }, h("tbody", {}, [...mocks].map(([id, m]) => h("tr", {},
          h("td", { class: "mono" }, m.fail ? id : `↪ ${id}`), h("td", {}, m.area),
          h("td", { class: "nowrap" }, m.fail ? h("label", {}, m.fail, " fail") : h("span", { class: "muted" }, "fallback")))))),
        h("div", { class: "form-actions" }, run, formError)),
      out);
  }

  async function runDry(button, formError, out) {
    formError.hidden = true;
    const { fields, mocks, whole } = dryFields;
    const read = readFields(fields, whole);
    const input = read.value;
    let bad = read.bad;
    const mocked = {};
    const fail = [];
    for (const [id, m] of mocks) {
      if (m.fail && m.fail.checked) fail.push(id);
      if (!m.area.value.trim()) continue;
      try {
        mocked[id] = JSON.parse(m.area.value);
        m.area.classList.remove("bad");
      } catch (err) {
        m.area.classList.add("bad");
        formError.hidden = false;
        formError.textContent = `mock for ${id} is not valid JSON: ${err.message}`;
        bad = true;
      }
    }
    if (bad) return;
    button.disabled = true;
    try {
      const body = { text: editor.state.doc.toString(), format: formatSel.value, input, mocks: mocked, fail };
      const result = await api("/workflows/simulate", { method: "POST", body });
      if (!page.alive) return;
      graph = drawGraph(graphBox, result.graph, (node) => jump(lineOffset(editor.state.doc, node.line)));
      graph.highlight(result.steps);
      out.hidden = false;
      fill(out,
        h("div", { class: "dry-status" }, "Result: ", badge(result.status, { testid: "dry-run-status" })),
        h("table", { testid: "dry-run-steps" }, h("tbody", {}, result.steps.map((st) => h("tr", { testid: `dry-run-step-${st.id}`, "data-outcome": st.outcome },
          h("td", { class: "mono" }, st.id), h("td", {}, h("span", { class: `outcome-tag o-${st.outcome.replace(" ", "-")}` }, st.outcome)),
          h("td", { class: "muted" }, st.reason))))),
        h("details", {}, h("summary", {}, "Transitions"), h("pre", { testid: "dry-run-lines" }, result.lines.join("\n"))));
    } catch (err) {
      formError.hidden = false;
      const issues = (err.body && err.body.issues) || [];
      for (const issue of issues) {
        const field = fields.find((f) => f.key === String(issue.path || "").split(".")[0]);
        if (field) showIssue(field, issue.message);
      }
      formError.textContent = [err.message, ...issues.map((i) => `${i.path}: ${i.message}`)].join(" · ");
    } finally {
      button.disabled = false;
    }
  }

  await check();
}

