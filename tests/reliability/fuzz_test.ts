/**
 * Seeded fuzzing of the CLI's arguments (through `main(args, io)`, in this
 * process) and of the submit API (random Job options, params and batches).
 *
 * The seed is printed; set GIGQ_FUZZ_SEED to replay a run, and
 * GIGQ_FUZZ_RUNS to change how many inputs each test tries.
 */
import assert from "node:assert/strict";
import {
  closeConnections,
  Job,
  JobNotFoundError,
  JobQueue,
  QueueClosedError,
  SchemaError,
  SqliteError,
  task,
  Workflow,
} from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import { openConnectionCount } from "../../src/sqlite/registry.ts";
import { dbHash, tempDb } from "../_helpers.ts";
import { inspect, Random, REPO, scalar, seedFrom } from "./_common.ts";

const SEED = seedFrom("GIGQ_FUZZ_SEED");
const RUNS = Number(Deno.env.get("GIGQ_FUZZ_RUNS") ?? "2000");
const replay =
  `(seed ${SEED}: GIGQ_FUZZ_SEED=${SEED} deno task test tests/reliability/fuzz_test.ts)`;
console.log(`fuzz: seed ${SEED}, ${RUNS} inputs per test`);

const TASKS = `${REPO}/tests/cli/_tasks.ts`;

// ---------------------------------------------------------------------------
// values

const INJECTIONS = ["'); DROP TABLE jobs; --", '" OR 1=1 --', "x' OR '1'='1"];
const STRINGS = [
  "",
  " ",
  "a",
  "hello world",
  "ünïcödé ✓ ☃",
  "\u0000",
  "line\nbreak",
  "-",
  "--",
  "-x",
  "--json",
  "=",
  "a=b",
  "#",
  "x".repeat(300),
  ...INJECTIONS,
];
const NUMBERS = [
  "0",
  "1",
  "2",
  "3",
  "-1",
  "1.5",
  "0.05",
  "1e3",
  "1e400",
  "-0",
  "NaN",
  "Infinity",
  "0x10",
  "1_000",
  "2147483647",
  "2147483648",
  "-2147483649",
  "99999999999999999999",
  "",
  " 5 ",
  "five",
];

function value(r: Random): string {
  return r.chance(0.5) ? r.pick(NUMBERS) : r.pick(STRINGS);
}

/** A number for an option: usually a good one. */
function count(r: Random): string {
  return r.chance(0.6) ? r.pick(["0", "1", "2", "3", "5", "0.5"]) : value(r);
}

// ---------------------------------------------------------------------------
// the CLI

interface Context {
  dir: string;
  db: string;
  ids: string[];
}

function targets(r: Random): string {
  if (r.chance(0.6)) return r.pick([`${TASKS}#echo`, `${TASKS}#value`, `${TASKS}#boom`]);
  return r.pick([
    `${TASKS}#echo`,
    `${TASKS}#echo`,
    `${TASKS}#value`,
    `${TASKS}#boom`,
    `${TASKS}#notATask`,
    `${TASKS}#missing`,
    `${TASKS}#`,
    "#echo",
    "echo",
    "./nope.ts#echo",
    `${REPO}/tests/cli#echo`,
    r.pick(STRINGS),
  ]);
}

function anId(r: Random, c: Context): string {
  return c.ids.length > 0 && r.chance(0.6)
    ? r.pick(c.ids)
    : r.pick([...STRINGS, crypto.randomUUID()]);
}

