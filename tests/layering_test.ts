/**
 * The package's layers, read from `deno info --json`: no import circles; the
 * SQLite wing (`src/sqlite/`) is reached by one core file (and `mod.ts`);
 * nothing outside it imports `node:sqlite`, calls `Deno.dlopen` or names a
 * pragma; the CLI uses only what `mod.ts` exports.
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
/** The entry points: the package, the CLI, and what Web Workers load by URL. */
const ENTRIES = ["mod.ts", "src/cli/main.ts", "src/_pool_worker.ts", "mcp.ts"];
/** The core files allowed to import the SQLite wing. */
const SQLITE_DOORS = new Set(["mod.ts", "src/_open_backend.ts"]);

interface Module {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier?: string } }[];
}

/** Local module (path relative to the repository) → the modules it imports. */
export async function importGraph(entries: string[]): Promise<Map<string, Set<string>>> {
  const graph = new Map<string, Set<string>>();
  for (const entry of entries) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: Module[] };
    for (const m of info.modules) {
      if (!m.specifier.startsWith("file:")) continue;
      const from = relative(ROOT, fromFileUrl(m.specifier));
      const deps = graph.get(from) ?? new Set<string>();
      for (const d of m.dependencies ?? []) {
        const to = d.code?.specifier;
        if (to === undefined) continue;
        deps.add(to.startsWith("file:") ? relative(ROOT, fromFileUrl(to)) : to);
      }
      graph.set(from, deps);
    }
  }
  return graph;
}

/** Every import circle among local modules, each as the path that closes it. */
export function circles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (m: string) => {
    state.set(m, "open");
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === "open") found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(m, "done");
  };
  for (const m of graph.keys()) if (state.get(m) === undefined) visit(m);
  return found;
}

/** The source without comments (so that prose may name what code may not). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

const graph = await importGraph(ENTRIES);
const local = [...graph.keys()].filter((m) => m === "mod.ts" || m.startsWith("src/"));

Deno.test("layering: the import graph has no circles", () => {
  assert.deepEqual(circles(graph).map((c) => c.join(" → ")), []);
});

Deno.test("layering: only one core file (and mod.ts) imports the SQLite wing", () => {
  const offenders = local.filter((m) =>
    !m.startsWith("src/sqlite/") && !SQLITE_DOORS.has(m) &&
    [...graph.get(m)!].some((d) => d.startsWith("src/sqlite/"))
  ).map((m) =>
    `${m} imports ${[...graph.get(m)!].filter((d) => d.startsWith("src/sqlite/")).join(", ")}`
  );
  assert.deepEqual(offenders, []);
});

Deno.test("layering: nothing outside src/sqlite/ imports node:sqlite, calls Deno.dlopen or names a pragma", async () => {
  const offenders: string[] = [];
  for (const m of local) {
    if (m.startsWith("src/sqlite/")) continue;
    if ([...graph.get(m)!].includes("node:sqlite")) offenders.push(`${m} imports node:sqlite`);
    const text = code(await Deno.readTextFile(`${ROOT}/${m}`));
    if (/Deno\.dlopen/.test(text)) offenders.push(`${m} calls Deno.dlopen`);
    const pragma = text.match(/\bPRAGMA\s+\w+/i);
    if (pragma !== null) offenders.push(`${m} names ${pragma[0]}`);
  }
  assert.deepEqual(offenders, []);
});

Deno.test("layering: the CLI uses only what mod.ts exports", () => {
  const offenders = local.filter((m) => m.startsWith("src/cli/")).flatMap((m) =>
    [...graph.get(m)!].filter((d) =>
      d.startsWith("src/") && !d.startsWith("src/cli/") || d.startsWith("node:sqlite")
    ).map((d) => `${m} imports ${d}`)
  );
  assert.deepEqual(offenders, []);
});

Deno.test("layering: the circle finder and the graph reader see what they should", () => {
  // The checks above would pass vacuously on an empty graph or a blind finder.
  assert.ok(graph.get("mod.ts")?.has("src/queue.ts"));
  assert.ok(graph.get("src/sqlite/backend.ts")?.has("src/sqlite/_store.ts"));
  const looped = new Map([["a", new Set(["b"])], ["b", new Set(["c"])], ["c", new Set(["a"])]]);
  assert.deepEqual(circles(looped), [["a", "b", "c", "a"]]);
  assert.equal(
    code('x(); // PRAGMA a\n/* Deno.dlopen */ y("PRAGMA b")').includes("PRAGMA b"),
    true,
  );
  assert.equal(code("x(); // PRAGMA a\n/* Deno.dlopen */").includes("PRAGMA"), false);
});

