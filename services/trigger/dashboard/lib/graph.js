// The step graph as SVG: one row per level (steps of a row can run at the same time), edges
// from the step that must finish (or is read) to the step that waits. Solid edges are data
// references, dashed ones `dependsOn`, dotted grey ones the implicit order of sequential mode.
// The server computes nodes, edges and levels (services/core/graph.py); this only draws.

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 176;
const NODE_H = 60;
const GAP_X = 28;
const GAP_Y = 46;
const PAD = 16;
const PAD_TOP = 28; // room for the "in parallel" label of the first level
const ARC = 24; // how far an edge that skips levels bows out to the right
const ARC_STEP = 14;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// Shorten each label (with "…") until it fits its width in the rendered font; the full text
// stays in the node's tooltip. Only once the graph is in the document (widths are 0 before).
function fitLabels(labels) {
  for (const [el, full, width] of labels) {
    if (!el.isConnected || el.getComputedTextLength() <= width) continue;
    let keep = Math.min(full.length, 26);
    do {
      keep -= 1;
      el.textContent = `${full.slice(0, keep)}…`;
    } while (keep > 1 && el.getComputedTextLength() > width);
    el.dataset.clipped = "true";
  }
}

// Layout: level -> row; within a row, nodes centred in definition order.
function layout(graph) {
  const levels = graph.levels.length ? graph.levels : [graph.nodes.map((n) => n.id)];
  const widest = Math.max(1, ...levels.map((row) => row.length));
  const arcs = ARC + ARC_STEP * Math.max(1, levels.length); // room for edges that skip levels
  const width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X + arcs;
  const pos = new Map();
  levels.forEach((row, level) => {
    const rowWidth = row.length * NODE_W + (row.length - 1) * GAP_X;
    const x0 = (width - arcs - rowWidth) / 2;
    row.forEach((id, i) => {
      pos.set(id, { x: x0 + i * (NODE_W + GAP_X), y: PAD_TOP + level * (NODE_H + GAP_Y) });
    });
  });
  const height = PAD_TOP + PAD + levels.length * NODE_H + (levels.length - 1) * GAP_Y;
  return { pos, width, height, levels };
}

function edgePath(a, b) {
  const span = Math.round((b.y - a.y) / (NODE_H + GAP_Y)); // levels crossed
  if (span > 1 || span < 1) { // skips levels (or points back): an arc along the right-hand side
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x + NODE_W;
    const y2 = b.y + NODE_H / 2;
    const out = Math.max(x1, x2) + ARC + ARC_STEP * Math.abs(span);
    return `M${x1},${y1} C${out},${y1} ${out},${y2} ${x2 + 2},${y2}`;
  }
  const x1 = a.x + NODE_W / 2;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2;
  const y2 = b.y;
  const bend = (y2 - y1) / 2;
  return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
}

function edgeClass(kinds) {
  if (kinds.includes("loop")) return "edge loop";
  if (kinds.includes("data")) return "edge data";
  if (kinds.includes("dependsOn")) return "edge depends";
  return "edge order";
}

