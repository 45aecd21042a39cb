// The dashboard editor's only third-party code: CodeMirror 6, bundled by esbuild into
// ../dashboard/editor.bundle.js (`npm ci && npm run build`, or `make dashboard-assets`).
export { basicSetup } from "codemirror";
export { EditorState, Compartment } from "@codemirror/state";
export { EditorView, keymap } from "@codemirror/view";
export { yaml } from "@codemirror/lang-yaml";
export { json } from "@codemirror/lang-json";
export { lintGutter, setDiagnostics, forEachDiagnostic } from "@codemirror/lint";