Deno.test("layering: the PostgreSQL wing loads only on demand, and only it imports the client", async () => {
  // A SQLite user must download nothing for PostgreSQL. Deno resolves (and
  // downloads) whatever code a program may import, literal dynamic imports
  // too, so no code path from the package may reach src/postgres/ or
  // npm:postgres: the core imports the backend by a computed name, and
  // names it only in a type (which type checking follows, running does not).
  const { code, types } = await importsFrom("mod.ts");
  const reached = reachedFrom("mod.ts", code);
  const offenders = [...reached].filter((m) =>
    m.startsWith("src/postgres/") || m.startsWith("npm:postgres") || m.startsWith("npm:/postgres")
  );
  assert.deepEqual(offenders, []);
  assert.ok(reached.has("src/sqlite/backend.ts"), "the walk follows code imports");
  assert.ok(
    types.get("src/_open_backend.ts")?.includes("src/postgres/backend.ts"),
    "the core names the backend's type (so deno check reaches it)",
  );
  const text = await Deno.readTextFile(`${ROOT}/src/_open_backend.ts`);
  assert.match(text, /await import\(POSTGRES_BACKEND\)/);
});

Deno.test("layering: the cron code and croner load only on demand, and only it imports croner", async () => {
  // A queue that schedules nothing must download nothing for cron: like the
  // PostgreSQL backend, the cron module is imported by a computed name, and
  // named only in a type.
  const { code, types } = await importsFrom("mod.ts");
  const reached = reachedFrom("mod.ts", code);
  const offenders = [...reached].filter((m) => m === "src/_cron.ts" || /croner/.test(m));
  assert.deepEqual(offenders, []);
  assert.ok(reached.has("src/_schedule_plan.ts"), "the walk reaches the schedule code");
  assert.ok(
    types.get("src/_schedule_plan.ts")?.includes("src/_cron.ts"),
    "the schedule code names the cron module's type (so deno check reaches it)",
  );
  // Only the cron module imports croner.
  const importers = [...code].filter(([m, deps]) =>
    m !== "src/_cron.ts" && deps.some((d) => /croner/.test(d))
  ).map(([m]) => m);
  assert.deepEqual(importers, []);
  const text = await Deno.readTextFile(`${ROOT}/src/_schedule_plan.ts`);
  assert.match(text, /import\(CRON_MODULE\)/);
  assert.match(await Deno.readTextFile(`${ROOT}/src/_cron.ts`), /from "npm:croner@10"/);
});