/** Options each command accepts, with a generator of plausible (or not) values. */
function commandArgs(r: Random, command: string, c: Context): string[] {
  const args: string[] = [];
  const add = (...a: string[]) => args.push(...a);
  const some = (n: number, fn: () => void) => {
    const k = r.int(0, n);
    for (let i = 0; i < k; i++) fn();
  };
  switch (command) {
    case "submit":
      if (r.chance(0.9)) add(targets(r));
      some(3, () => {
        const key = r.pick(["n", "value", "k", "k", "", ...INJECTIONS]);
        add(r.pick(["-p", "--param"]), r.chance(0.9) ? `${key}=${value(r)}` : value(r));
      });
      if (r.chance(0.3)) add("--name", value(r));
      if (r.chance(0.2)) add("--priority", count(r));
      if (r.chance(0.2)) add("--max-attempts", count(r));
      if (r.chance(0.2)) add("--timeout", count(r));
      if (r.chance(0.2)) add("--retry-delay", count(r));
      if (r.chance(0.2)) add("--description", value(r));
      if (r.chance(0.2)) add("--depends-on", anId(r, c));
      if (r.chance(0.1)) add("--delay", count(r));
      if (r.chance(0.1)) add("--run-at", r.pick(["2030-01-01T00:00:00Z", "2026-13-45", "now", ""]));
      break;
    case "status":
      if (r.chance(0.9)) add(anId(r, c));
      if (r.chance(0.3)) add("--show-params");
      if (r.chance(0.3)) add("--show-result");
      if (r.chance(0.3)) add("--show-executions");
      break;
    case "list":
      if (r.chance(0.5)) {
        add("--status", r.pick(["pending", "completed", "failed", "", "PENDING", ...STRINGS]));
      }
      if (r.chance(0.5)) add("--limit", count(r));
      break;
    case "cancel":
    case "requeue":
    case "why":
      if (r.chance(0.9)) add(anId(r, c));
      break;
    case "clear":
      if (r.chance(0.6)) add("--before", count(r));
      break;
    case "worker":
      if (r.chance(0.9)) add("--tasks", r.pick([TASKS, TASKS, "./nope.ts", "", `${REPO}/mod.ts`]));
      // A worker without --once runs until a signal: the io below sends one.
      if (r.chance(0.8)) add("--once");
      if (r.chance(0.2)) add("--concurrency", count(r));
      if (r.chance(0.2)) add("--polling-interval", r.pick(["0.01", "0.05", ...NUMBERS]));
      if (r.chance(0.2)) add("--worker-id", value(r));
      if (r.chance(0.2)) add("--grace", r.pick(["0", "0.05", ...NUMBERS]));
      // Every value but "1" is invalid or would start a pool; a pool is slow, so rarely.
      if (r.chance(0.1)) {
        add("--workers", r.chance(0.1) ? "2" : r.pick(["1", "0", "-1", "x", "1.5"]));
      }
      break;
  }
  return args;
}

function randomArgs(r: Random, c: Context): string[] {
  const command = r.chance(0.95)
    ? r.pick([
      "submit",
      "submit",
      "status",
      "list",
      "stats",
      "cancel",
      "requeue",
      "clear",
      "worker",
      "why",
    ])
    : r.pick(["", "frob", "SUBMIT", "--", "-h", ...INJECTIONS]);
  const args = [command, ...commandArgs(r, command, c)];
  // The database: usually the shared one; sometimes a fresh, odd or broken path.
  if (r.chance(0.9)) {
    const db = r.chance(0.85) ? c.db : r.pick([
      `${c.dir}/fresh-${r.int(0, 1e9)}.db`,
      c.dir,
      `${c.dir}/no/such/dir/q.db`,
      `${c.dir}/notes.txt`,
      ":memory:",
      "",
    ]);
    args.splice(r.chance(0.5) ? 0 : args.length, 0, "--db", db);
  }
  if (r.chance(0.1)) args.push("--json");
  if (r.chance(0.03)) args.push(r.pick(["-h", "--help"]));
  if (r.chance(0.05)) {
    // Not ffi on the shared file: once a process has used a file with one
    // driver, the registry refuses the other for the rest of its life.
    const fresh = args.some((a) => a.includes("/fresh-"));
    args.push("--driver", r.pick(["node", "sqlite", "", ...(fresh ? ["ffi"] : [])]));
  }
  if (r.chance(0.1)) args.splice(r.int(0, args.length), 0, r.pick(STRINGS));
  if (r.chance(0.05)) args.splice(r.int(0, args.length), 1);
  return args;
}

