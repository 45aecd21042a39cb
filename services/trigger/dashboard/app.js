// Workflows dashboard: a dependency-free single-page app over the trigger service's JSON API.
// This file is the router: the route table below maps a hash route to the page module that
// renders it (pages/, loaded with import() on first use); the pages build on lib/ (api, dom,
// format, forms, page, login, insights, graph). Nothing imports this file.

import { errorBox, fill, h } from "./lib/dom.js";
import { installLogin } from "./lib/login.js";
import { newPage } from "./lib/page.js";

// `first`: the route's first part; `id`: it needs a second part (#/executions/<id>);
// `show(module, r)` renders the page, r = { view, page, parts, params }.
const ROUTES = [
  { first: "executions", id: true, load: () => import("./pages/execution.js"), show: (m, r) => m.executionPage(r.view, r.page, r.parts[1]) },
  { first: "executions", load: () => import("./pages/executions.js"), show: (m, r) => m.executionsPage(r.view, r.page, r.params) },
  { first: "start", id: true, load: () => import("./pages/start.js"), show: (m, r) => m.startPage(r.view, r.page, r.parts[1]) },
  { first: "schedules", load: () => import("./pages/schedules.js"), show: (m, r) => m.schedulesPage(r.view, r.page) },
  { first: "limits", load: () => import("./pages/limits.js"), show: (m, r) => m.limitsPage(r.view, r.page) },
  { first: "metrics", id: true, load: () => import("./pages/metrics.js"), show: (m, r) => m.metricsPage(r.view, r.page, r.parts[1]) },
  { first: "templates", id: true, load: () => import("./pages/template.js"), show: (m, r) => m.templatePage(r.view, r.page, r.parts[1]) },
  { first: "templates", load: () => import("./pages/templates.js"), show: (m, r) => m.templatesPage(r.view, r.page, r.params) },
  { first: "editor", load: () => import("./pages/editor.js"), show: (m, r) => m.authoringPage(r.view, r.page, r.parts, r.params) },
  { first: "versions", load: () => import("./pages/editor.js"), show: (m, r) => m.authoringPage(r.view, r.page, r.parts, r.params) },
];
// #/workflows, and any route the table does not know
const WORKFLOWS = { load: () => import("./pages/workflows.js"), show: (m, r) => m.workflowsPage(r.view, r.page) };

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/workflows";
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

async function route() {
  const page = newPage();
  const { parts, params } = parseHash();
  const view = document.getElementById("view");
  const section = parts[0] === "start" || parts[0] === "metrics" ? "workflows" : parts[0] || "workflows";
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
  fill(view, h("p", { class: "muted" }, "Loading…"));
  const found = ROUTES.find((r) => r.first === parts[0] && (!r.id || parts[1])) || WORKFLOWS;
  try {
    const module = await found.load();
    if (!page.alive) return; // the user went on while the module loaded
    await found.show(module, { view, page, parts, params });
  } catch (err) {
    if (page.alive) fill(view, errorBox(err));
  }
}

installLogin(route);
window.addEventListener("hashchange", route);
route();
