// DOM helpers: everything is rendered with DOM APIs (text, never HTML strings from the API).

export function h(tag, attrs, ...children) {
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
export function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export function badge(status, extra = {}) {
  return h("span", { class: `badge s-${status}`, ...extra }, String(status).replace("_", " "));
}

export function progressBar(done, total) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  return h(
    "div",
    { class: "progress-cell" },
    h("div", { class: "progress", title: `${done} of ${total} steps done` },
      h("i", { style: `width:${pct}%` })),
    h("span", { class: "muted" }, `${done}/${total}`),
  );
}

export function errorBox(err) {
  const issues = (err.body && err.body.issues) || [];
  return h(
    "div",
    { class: "panel error-box", testid: "error" },
    h("strong", {}, err.status ? `Error ${err.status}: ` : "Error: "),
    err.message,
    issues.length ? h("ul", {}, issues.map((i) => h("li", {}, `${i.path}: ${i.message}`))) : null,
  );
}

export function pretty(value) {
  return h("pre", {}, value === undefined ? "–" : JSON.stringify(value, null, 2));
}