Deno.test(`fuzz: ${RUNS} random CLI command lines exit 0, 1 or 2, print no stack trace, and change nothing when they fail`, async () => {
  const db = await tempDb("fuzz.db");
  const r = new Random(SEED);
  const c: Context = { dir: db.dir, db: db.path, ids: [] };
  await Deno.writeTextFile(`${db.dir}/notes.txt`, "not a database\n".repeat(20));
  const codes = new Map<number, number>();
  try {
    for (let i = 0; i < RUNS; i++) {
      const args = randomArgs(r, c);
      const label = `run ${i}: gigq ${JSON.stringify(args)} ${replay}`;
      const fresh = args.find((a) => a.includes("/fresh-"));
      const watched = [c.db, `${c.dir}/notes.txt`, ...(fresh ? [fresh] : [])];
      const filesBefore = [...Deno.readDirSync(c.dir)].map((e) => e.name).sort();
      const before = await Promise.all(watched.map(dbHash));
      const out = { stdout: "", stderr: "" };
      const handlers: (() => void)[] = [];
      const code = await main(args, {
        stdout: (t) => out.stdout += t,
        stderr: (t) => out.stderr += t,
        env: () => undefined,
        // Relative paths (the default gigq.db, a --db that swallowed "-h") land in the temp dir.
        cwd: () => c.dir,
        isTerminal: false,
        onSignal: (_signal, handler) => {
          // A worker that runs until a signal gets one, once, soon.
          handlers.push(handler);
          if (handlers.length === 1) setTimeout(() => handler(), 20);
          return () => {};
        },
        exit: (n) => {
          throw new Error(`${label}: exit(${n}) was called`);
        },
      });
      codes.set(code, (codes.get(code) ?? 0) + 1);
      assert.ok([0, 1, 2].includes(code), `${label}: exit code ${code}\n${out.stderr}`);
      for (const text of [out.stdout, out.stderr]) {
        assert.doesNotMatch(text, /^ {4}at /m, `${label}: a stack trace:\n${text}`);
      }
      assert.equal(openConnectionCount(), 0, `${label}: left a connection open`);
      if (code !== 0) {
        assert.equal(out.stdout, "", `${label}: stdout on failure`);
        if (args[0] !== "worker" && !args.includes("worker")) {
          assert.match(out.stderr, /^gigq[^\n]*\n$/, `${label}: not one line: ${out.stderr}`);
        }
        const filesAfter = [...Deno.readDirSync(c.dir)].map((e) => e.name).sort();
        assert.deepEqual(filesAfter, filesBefore, `${label}: failed but created a file`);
        const after = await Promise.all(watched.map(dbHash));
        assert.deepEqual(
          after,
          before,
          `${label}: failed (${code}: ${out.stderr.trim()}) but changed a file`,
        );
      }
      if (code === 0 && out.stdout.startsWith("Job submitted: ")) {
        c.ids.push(out.stdout.slice("Job submitted: ".length).trim());
      } else if (code === 0 && /^\{\s*"id"/.test(out.stdout) && args.includes("submit")) {
        c.ids.push(JSON.parse(out.stdout).id);
      }
      closeConnections();
    }
    console.log(
      `fuzz CLI: exit codes ${
        JSON.stringify(Object.fromEntries(codes))
      }, ${c.ids.length} jobs submitted`,
    );
    assert.ok((codes.get(0) ?? 0) > RUNS / 10, "too few inputs succeeded to exercise anything");
    assert.ok((codes.get(2) ?? 0) > RUNS / 10, "too few inputs were usage errors");
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

// ---------------------------------------------------------------------------
// the submit API

const echo = task("echo", (p: unknown) => p);

/** A random value that may or may not be JSON. */
function payload(r: Random, depth = 0): unknown {
  const leaf = () =>
    r.pick<() => unknown>([
      () => null,
      () => r.chance(0.5),
      () => r.int(-1e6, 1e6),
      () => r.next() * 1e6,
      () => r.pick(STRINGS),
      () => r.pick([NaN, Infinity, undefined, 10n, Symbol("s"), () => 1, new Date(0), new Map()]),
    ])();
  if (depth > 3 || r.chance(0.4)) return leaf();
  if (r.chance(0.5)) return Array.from({ length: r.int(0, 4) }, () => payload(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r.int(0, 4); i > 0; i--) {
    o[r.pick(["a", "b", "", "ü", ...INJECTIONS])] = payload(r, depth + 1);
  }
  return o;
}

// deno-lint-ignore no-explicit-any
type Any = any;

function option(r: Random, name: string): unknown {
  const junk = () =>
    r.pick<unknown>(["", "3", null, true, {}, [], NaN, Infinity, -Infinity, 1n, 1.5]);
  if (r.chance(0.15)) return junk();
  switch (name) {
    case "priority":
      return r.pick([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, r.int(-100, 100)]);
    case "maxAttempts":
      return r.pick([1, 3, 0, -1, 1_000_000, 1_000_001, r.int(1, 10)]);
    case "timeout":
      return r.pick([0.001, 1, 300, 0, -1, 2_147_483, 2_147_484]);
    case "retryDelay":
      return r.pick([0, 0.5, 10, -1, 315_360_000, 315_360_001]);
    case "backoff":
      return r.pick(["fixed", "exponential", "linear", "FIXED"]);
    case "description":
    case "name":
    case "module":
      return r.chance(0.05)
        ? "x".repeat(r.pick([1000, 1001, 2000, 2001, 10_000, 10_001]))
        : r.pick(STRINGS);
    case "runAt":
      return r.pick<unknown>([
        new Date(),
        "2030-01-01T00:00:00Z",
        Date.now(),
        "2026-13-45",
        "tomorrow",
        new Date("x"),
        9e15,
      ]);
    default:
      return junk();
  }
}

const FIELDS = [
  "priority",
  "maxAttempts",
  "timeout",
  "retryDelay",
  "backoff",
  "description",
  "name",
  "module",
  "runAt",
];

/** A random JobInit: each field maybe present, with a good or bad value. */
function init(r: Random, known: string[], batch: Job[]): Record<string, unknown> {
  const o: Record<string, unknown> = {
    task: r.chance(0.9)
      ? (r.chance(0.5) ? echo : r.pick(["echo", "other", ...STRINGS]))
      : option(r, "x"),
  };
  if (r.chance(0.8)) o.params = payload(r);
  for (const f of FIELDS) if (r.chance(0.25)) o[f] = option(r, f);
  if (r.chance(0.3)) {
    o.dependencies = Array.from({ length: r.int(0, 3) }, () =>
      r.pick<unknown>([
        ...(known.length > 0 ? [r.pick(known)] : []),
        ...(batch.length > 0 ? [r.pick(batch), r.pick(batch).id] : []),
        crypto.randomUUID(),
        "",
        42,
        ...INJECTIONS,
      ]));
  }
  if (r.chance(0.03)) o[r.pick(["maxAttempt", "deps", "priorty"])] = 1;
  return o;
}

const ALLOWED = [TypeError, RangeError, JobNotFoundError];

function assertAllowed(error: unknown, label: string): void {
  assert.ok(
    ALLOWED.some((k) => error instanceof k) && !(error instanceof SqliteError) &&
      !(error instanceof SchemaError) && !(error instanceof QueueClosedError),
    `${label}: unexpected ${(error as Error)?.name}: ${(error as Error)?.message}\n${
      (error as Error)?.stack
    }`,
  );
  const message = (error as Error).message;
  assert.ok(typeof message === "string" && message.length > 10, `${label}: no message`);
  assert.doesNotMatch(message, /\n/, `${label}: a message of several lines: ${message}`);
}

/** Counts that any written row would change. */
function fingerprint(path: string): string {
  return inspect(path, (d) =>
    [
      scalar(d, "SELECT count(*) FROM gigq_jobs"),
      scalar(d, "SELECT coalesce(max(seq), 0) FROM gigq_jobs"),
      scalar(d, "SELECT coalesce(sum(length(params) + length(name)), 0) FROM gigq_jobs"),
      scalar(d, "SELECT count(*) FROM gigq_job_deps"),
    ].join("/"));
}

Deno.test(`fuzz: ${RUNS} random submits (options, params, batches) either store exactly what was given or throw a TypeError, RangeError or JobNotFoundError and write nothing`, async () => {
  const db = await tempDb("fuzz-api.db");
  const r = new Random(SEED ^ 0x5bd1e995);
  const queue = new JobQueue(db.path, { maxPayloadBytes: 2048 });
  const known: string[] = [];
  let stored = 0;
  let refused = 0;
  try {
    await queue.stats();
    for (let i = 0; i < RUNS; i++) {
      const label = `run ${i} ${replay}`;
      // Build 1 to 4 jobs; a construction error must be a clean TypeError/RangeError.
      const batch: Job[] = [];
      for (let k = r.int(1, 4); k > 0; k--) {
        try {
          batch.push(new Job(init(r, known, batch) as Any));
        } catch (error) {
          assertAllowed(error, `${label}: new Job`);
          refused++;
        }
      }
      if (batch.length === 0) continue;
      const items: unknown[] = [...batch];
      if (r.chance(0.03)) items.push(r.pick<unknown>([{}, null, "job", batch[0]]));
      const before = fingerprint(db.path);
      const hashBefore = i % 50 === 0 ? (closeConnections(), await dbHash(db.path)) : undefined;
      const way = r.pick(["submit", "submitMany", "submitMany", "workflow"]);
      let ids: string[] | undefined;
      try {
        if (way === "submit") {
          ids = [await queue.submit(items[0] as Job)];
          items.length = 1;
        } else if (way === "submitMany") {
          ids = await queue.submitMany(items as Job[]);
        } else {
          const wf = new Workflow("fuzz");
          for (const item of items) wf.addJob(item as Job);
          ids = await wf.submitAll(queue);
        }
      } catch (error) {
        assertAllowed(error, `${label}: ${way}`);
        assert.equal(fingerprint(db.path), before, `${label}: ${way} failed but wrote something`);
        if (hashBefore !== undefined) {
          closeConnections();
          assert.equal(await dbHash(db.path), hashBefore, `${label}: the file changed`);
        }
        refused++;
        continue;
      }
      stored += ids.length;
      for (const [k, id] of ids.entries()) {
        const job = items[k] as Job;
        assert.equal(id, job.id);
        known.push(id);
        const got = await queue.getStatus(id);
        assert.ok(got, `${label}: job ${id} not stored`);
        assert.deepEqual(
          {
            name: got.name,
            task: got.task,
            module: got.module,
            priority: got.priority,
            maxAttempts: got.maxAttempts,
            timeout: got.timeout,
            retryDelay: got.retryDelay,
            backoff: got.backoff,
            description: got.description,
            dependencies: got.dependencies,
            params: got.params,
          },
          {
            name: job.name,
            task: job.task,
            module: job.module ?? null,
            priority: job.priority,
            maxAttempts: job.maxAttempts,
            timeout: job.timeout,
            retryDelay: job.retryDelay,
            backoff: job.backoff,
            description: job.description,
            dependencies: job.dependencies,
            params: JSON.parse(JSON.stringify(job.params)),
          },
          `${label}: job ${id} stored differently`,
        );
      }
    }
    console.log(`fuzz API: ${stored} jobs stored, ${refused} inputs refused`);
    assert.equal((await queue.stats()).total, stored);
    assert.ok(stored > RUNS / 10 && refused > RUNS / 10, `stored ${stored}, refused ${refused}`);
    inspect(db.path, (d) => assert.equal(scalar(d, "PRAGMA integrity_check"), "ok"));
  } finally {
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});