Deno.test("layering: a program that schedules nothing runs without croner in its cache", async () => {
  // A fresh cache and --cached-only: anything the program would download fails it.
  const cache = await Deno.makeTempDir({ prefix: "gigq-deno-dir-" });
  const dir = await Deno.makeTempDir({ prefix: "gigq-layering-" });
  try {
    const script = `${dir}/use.ts`;
    await Deno.writeTextFile(
      script,
      `import { JobQueue, task, Worker } from ${JSON.stringify(`${ROOT}/mod.ts`)};
const t = task("t", () => 1);
const queue = new JobQueue(${JSON.stringify(`${dir}/jobs.db`)});
await t.submit(queue, {});
const worker = new Worker(${JSON.stringify(`${dir}/jobs.db`)}, { tasks: [t], logger: () => {} });
const done = worker.start();
await new Promise((r) => setTimeout(r, 200));
worker.stop();
await done;
worker.close();
console.log(JSON.stringify(await queue.stats()));
if (Deno.args[0] === "schedule") {
  await queue.schedule({ name: "s", cron: "@hourly", task: t }).catch((e) => console.log(e.message));
}
queue.close();
`,
    );
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--cached-only", "--allow-all", script, ...args],
        cwd: dir,
        env: { DENO_DIR: cache, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const plain = await run();
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(JSON.parse(plain.stdout.split("\n")[0]).completed, 1);
    // The check can fail: scheduling needs croner, which that cache does not hold.
    const scheduling = await run("schedule");
    assert.match(
      scheduling.stdout,
      /Cannot read cron expressions: the npm package croner@10 did not load/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The code and the type imports of each module `entry` reaches, by `deno info --json`. */
async function importsFrom(
  entry: string,
): Promise<{ code: Map<string, string[]>; types: Map<string, string[]> }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  type Dep = { code?: { specifier?: string }; type?: { specifier?: string } };
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: Dep[] }[];
  };
  const name = (s: string) => s.startsWith("file:") ? relative(ROOT, fromFileUrl(s)) : s;
  const code = new Map<string, string[]>();
  const types = new Map<string, string[]>();
  for (const m of info.modules) {
    const deps = m.dependencies ?? [];
    code.set(
      name(m.specifier),
      deps.flatMap((d) => d.code?.specifier ? [name(d.code.specifier)] : []),
    );
    types.set(
      name(m.specifier),
      deps.flatMap((d) => d.type?.specifier ? [name(d.type.specifier)] : []),
    );
  }
  return { code, types };
}

/** What the code of `entry` may run: the modules its code imports reach. */
function reachedFrom(entry: string, code: Map<string, string[]>): Set<string> {
  const reached = new Set<string>([entry]);
  for (const m of reached) for (const d of code.get(m) ?? []) reached.add(d);
  return reached;
}

const isMcp = (m: string) =>
  m === "mcp.ts" || m.startsWith("src/mcp/") || /modelcontextprotocol/.test(m);

Deno.test("layering: the MCP server and its SDK load only with gigq mcp, and only it imports the SDK", async () => {
  // The package and every other CLI command must download nothing for MCP:
  // the mcp command imports the server by a computed name, and names it
  // only in a type.
  const lib = await importsFrom("mod.ts");
  assert.deepEqual([...reachedFrom("mod.ts", lib.code)].filter(isMcp), []);
  const cli = await importsFrom("src/cli/main.ts");
  const reached = reachedFrom("src/cli/main.ts", cli.code);
  assert.deepEqual([...reached].filter(isMcp), []);
  assert.ok(reached.has("src/cli/mcp.ts"), "the walk reaches the mcp command");
  assert.ok(
    cli.types.get("src/cli/mcp.ts")?.includes("mcp.ts"),
    "the command names the export's type (so deno check reaches it)",
  );
  assert.match(await Deno.readTextFile(`${ROOT}/src/cli/mcp.ts`), /await import\(MCP_MODULE\)/);
  // Only the server module imports the SDK.
  const mcp = await importsFrom("mcp.ts");
  const importers = [...mcp.code].filter(([, deps]) =>
    deps.some((d) => /modelcontextprotocol/.test(d))
  ).map(([m]) => m);
  assert.deepEqual(importers, ["src/mcp/server.ts"]);
});

Deno.test("layering: gigq stats runs without the MCP SDK in its cache; gigq mcp says it did not load", async () => {
  const cache = await Deno.makeTempDir({ prefix: "gigq-deno-dir-" });
  const dir = await Deno.makeTempDir({ prefix: "gigq-layering-" });
  try {
    const script = `${dir}/cli.ts`;
    await Deno.writeTextFile(
      script,
      `import { main } from ${JSON.stringify(`${ROOT}/src/cli/main.ts`)};
Deno.exit(await main(Deno.args));
`,
    );
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--cached-only", "--allow-all", script, "--db", `${dir}/jobs.db`, ...args],
        cwd: dir,
        env: { DENO_DIR: cache, NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    const submit = await run("submit", `${ROOT}/tests/cli/_tasks.ts#echo`);
    assert.equal(submit.code, 0, submit.stderr);
    const stats = await run("stats", "--json");
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(JSON.parse(stats.stdout).pending, 1);
    // The check can fail: the server needs the SDK, which that cache does not hold.
    const mcp = await run("mcp");
    assert.equal(mcp.code, 1);
    assert.match(
      mcp.stderr,
      /gigq mcp: the MCP server did not load \(it needs the npm package @modelcontextprotocol\/sdk@1\)/,
    );
  } finally {
    await Deno.remove(cache, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("layering: the OpenTelemetry code and @opentelemetry/api load only on demand, and only it imports the package", async () => {
  // With telemetry off nothing may download or load the npm package: like
  // the cron module, the OpenTelemetry module is imported by a computed
  // name, and named only in a type.
  const { code, types } = await importsFrom("mod.ts");
  const reached = reachedFrom("mod.ts", code);
  const offenders = [...reached].filter((m) => m === "src/_otel.ts" || /opentelemetry/.test(m));
  assert.deepEqual(offenders, []);
  assert.ok(reached.has("src/_telemetry.ts"), "the walk reaches the telemetry switch");
  assert.ok(
    types.get("src/_telemetry.ts")?.includes("src/_otel.ts"),
    "the switch names the OpenTelemetry module's type (so deno check reaches it)",
  );
  const importers = [...code].filter(([m, deps]) =>
    m !== "src/_otel.ts" && m.startsWith("src/") && deps.some((d) => /opentelemetry/.test(d))
  ).map(([m]) => m);
  assert.deepEqual(importers, []);
  assert.match(await Deno.readTextFile(`${ROOT}/src/_telemetry.ts`), /import\(OTEL_MODULE\)/);
  assert.match(await Deno.readTextFile(`${ROOT}/src/_otel.ts`), /from "npm:@opentelemetry\/api@1"/);
});
