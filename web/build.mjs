// Bundle the console (esbuild) into ../live/api/console/: index.html plus hashed assets, and
// SOURCE_HASH, the hash of the sources the bundle was built from (a Python test compares it).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "live", "api", "console");

/** The same hash as live.api._console.source_hash: build.mjs, the lock, then src/ files in order. */
function sourceHash() {
  const h = createHash("sha256");
  const walk = (dir) =>
    readdirSync(dir)
      .map((n) => join(dir, n))
      .flatMap((p) => (statSync(p).isDirectory() ? walk(p) : [p]));
  const src = walk(join(here, "src")).sort((a, b) => {
    const x = relative(here, a);
    const y = relative(here, b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  for (const f of [join(here, "build.mjs"), join(here, "package-lock.json"), ...src]) {
    h.update(Buffer.concat([Buffer.from(relative(here, f).split("\\").join("/")), Buffer.from([0]), readFileSync(f), Buffer.from([0])]));
  }
  return h.digest("hex");
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const result = await esbuild.build({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "linked",
  metafile: true,
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((p) => relative(join(out, "assets"), p));
const js = outputs.find((p) => p.endsWith(".js"));
const css = outputs.find((p) => p.endsWith(".css"));
if (!js || !css) throw new Error(`esbuild wrote no script or stylesheet: ${outputs.join(", ")}`);
writeFileSync(
  join(out, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>grekko console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${css}">
<script type="module" src="/console/assets/${js}"></script>
</head>
<body>
<div id="root"></div>
</body>
</html>
`,
);
writeFileSync(join(out, "SOURCE_HASH"), `${sourceHash()}\n`);
let total = 0;
for (const p of [js, css]) total += statSync(join(out, "assets", p)).size;
console.log(`console bundle: ${js} + ${css} (${(total / 1024).toFixed(1)} KiB) in ${relative(process.cwd(), out) || "."}`);
