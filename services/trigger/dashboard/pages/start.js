// #/start/<workflow>: the start form, one field per input property (its JSON Schema).

import { api, enc } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";
import { buildField, fieldOrder, readFields, showIssue } from "../lib/forms.js";

export async function startPage(view, page, name) {
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
