// #/templates/<id>: one catalog template and its install form (its parameters' JSON Schema).

import { api, enc } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";
import { buildField, fieldOrder, showIssue } from "../lib/forms.js";

export async function templatePage(view, page, id) {
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