// Draw `graph` into `container`; `onNode(node)` when a node is clicked. Returns a handle whose
// `highlight(steps)` marks the path taken by a dry run (steps: [{id, outcome}]).
export function drawGraph(container, graph, onNode) {
  const { pos, width, height, levels } = layout(graph);
  const svg = s("svg", {
    class: "step-graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "step graph", "data-testid": "step-graph",
  });
  const defs = s("defs", {});
  for (const kind of ["data", "depends", "order", "loop", "taken"]) {
    defs.append(s("marker", {
      id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    }, s("path", { d: "M0,0 L10,5 L0,10 z", class: `arrowhead ${kind}` })));
  }
  svg.append(defs);

  levels.forEach((row, level) => {
    if (row.length < 2) return;
    const y = PAD_TOP + level * (NODE_H + GAP_Y) - 22;
    svg.append(s("rect", { class: "parallel-band", x: 4, y, width: width - 8, height: NODE_H + 30, rx: 8, "data-testid": `parallel-level-${level}` }));
    svg.append(s("text", { class: "parallel-label", x: 12, y: y + 14 }, document.createTextNode(`these ${row.length} run in parallel`)));
  });

  const edges = new Map();
  for (const edge of graph.edges) {
    const a = pos.get(edge.from);
    const b = pos.get(edge.to);
    if (!a || !b) continue;
    const cls = edgeClass(edge.kinds);
    const kind = cls.split(" ")[1];
    const path = s("path", {
      d: edgePath(a, b), class: cls, "marker-end": `url(#arrow-${kind})`,
      "data-testid": `graph-edge-${edge.from}-${edge.to}`, "data-kinds": edge.kinds.join(" "),
    });
    path.append(s("title", {}, document.createTextNode(`${edge.from} → ${edge.to}: ${edge.kinds.join(", ")}`)));
    edges.set(`${edge.from}>${edge.to}`, { path, kind, edge });
    svg.append(path);
  }

  const nodes = new Map();
  const labels = []; // [text element, full text, width it may take]
  for (const node of graph.nodes) {
    const p = pos.get(node.id);
    if (!p) continue;
    const classes = ["node", `kind-${node.kind}`];
    if (node.condition) classes.push("conditional");
    if (node.fallback) classes.push("has-fallback");
    const g = s("g", {
      class: classes.join(" "), transform: `translate(${p.x},${p.y})`, tabindex: 0,
      "data-testid": `graph-node-${node.id}`, "data-step": node.id, "data-line": node.line,
    });
    g.append(s("rect", { class: "node-box", width: NODE_W, height: NODE_H, rx: 7 }));
    const idText = s("text", { class: "node-id", x: 10, y: 20 }, document.createTextNode(clip(node.id, 22)));
    const fnText = s("text", { class: "node-fn", x: 10, y: 38 }, document.createTextNode(clip(node.function, 26)));
    g.append(idText, fnText);
    const marks = [];
    if (node.condition) marks.push(["if", "mark-if", `condition: ${node.condition}`]);
    if (node.fallback) marks.push(["↪", "mark-fallback", `fallback: ${node.fallback}`]);
    if (node.compensate) marks.push(["↺", "mark-compensate", `compensate: ${node.compensate}`]);
    if (node.forEach) marks.push(["∀", "mark-map", `forEach: ${node.forEach}`]);
    if (node.loop) marks.push(["⟲", "mark-loop", `loop while: ${node.loop}`]);
    marks.forEach(([label, cls, title], i) => {
      const x = NODE_W - 24 - i * 24;
      const mark = s("g", { class: `gmark ${cls}`, transform: `translate(${x},6)`, "data-testid": `${cls}-${node.id}` },
        s("rect", { width: 20, height: 16, rx: 4 }),
        s("text", { x: 10, y: 12, "text-anchor": "middle" }, document.createTextNode(label)));
      mark.append(s("title", {}, document.createTextNode(title)));
      g.append(mark);
    });
    const tip = [`${node.id} → ${node.function}`];
    if (node.condition) tip.push(`condition: ${node.condition}`);
    if (node.fallback) tip.push(`fallback: ${node.fallback}`);
    if (node.forEach) tip.push(`forEach: ${node.forEach}`);
    if (node.loop) tip.push(`loop while: ${node.loop}`);
    tip.push("click to show it in the editor");
    g.append(s("title", {}, document.createTextNode(tip.join("\n"))));
    const go = () => onNode && onNode(node);
    g.addEventListener("click", go);
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    nodes.set(node.id, g);
    svg.append(g);
    // the id's row ends where the first mark starts; the function's row at the box's padding
    labels.push([idText, node.id, (marks.length ? NODE_W - 24 * marks.length - 6 : NODE_W - 10) - 10]);
    labels.push([fnText, node.function, NODE_W - 20]);
  }

  container.replaceChildren(svg);
  fitLabels(labels);
  return {
    highlight(steps) {
      const outcome = new Map((steps || []).map((st) => [st.id, st.outcome]));
      for (const [id, g] of nodes) {
        const value = outcome.get(id);
        if (value) g.dataset.outcome = value;
        else delete g.dataset.outcome;
        const badge = g.querySelector(".outcome");
        if (badge) badge.remove();
        if (value) {
          g.append(s("text", { class: "outcome", x: NODE_W - 8, y: NODE_H - 8, "text-anchor": "end" }, document.createTextNode(value)));
        }
      }
      const ran = (id) => ["ran", "fallback"].includes(outcome.get(id));
      for (const { path, kind, edge } of edges.values()) {
        const taken = steps && ran(edge.from) && ran(edge.to);
        path.classList.toggle("taken", Boolean(taken));
        path.setAttribute("marker-end", `url(#arrow-${taken ? "taken" : kind})`);
      }
    },
  };
}
