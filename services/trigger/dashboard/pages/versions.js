// #/versions/<name>: every version of a workflow with who registered it and when, the
// executions that run on each, and a side-by-side diff between two versions.

import { api, enc } from "../lib/api.js";
import { h, fill, badge, errorBox } from "../lib/dom.js";
import { fmtDateTime } from "../lib/format.js";

const SHOWN_EXECUTIONS = 5; // per version, newest first

const CONTEXT = 3; // unchanged lines kept on each side of a change; longer runs fold

// Rows with every run of unchanged lines longer than 2*CONTEXT+1 folded to one "N unchanged
// lines" row (click to unfold), so a one-line change in a long definition reads at a glance.
export function foldRows(rows) {
  const out = [];
  for (let i = 0; i < rows.length;) {
    if (rows[i].kind !== "same") { out.push(rows[i++]); continue; }
    let j = i;
    while (j < rows.length && rows[j].kind === "same") j++;
    const head = i === 0 ? 0 : CONTEXT; // a fold at either end keeps context only inward
    const tail = j === rows.length ? 0 : CONTEXT;
    if (j - i > head + tail + 1) {
      out.push(...rows.slice(i, i + head), { kind: "fold", rows: rows.slice(i + head, j - tail) }, ...rows.slice(j - tail, j));
    } else out.push(...rows.slice(i, j));
    i = j;
  }
  return out;
}

function diffTable(diff) {
  const cell = (side, cls) => [
    h("td", { class: `ln ${cls}` }, side ? String(side.line) : ""),
    h("td", { class: `code ${cls}` }, side ? side.text : ""),
  ];
  const line = (row) => h("tr", { class: `d-${row.kind}`, testid: "diff-row", "data-kind": row.kind },
    cell(row.left, row.kind === "same" ? "" : "old"), cell(row.right, row.kind === "same" ? "" : "new"));
  const fold = (row) => {
    const n = row.rows.length;
    const tr = h("tr", { class: "d-fold", testid: "diff-fold" },
      h("td", { colspan: 4 }, h("button", { type: "button", class: "link", onclick: () => tr.replaceWith(...row.rows.map(line)) },
        `⋯ ${n} unchanged line${n === 1 ? "" : "s"}`)));
    return tr;
  };
  const rows = diff.changed ? foldRows(diff.rows) : diff.rows;
  return h("table", { class: "diff", testid: "diff-table" },
    h("thead", {}, h("tr", {}, h("th", { colspan: 2 }, `v${diff.from}`), h("th", { colspan: 2 }, `v${diff.to}`))),
    h("tbody", {}, rows.map((row) => (row.kind === "fold" ? fold(row) : line(row)))));
}

export async function versionsPage(view, page, name, params) {
  document.title = `Versions of ${name} · dashboard`;
  const [wf, executions] = await Promise.all([
    api(`/workflows/${enc(name)}`),
    api(`/executions?workflow=${enc(name)}&limit=500`),
  ]);
  if (!page.alive) return;
  const versions = [...(wf.versions || [])].sort((a, b) => b.version - a.version);
  const byVersion = new Map();
  for (const e of executions) {
    if (!byVersion.has(e.version)) byVersion.set(e.version, []);
    byVersion.get(e.version).push(e);
  }

  const rows = versions.map((v) => {
    const runs = byVersion.get(v.version) || [];
    const counts = {};
    for (const e of runs) counts[e.status] = (counts[e.status] || 0) + 1;
    return h("tr", { testid: `version-row-${v.version}` },
      h("td", { class: "num" }, h("strong", {}, `v${v.version}`), v.version === wf.version ? h("span", { class: "muted" }, " latest") : null),
      h("td", { testid: `version-at-${v.version}` }, fmtDateTime(v.registeredAt)),
      h("td", { testid: `version-by-${v.version}` }, v.registeredBy || "–"),
      h("td", { testid: `version-executions-${v.version}` },
        h("div", {}, h("strong", { testid: `version-count-${v.version}` }, String(runs.length)), " ",
          Object.entries(counts).map(([st, n]) => h("span", { class: "muted" }, ` ${n} ${st.replace("_", " ")}`))),
        runs.slice(0, SHOWN_EXECUTIONS).map((e) => h("div", { class: "mono small" },
          h("a", { href: `#/executions/${enc(e.executionId)}`, testid: "version-execution" }, e.executionId.slice(0, 12)), " ", badge(e.status)))),
      h("td", {}, h("div", { class: "actions nowrap" },
        h("a", { class: "button", href: `#/editor/${enc(name)}?version=${v.version}`, testid: `version-edit-${v.version}` }, "Edit from here"),
        h("a", { class: "button", href: `#/start/${enc(name)}` }, "Start"))));
  });

  const options = () => versions.map((v) => h("option", { value: String(v.version) }, `v${v.version}`));
  const fromSel = h("select", { testid: "diff-from" }, options());
  const toSel = h("select", { testid: "diff-to" }, options());
  const latest = versions.length ? versions[0].version : 1;
  fromSel.value = params.get("from") || String(Math.max(1, latest - 1));
  toSel.value = params.get("to") || String(latest);
  const diffBox = h("div", { testid: "diff" });
  async function compare(event) {
    if (event) event.preventDefault();
    try {
      const diff = await api(`/workflows/${enc(name)}/diff?from=${enc(fromSel.value)}&to=${enc(toSel.value)}`);
      if (!page.alive) return;
      fill(diffBox, h("p", { class: "muted", testid: "diff-summary" },
        diff.changed ? `${diff.changed} line${diff.changed === 1 ? " differs" : "s differ"}` : "identical"), diffTable(diff));
    } catch (err) {
      fill(diffBox, errorBox(err));
    }
  }

  fill(view,
    h("div", { class: "crumbs" }, h("a", { href: "#/workflows" }, "← Workflows")),
    h("h1", {}, `Versions of ${name}`, h("span", { class: "sub" }, "immutable; an execution keeps the version it started with")),
    h("div", { class: "actions" },
      h("a", { class: "button primary", href: `#/editor/${enc(name)}`, testid: "versions-edit" }, "Edit (new version)"),
      h("a", { class: "button", href: `#/executions?workflow=${enc(name)}` }, "All executions")),
    h("div", { class: "panel" }, h("table", { testid: "versions-table" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Version"), h("th", {}, "Registered"), h("th", {}, "By"),
        h("th", {}, `Executions (of the latest ${executions.length})`), h("th", {}, ""))),
      h("tbody", {}, rows))),
    h("div", { class: "panel" }, h("h2", {}, "Compare versions"),
      h("form", { class: "diff-form", onsubmit: compare },
        h("label", {}, "from ", fromSel), h("label", {}, "to ", toSel),
        h("button", { type: "submit", testid: "diff-compare" }, "Compare")),
      diffBox),
  );
  if (versions.length > 1) await compare();
}
