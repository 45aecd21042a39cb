// #/templates?q=&tag=: the template catalog, searched and filtered by tag.

import { api, enc } from "../lib/api.js";
import { h, fill } from "../lib/dom.js";

export async function templatesPage(view, page, params) {
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
