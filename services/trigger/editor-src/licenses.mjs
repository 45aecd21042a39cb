// Prints the license notices of every package bundled into editor.bundle.js (esbuild excluded:
// it is the build tool, not part of the bundle). Sorted, so the output is reproducible.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
const names = Object.keys(lock.packages)
  .filter((p) => p.startsWith("node_modules/") && !p.includes("esbuild"))
  .map((p) => p.slice("node_modules/".length))
  .sort();
const out = ["Third-party software bundled in editor.bundle.js", ""];
for (const name of names) {
  const dir = join("node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  out.push("=".repeat(72), `${pkg.name}@${pkg.version} (${pkg.license})`, "=".repeat(72));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  out.push(file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").trim() : `License: ${pkg.license}`, "");
}
console.log(out.join("\n"));
