// Form fields built from a JSON Schema: the start form, a template's install form, the editor's
// template parameters.

import { h } from "./dom.js";

function fieldKind(schema) {
  if (Array.isArray(schema.enum) || schema.const !== undefined) return "enum";
  const types = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null") : [schema.type];
  const type = types.length === 1 ? types[0] : undefined;
  if (type === "string") return "string";
  if (type === "integer" || type === "number") return type;
  if (type === "boolean") return "boolean";
  return "json";
}

export function buildField(key, schema, required) {
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
export function fieldOrder(keys, required) {
  const rank = (key) => (required.includes(key) ? required.indexOf(key) : required.length + keys.indexOf(key));
  return [...keys].sort((a, b) => rank(a) - rank(b));
}

export function showIssue(field, message) {
  field.issue.hidden = !message;
  field.issue.textContent = message || "";
}

// The value of a form of `buildField`s (`whole`: one field holds the whole input); `bad` when
// a field could not be read (its issue is shown next to it).
export function readFields(fields, whole) {
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
