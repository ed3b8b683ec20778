import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { closeConnections, Job, JobQueue } from "../mod.ts";
import { main } from "../src/cli/main.ts";
import { REPEAT_MS } from "../src/cli/worker.ts";
import { formatTable, formatTime } from "../src/cli/_format.ts";
import { dbHash, driverTest, tempDb } from "./_helpers.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The fixture tasks, as an absolute path and relative to the repository. */
const TASKS = `${REPO}/tests/cli/_tasks.ts`;
const REL_TASKS = "./tests/cli/_tasks.ts";
const EXAMPLES = "./examples/tasks.ts";

type Signal = "SIGINT" | "SIGTERM";

/** Signals a test sends by hand. */
class FakeSignals {
  listeners = new Map<Signal, Set<() => void>>();
  on = (signal: Signal, handler: () => void): () => void => {
    let set = this.listeners.get(signal);
    if (set === undefined) this.listeners.set(signal, set = new Set());
    set.add(handler);
    return () => set.delete(handler);
  };
  send(signal: Signal): void {
    for (const handler of [...this.listeners.get(signal) ?? []]) handler();
  }
  get count(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}

interface RunOptions {
  env?: Record<string, string>;
  cwd?: string;
  isTerminal?: boolean;
  signals?: FakeSignals;
  exits?: number[];
  /** Called with the live output while the command runs. */
  onOutput?: (out: { stdout: string; stderr: string }) => void;
}

/** Runs the CLI in this process with captured output. */
async function cli(args: string[], options: RunOptions = {}) {
  const out = { stdout: "", stderr: "" };
  const signals = options.signals ?? new FakeSignals();
  const code = await main(args, {
    stdout: (t) => {
      out.stdout += t;
      options.onOutput?.(out);
    },
    stderr: (t) => {
      out.stderr += t;
      options.onOutput?.(out);
    },
    env: (name) => options.env?.[name],
    cwd: () => options.cwd ?? REPO,
    isTerminal: options.isTerminal ?? false,
    onSignal: signals.on,
    exit: (c) => options.exits?.push(c),
  });
  return { code, ...out };
}

/** Runs the CLI and expects exit 0; returns stdout. */
async function ok(args: string[], options: RunOptions = {}): Promise<string> {
  const r = await cli(args, options);
  assert.equal(r.code, 0, `gigq ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Waits (real time) until `cond()` holds. */
async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition never became true");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A temp database for a test that is not about drivers. */
function dbTest(name: string, fn: (db: { path: string; dir: string }) => Promise<void>): void {
  Deno.test(name, async () => {
    const db = await tempDb();
    try {
      await fn(db);
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });
}

async function submit(path: string, target: string, ...args: string[]): Promise<string> {
  const stdout = await ok(["--db", path, "submit", target, "--json", ...args]);
  return JSON.parse(stdout).id;
}

async function statusOf(path: string, id: string) {
  return JSON.parse(await ok(["--db", path, "status", id, "--json"]));
}

// ---------------------------------------------------------------------------
// help

const COMMANDS = [
  "submit",
  "status",
  "list",
  "stats",
  "queues",
  "pause",
  "resume",
  "cancel",
  "requeue",
  "clear",
  "worker",
  "why",
];

Deno.test("gigq --help and -h list every command and exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await cli([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^Usage: gigq \[--db PATH\|URL\] <command> \[options\]$/m);
    for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} +\\S`, "m"));
    for (const v of ["GIGQ_DB", "GIGQ_DRIVER", "GIGQ_WORKER_ID", "GIGQ_POLLING_INTERVAL"]) {
      assert.ok(r.stdout.includes(v), v);
    }
  }
});

Deno.test("every command has --help (and -h) that documents each of its options", async () => {
  const options: Record<string, string[]> = {
    submit: [
      "--name",
      "--param",
      "-p",
      "--priority",
      "--max-attempts",
      "--timeout",
      "--retry-delay",
      "--description",
      "--queue",
      "--unique-key",
      "--depends-on",
      "--delay",
      "--run-at",
    ],
    status: ["--show-params", "--show-result", "--show-executions"],
    list: ["--status", "--queue", "--limit"],
    stats: ["--queue"],
    queues: [],
    pause: [],
    resume: [],
    cancel: ["--status", "--queue", "--name"],
    requeue: ["--status", "--queue", "--name"],
    clear: ["--before"],
    worker: [
      "--tasks",
      "--queue",
      "--once",
      "--concurrency",
      "--polling-interval",
      "--worker-id",
      "--workers",
      "--lease",
      "--in-process",
      "--grace",
    ],
    why: [],
  };
  for (const c of COMMANDS) {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([c, flag]);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`^Usage: gigq ${c}`, "m"));
      for (const o of [...options[c], "--db", "--driver", "--json", "--help"]) {
        assert.ok(r.stdout.includes(o), `gigq ${c} --help does not mention ${o}`);
      }
    }
  }
  // --help wins over missing arguments, wherever it is.
  assert.equal((await cli(["status", "--help"])).code, 0);
  assert.equal((await cli(["--db", "x.db", "worker", "--once", "-h"])).code, 0);
});

// ---------------------------------------------------------------------------
// submit

driverTest(
  "submit prints the job id and stores the job with its module",
  async ({ path, driver }) => {
    const r = await cli(["--db", path, "--driver", driver, "submit", `${REL_TASKS}#echo`]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.match(/^Job submitted: (\S+)\n$/)?.[1];
    assert.ok(id, r.stdout);
    const queue = new JobQueue(path, { driver });
    const job = await queue.getStatus(id);
    assert.equal(job?.task, "echo");
    assert.equal(job?.name, "echo");
    assert.equal(job?.module, `${REL_TASKS}#echo`);
    assert.equal(job?.status, "pending");
    assert.deepEqual(job?.params, {});
    assert.equal(job?.description, "");
    queue.close();
  },
);

dbTest("submit --json prints {id, inserted}", async ({ path }) => {
  const out = await ok(["--db", path, "submit", `${TASKS}#echo`, "--json"]);
  const parsed = JSON.parse(out);
  assert.deepEqual(Object.keys(parsed), ["id", "inserted"]);
  assert.equal(parsed.inserted, true);
  assert.equal((await statusOf(path, parsed.id)).status, "pending");
});

dbTest(
  "submit --param decodes JSON, else keeps the text; a repeated key keeps the last",
  async ({ path }) => {
    const id = await submit(
      path,
      `${TASKS}#echo`,
      "-p",
      "n=42",
      "-p",
      "t=true",
      "-p",
      "z=null",
      "-p",
      "f=1e3",
      "--param",
      'o={"a":[1,2]}',
      "--param=s=hello",
      "-pe=",
      "-p",
      "id=007",
      "-p",
      "big=12345678901234567890",
      "-p",
      "nan=NaN",
      "-p",
      "huge=1e400",
      "-p",
      "eq=a=b",
      "-p",
      "dup=1",
      "-p",
      "dup=2",
      "-p",
      "__proto__=1",
    );
    const job = await statusOf(path, id);
    assert.deepEqual(job.params, {
      n: 42,
      t: true,
      z: null,
      f: "1e3",
      o: { a: [1, 2] },
      s: "hello",
      e: "",
      id: "007",
      big: "12345678901234567890",
      nan: "NaN",
      huge: "1e400",
      eq: "a=b",
      dup: 2,
      ["__proto__"]: 1,
    });
  },
);

dbTest(
  "submit --param keeps a value as text unless it prints back as the same number",
  async ({ path }) => {
    const cases: [string, unknown][] = [
      ["1.10", "1.10"],
      ["1.0", "1.0"],
      ["1e5", "1e5"],
      ["1E5", "1E5"],
      ["-0", "-0"],
      ["0.50", "0.50"],
      ["+1", "+1"],
      [" 42", " 42"],
      ["9007199254740993", "9007199254740993"],
      ["42", 42],
      ["-3", -3],
      ["0", 0],
      ["1.5", 1.5],
      ["-0.25", -0.25],
      ["100000", 100000],
      ["9007199254740991", 9007199254740991],
    ];
    const args = cases.flatMap(([text], i) => ["-p", `v${i}=${text}`]);
    const job = await statusOf(path, await submit(path, `${TASKS}#echo`, ...args));
    for (const [i, [text, expected]] of cases.entries()) {
      assert.deepEqual(job.params[`v${i}`], expected, `-p v=${text}`);
    }
  },
);

dbTest(
  "submit --run-at refuses a day or time that does not exist, and takes back a stored runAt",
  async ({ path }) => {
    for (
      const text of [
        "2026-02-30",
        "2026-02-29",
        "2026-04-31T10:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-02-30 10:00",
        "2026-01-01 10:00 PM",
      ]
    ) {
      const r = await cli(["--db", path, "submit", `${TASKS}#echo`, "--run-at", text]);
      assert.equal(r.code, 2, `--run-at ${text}: ${r.stderr}`);
      assert.match(r.stderr, /^gigq[^\n]*\n$/, `--run-at ${text}: one line`);
      assert.ok(r.stderr.includes(JSON.stringify(text)), `--run-at ${text}: ${r.stderr}`);
    }
    assert.equal(
      (await statusOf(path, await submit(path, `${TASKS}#echo`, "--run-at", "2028-02-29"))).runAt,
      "2028-02-29T00:00:00.000Z",
    );
    // What status --json prints as runAt is taken back as --run-at, unchanged.
    const first = await statusOf(
      path,
      await submit(path, `${TASKS}#echo`, "--run-at", "2026-12-01T19:00:00+01:00"),
    );
    assert.equal(first.runAt, "2026-12-01T18:00:00.000Z");
    const again = await statusOf(
      path,
      await submit(path, `${TASKS}#echo`, "--run-at", first.runAt),
    );
    assert.equal(again.runAt, first.runAt);
  },
);

dbTest(
  "submit options set the job's name, priority, attempts, timeout, delay and more",
  async ({ path }) => {
    const a = await submit(path, `${TASKS}#echo`);
    const b = await submit(path, `${TASKS}#echo`);
    const before = Date.now();
    const id = await submit(
      path,
      `${TASKS}#echo`,
      "--name",
      "custom",
      "--priority",
      "-5",
      "--max-attempts",
      "7",
      "--timeout",
      "12.5",
      "--retry-delay",
      "2",
      "--description",
      "about it",
      "--depends-on",
      a,
      "--depends-on",
      b,
      "--delay",
      "60",
    );
    const after = Date.now();
    const job = await statusOf(path, id);
    assert.equal(job.name, "custom");
    assert.equal(job.priority, -5);
    assert.equal(job.maxAttempts, 7);
    assert.equal(job.timeout, 12.5);
    assert.equal(job.retryDelay, 2);
    assert.equal(job.description, "about it");
    assert.deepEqual(job.dependencies, [a, b]);
    const runAt = Date.parse(job.runAt);
    assert.ok(runAt >= before + 60_000 && runAt <= after + 60_000, job.runAt);

    const at = await submit(path, `${TASKS}#echo`, "--run-at", "2030-01-02T03:04:05Z");
    assert.equal((await statusOf(path, at)).runAt, "2030-01-02T03:04:05.000Z");
    // A task's own defaults apply when no option is given.
    const boom = await statusOf(path, await submit(path, `${TASKS}#boom`));
    assert.equal(boom.maxAttempts, 1);
    assert.equal(boom.description, "fails on purpose");
  },
);

dbTest("submit resolves a relative module against the current directory", async ({ path, dir }) => {
  await Deno.writeTextFile(
    `${dir}/here.ts`,
    `import { task } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};\n` +
      `export const here = task("here", () => "here");\n`,
  );
  const r = await cli(["--db", path, "submit", "./here.ts#here"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  // From the repository, the same relative path does not exist.
  const r2 = await cli(["--db", path, "submit", "./here.ts#here"]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /cannot import "\.\/here\.ts": Module not found/);
});

// ---------------------------------------------------------------------------
// --db, GIGQ_DB and the default

dbTest(
  "--db works before and after the command; GIGQ_DB and gigq.db are the defaults",
  async ({ dir }) => {
    const first = `${dir}/first.db`;
    const second = `${dir}/second.db`;
    await ok(["--db", first, "submit", `${TASKS}#echo`]);
    await ok(["submit", `${TASKS}#echo`, "--db", second]);
    await ok(["submit", `${TASKS}#echo`], { env: { GIGQ_DB: second } });
    await ok(["submit", `${TASKS}#echo`], { cwd: dir });
    await ok(["submit", `${TASKS}#echo`], { cwd: dir, env: { GIGQ_DB: "" } });
    const total = async (args: string[], options: RunOptions = {}) =>
      JSON.parse(await ok([...args, "stats", "--json"], options)).total;
    assert.equal(await total(["--db", first]), 1);
    assert.equal(await total(["--db", second]), 2);
    assert.equal(await total([], { env: { GIGQ_DB: second } }), 2);
    assert.equal(await total([], { cwd: dir }), 2); // gigq.db in the current directory
    // --db wins over GIGQ_DB.
    assert.equal(await total(["--db", first], { env: { GIGQ_DB: second } }), 1);
  },
);

// ---------------------------------------------------------------------------
// status

dbTest("status prints GigQ's block of lines", async ({ path }) => {
  const id = await submit(path, `${TASKS}#boom`, "-p", "x=1");
  const job = await statusOf(path, id);
  const out = await ok(["--db", path, "status", id]);
  assert.equal(
    out,
    [
      `Job: boom (${id})`,
      `Task: boom (${TASKS}#boom)`,
      `Queue: default`,
      "Status: pending",
      `Created: ${formatTime(job.createdAt)}`,
      `Updated: ${formatTime(job.updatedAt)}`,
      "Started: -",
      "Completed: -",
      "Attempts: 0 / 1",
      "Priority: 0",
      "Description: fails on purpose",
      "",
    ].join("\n"),
  );
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--worker-id", "w1"]);
  const after = await ok(["--db", path, "status", id]);
  assert.match(after, /^Status: failed$/m);
  assert.match(after, /^Attempts: 1 \/ 1$/m);
  assert.match(after, /^Error: kaboom$/m);
  assert.doesNotMatch(after, /Parameters:|Result|Executions/);
});

dbTest("status --show-params, --show-executions and --show-result", async ({ path }) => {
  const id = await submit(path, `${TASKS}#echo`, "-p", "value=42", "-p", "s=hi");
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--worker-id", "w1"]);
  const job = await statusOf(path, id);
  const out = await ok([
    "--db",
    path,
    "status",
    id,
    "--show-params",
    "--show-result",
    "--show-executions",
  ]);
  const tail = out.slice(out.indexOf("\nParameters:"));
  const e = job.executions[0];
  assert.equal(
    tail,
    [
      "",
      "Parameters:",
      "  value: 42",
      '  s: "hi"',
      "",
      "Result:",
      "  value: 42",
      '  s: "hi"',
      "",
      "Executions:",
      formatTable(
        [["1", "1", "w1", formatTime(e.startedAt), formatTime(e.completedAt), "completed", ""]],
        ["Run", "Attempt", "Worker", "Started", "Completed", "Status", "Error"],
      ),
      "",
    ].join("\n"),
  );
  // A job that has not run: no result, no executions, empty params.
  const pending = await submit(path, `${TASKS}#echo`);
  const p = await ok([
    "--db",
    path,
    "status",
    pending,
    "--show-params",
    "--show-result",
    "--show-executions",
  ]);
  assert.ok(
    p.endsWith("\nParameters:\n  {}\n\nResult: none (the job is pending)\n\nExecutions: none\n"),
    p,
  );
});

dbTest(
  'status --show-result shows falsy results too: 0, false, "", null, [] and {}',
  async ({ path }) => {
    const cases: [string, string][] = [
      ["0", "0"],
      ["false", "false"],
      ['""', '""'],
      ["null", "null"],
      ["[]", "[]"],
      ["{}", "{}"],
    ];
    for (const [param, shown] of cases) {
      const id = await submit(path, `${TASKS}#value`, "-p", `value=${param}`);
      await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
      const out = await ok(["--db", path, "status", id, "--show-result"]);
      assert.ok(out.endsWith(`\nResult:\n  ${shown}\n`), `${param}: ${out}`);
    }
  },
);

dbTest("status --json prints the job as getStatus() returns it", async ({ path }) => {
  const id = await submit(path, `${TASKS}#echo`, "-p", "a=1");
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
  const printed = JSON.parse(await ok(["--db", path, "status", id, "--json", "--show-result"]));
  const queue = new JobQueue(path);
  const expected = await queue.getStatus(id);
  queue.close();
  assert.ok(expected !== undefined);
  assert.deepEqual(printed, expected);
  assert.deepEqual(Object.keys(printed), [...JOB_INFO_KEYS, "executions", "children"]);
  assert.deepEqual(Object.keys(printed.executions[0]), [
    "attempt",
    "run",
    "status",
    "workerId",
    "startedAt",
    "completedAt",
    "error",
  ]);
});

// ---------------------------------------------------------------------------
// list, stats

/** The keys of JobInfo, as the README documents them. */
const JOB_INFO_KEYS = [
  "id",
  "name",
  "task",
  "module",
  "status",
  "params",
  "dependencies",
  "priority",
  "attempts",
  "maxAttempts",
  "timeout",
  "retryDelay",
  "backoff",
  "description",
  "result",
  "error",
  "workerId",
  "createdAt",
  "updatedAt",
  "startedAt",
  "completedAt",
  "runAt",
  "leaseUntil",
  "cancelledBy",
  "queue",
  "uniqueKey",
  "concurrencyKey",
  "progress",
  "maxRetryDelay",
];

driverTest(
  "list prints a table, newest first, filtered by --status and --limit",
  async ({ path, driver }) => {
    const d = ["--db", path, "--driver", driver];
    const a = JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "--name", "a", "--json"])).id;
    const b = JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "--name", "b", "--json"])).id;
    await ok([...d, "cancel", a]);
    const jobs = JSON.parse(await ok([...d, "list", "--json"]));
    const out = await ok([...d, "list"]);
    assert.equal(
      out,
      formatTable(
        jobs.map((
          j: { id: string; name: string; status: string; createdAt: string; updatedAt: string },
        ) => [
          j.id,
          j.name,
          "default",
          j.status,
          "0",
          formatTime(j.createdAt),
          formatTime(j.updatedAt),
        ]),
        ["ID", "Name", "Queue", "Status", "Priority", "Created", "Updated"],
      ) + "\n",
    );
    assert.deepEqual(jobs.map((j: { id: string }) => j.id), [b, a]);
    const ids = async (...args: string[]) =>
      JSON.parse(await ok([...d, "list", "--json", ...args])).map((j: { id: string }) => j.id);
    assert.deepEqual(await ids("--status", "cancelled"), [a]);
    assert.deepEqual(await ids("--status", "pending"), [b]);
    assert.deepEqual(await ids("--status", ""), [b, a]);
    assert.deepEqual(await ids("--limit", "1"), [b]);
    assert.deepEqual(await ids("--status", "completed"), []);
    assert.equal(await ok([...d, "list", "--status", "completed"]), "No jobs found.\n");
  },
);

dbTest("list --json prints JobInfo objects, as listJobs() returns them", async ({ path }) => {
  await submit(path, `${TASKS}#echo`, "-p", "a=1");
  await submit(path, `${TASKS}#echo`, "-p", "a=2");
  const printed = JSON.parse(await ok(["--db", path, "list", "--json"]));
  const queue = new JobQueue(path);
  assert.deepEqual(printed, await queue.listJobs());
  queue.close();
  assert.equal(printed.length, 2);
  for (const job of printed) assert.deepEqual(Object.keys(job), JOB_INFO_KEYS);
});

driverTest(
  "stats prints a Status | Count table with a total; --json prints QueueStats",
  async ({ path, driver }) => {
    const d = ["--db", path, "--driver", driver];
    await ok([...d, "submit", `${TASKS}#echo`]);
    await ok([...d, "submit", `${TASKS}#boom`]);
    await ok([...d, "submit", `${TASKS}#echo`]);
    await ok([...d, "worker", "--tasks", TASKS, "--once"]);
    await ok([...d, "worker", "--tasks", TASKS, "--once"]);
    assert.equal(
      await ok([...d, "stats"]),
      [
        "+-----------+-------+",
        "| Status    | Count |",
        "+-----------+-------+",
        "| pending   | 1     |",
        "| running   | 0     |",
        "| completed | 1     |",
        "| failed    | 1     |",
        "| cancelled | 0     |",
        "| timeout   | 0     |",
        "| total     | 3     |",
        "+-----------+-------+",
        "",
      ].join("\n"),
    );
    const stats = JSON.parse(await ok([...d, "stats", "--json"]));
    assert.deepEqual(stats, {
      pending: 1,
      running: 0,
      completed: 1,
      failed: 1,
      cancelled: 0,
      timeout: 0,
      total: 3,
    });
  },
);

// ---------------------------------------------------------------------------
// cancel, requeue, clear

dbTest(
  "cancel cancels a pending job and its dependents; refuses others with exit 1",
  async ({ path }) => {
    const parent = await submit(path, `${TASKS}#echo`);
    const child = await submit(path, `${TASKS}#echo`, "--depends-on", parent);
    assert.equal(await ok(["--db", path, "cancel", parent]), `Job ${parent} cancelled.\n`);
    assert.equal((await statusOf(path, parent)).status, "cancelled");
    const c = await statusOf(path, child);
    assert.equal(c.status, "cancelled");
    assert.equal(c.cancelledBy, parent);
    const again = await cli(["--db", path, "cancel", parent]);
    assert.equal(again.code, 1);
    assert.equal(
      again.stderr,
      `gigq cancel: cannot cancel job ${parent}: it is cancelled, and only pending or running ` +
        `jobs can be cancelled\n`,
    );
    const other = await submit(path, `${TASKS}#echo`);
    assert.deepEqual(JSON.parse(await ok(["--db", path, "cancel", other, "--json"])), {
      id: other,
      cancelled: true,
    });
  },
);

dbTest(
  "requeue brings a failed job back; refuses a pending one and a child of a failed parent",
  async ({ path }) => {
    const parent = await submit(path, `${TASKS}#boom`, "--name", "fetch");
    const child = await submit(path, `${TASKS}#echo`, "--depends-on", parent);
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
    assert.equal((await statusOf(path, parent)).status, "failed");
    assert.equal((await statusOf(path, child)).status, "cancelled");

    const refused = await cli(["--db", path, "requeue", child]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `gigq requeue: cannot requeue job ${child}: its dependency ${parent} ("fetch") is failed; ` +
        `requeue that one first\n`,
    );
    assert.equal(await ok(["--db", path, "requeue", parent]), `Job ${parent} requeued.\n`);
    const p = await statusOf(path, parent);
    assert.equal(p.status, "pending");
    assert.equal(p.attempts, 0);
    assert.equal((await statusOf(path, child)).status, "pending"); // brought back with its parent

    const pending = await cli(["--db", path, "requeue", parent]);
    assert.equal(pending.code, 1);
    assert.match(pending.stderr, /it is pending, and only failed, timed-out or cancelled jobs/);

    await ok(["--db", path, "cancel", child]);
    assert.deepEqual(JSON.parse(await ok(["--db", path, "requeue", child, "--json"])), {
      id: child,
      requeued: true,
    });
  },
);

dbTest(
  "clear deletes ended jobs; --before 0 means ended before now, not everything",
  async ({ path }) => {
    const done = await submit(path, `${TASKS}#echo`);
    const cancelled = await submit(path, `${TASKS}#echo`);
    const waiting = await submit(path, `${TASKS}#echo`, "--delay", "3600");
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
    await ok(["--db", path, "cancel", cancelled]);
    await new Promise((r) => setTimeout(r, 5));

    // Ended less than a day ago: kept.
    assert.match(await ok(["--db", path, "clear", "--before", "1"]), /^Cleared 0 jobs \(/);
    assert.match(await ok(["--db", path, "clear", "--before", "0.5"]), /^Cleared 0 jobs/);
    // Ended before now: both go; the pending job stays.
    const out = JSON.parse(await ok(["--db", path, "clear", "--before", "0", "--json"]));
    assert.equal(out.cleared, 2);
    assert.ok(Math.abs(Date.parse(out.before) - Date.now()) < 5_000, out.before);
    const left = JSON.parse(await ok(["--db", path, "list", "--json"]));
    assert.deepEqual(left.map((j: { id: string }) => j.id), [waiting]);
    void done;

    // Without --before: every completed or cancelled job.
    const another = await submit(path, `${TASKS}#echo`);
    await ok(["--db", path, "cancel", another]);
    assert.equal(
      await ok(["--db", path, "clear"]),
      "Cleared 1 job (completed or cancelled).\n",
    );
    assert.deepEqual(JSON.parse(await ok(["--db", path, "clear", "--json"])), {
      cleared: 0,
      before: null,
    });
  },
);

// ---------------------------------------------------------------------------
// why

dbTest("why prints one line; --json prints the documented shape", async ({ path }) => {
  const parent = await submit(path, `${TASKS}#echo`, "--name", "build");
  const child = await submit(path, `${TASKS}#echo`, "--depends-on", parent);
  assert.equal(
    await ok(["--db", path, "why", child]),
    `pending: blocked by parent ${parent} ("build"), which is pending\n`,
  );
  assert.equal(
    await ok(["--db", path, "why", parent]),
    "pending: ready, but no worker has ever run on this database\n",
  );
  const answer = JSON.parse(await ok(["--db", path, "why", child, "--json"]));
  assert.deepEqual(answer, {
    id: child,
    name: "echo",
    status: "pending",
    reason: "blocked",
    message: `pending: blocked by parent ${parent} ("build"), which is pending`,
    parent: { id: parent, name: "build", status: "pending" },
    until: null,
    workerId: null,
    lastWorkerSeen: null,
    schedule: null,
  });
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
  assert.match(await ok(["--db", path, "why", parent]), /^completed at /);
  assert.match(
    await ok(["--db", path, "why", child]),
    /^pending: ready and waiting for a free worker \(one was seen [\d.]+ s ago\)\n$/,
  );
});

// ---------------------------------------------------------------------------
// worker

driverTest(
  "worker --once processes one job, then reports an empty queue",
  async ({ path, driver }) => {
    const d = ["--db", path, "--driver", driver];
    const r0 = await cli([...d, "worker", "--tasks", TASKS, "--once"]);
    assert.deepEqual([r0.code, r0.stdout, r0.stderr], [0, "No jobs available to process.\n", ""]);
    const id = JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "-p", "x=1", "--json"])).id;
    const boom = JSON.parse(await ok([...d, "submit", `${TASKS}#boom`, "--json"])).id;
    assert.equal(
      await ok([...d, "worker", "--tasks", TASKS, "--once"]),
      "Processed one job (completed).\n",
    );
    const json = JSON.parse(await ok([...d, "worker", "--tasks", TASKS, "--once", "--json"]));
    assert.deepEqual(Object.keys(json), ["workerId", "processed", "outcome"]);
    assert.equal(json.processed, true);
    assert.equal(json.outcome, "failed");
    assert.match(json.workerId, /^worker-/);
    const empty = JSON.parse(await ok([...d, "worker", "--tasks", TASKS, "--once", "--json"]));
    assert.deepEqual({ ...empty, workerId: "" }, { workerId: "", processed: false, outcome: null });
    const queue = new JobQueue(path, { driver });
    assert.deepEqual((await queue.getStatus(id))?.result, { x: 1 });
    assert.equal((await queue.getStatus(boom))?.status, "failed");
    queue.close();
  },
);

dbTest(
  "worker --tasks registers every task a module exports, from every module given",
  async ({ path }) => {
    const ids = [
      await submit(path, `${TASKS}#echo`),
      await submit(path, `${TASKS}#value`, "-p", "value=3"),
      await submit(path, `${EXAMPLES}#greet`, "-p", "name=Ada"),
    ];
    for (let i = 0; i < 3; i++) {
      await ok(["--db", path, "worker", "--tasks", TASKS, "--tasks", EXAMPLES, "--once"]);
    }
    const jobs = await Promise.all(ids.map((id) => statusOf(path, id)));
    assert.deepEqual(jobs.map((j) => [j.status, j.result]), [
      ["completed", {}],
      ["completed", 3],
      ["completed", "Hello, Ada!"],
    ]);
  },
);

dbTest("worker --worker-id, GIGQ_WORKER_ID and --concurrency are used", async ({ path }) => {
  const a = await submit(path, `${TASKS}#echo`);
  const b = await submit(path, `${TASKS}#echo`);
  const c = await submit(path, `${TASKS}#echo`);
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--worker-id", "flag-id"]);
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once"], {
    env: { GIGQ_WORKER_ID: "env-id" },
  });
  await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--worker-id", "flag-wins"], {
    env: { GIGQ_WORKER_ID: "env-id" },
  });
  const workers = await Promise.all(
    [a, b, c].map(async (id) => (await statusOf(path, id)).executions[0].workerId),
  );
  assert.deepEqual(workers, ["flag-id", "env-id", "flag-wins"]);
  const conn = new DatabaseSync(path, { readOnly: true });
  const rows = conn.prepare("SELECT id, concurrency FROM gigq_workers ORDER BY id").all();
  conn.close();
  assert.deepEqual(rows.map((r) => r.id), ["env-id", "flag-id", "flag-wins"]);
  await ok([
    "--db",
    path,
    "worker",
    "--tasks",
    TASKS,
    "--once",
    "--worker-id",
    "c3",
    "--concurrency",
    "3",
  ]);
  const conn2 = new DatabaseSync(path, { readOnly: true });
  assert.equal(
    conn2.prepare("SELECT concurrency FROM gigq_workers WHERE id = 'c3'").get()?.concurrency,
    3,
  );
  conn2.close();
});

dbTest(
  "worker: GIGQ_POLLING_INTERVAL is read and checked; --polling-interval wins",
  async ({ path }) => {
    const bad = await cli(["--db", path, "worker", "--tasks", TASKS, "--once"], {
      env: { GIGQ_POLLING_INTERVAL: "soon" },
    });
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      "gigq worker: GIGQ_POLLING_INTERVAL must be a number of seconds greater than 0 and at most " +
        '86400, got "soon"\n',
    );
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--polling-interval", "0.5"], {
      env: { GIGQ_POLLING_INTERVAL: "soon" },
    });
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once"], {
      env: { GIGQ_POLLING_INTERVAL: "0.25" },
    });
  },
);

dbTest(
  "worker: the first SIGINT lets the job in flight finish, exits 0 and removes the listeners",
  async ({ path }) => {
    const id = await submit(path, `${TASKS}#slow`, "-p", "ms=200");
    const signals = new FakeSignals();
    const run = cli(["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
      signals,
    });
    await waitFor(() => signals.count === 2); // SIGINT and SIGTERM
    const queue = new JobQueue(path);
    await waitFor(async () => (await queue.getStatus(id))?.status === "running");
    signals.send("SIGINT");
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await queue.getStatus(id))?.status, "completed");
    assert.equal(signals.count, 0);
    assert.match(r.stderr, /info worker worker-\S+ started \(concurrency 1, every queue\)\n/);
    assert.match(r.stderr, /note SIGINT: stopping after 1 job in flight; send SIGINT again/);
    assert.match(
      r.stdout,
      /^Worker worker-\S+ stopped: 1 processed \(1 completed, 0 failed, 0 timed out\)\.\n$/,
    );
    queue.close();
  },
);

dbTest("worker: SIGTERM stops it too; --json prints the counts", async ({ path }) => {
  await submit(path, `${TASKS}#echo`);
  await submit(path, `${TASKS}#boom`);
  const signals = new FakeSignals();
  const run = cli([
    "--db",
    path,
    "worker",
    "--tasks",
    TASKS,
    "--json",
    "--polling-interval",
    "0.05",
  ], {
    signals,
  });
  const queue = new JobQueue(path);
  await waitFor(async () =>
    (await queue.stats()).pending === 0 && (await queue.stats()).running === 0
  );
  signals.send("SIGTERM");
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual({ ...summary, workerId: "" }, {
    workerId: "",
    processed: 2,
    completed: 1,
    failed: 1,
    timedOut: 0,
  });
  queue.close();
});

dbTest(
  "worker: a second signal releases the job in flight and exits 130 (SIGINT) or 143 (SIGTERM)",
  async ({ path }) => {
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const id = await submit(path, `${TASKS}#slow`, "-p", `ms=${REPEAT_MS + 5000}`);
      const signals = new FakeSignals();
      const exits: number[] = [];
      const run = cli(["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
        signals,
        exits,
      });
      const queue = new JobQueue(path);
      await waitFor(async () => (await queue.getStatus(id))?.status === "running");
      signals.send(signal);
      await new Promise((resolve) => setTimeout(resolve, REPEAT_MS + 50));
      signals.send(signal);
      const r = await run;
      assert.equal(r.code, code, r.stderr);
      assert.deepEqual(exits, [], "it stopped by itself, without the hard exit");
      assert.equal(signals.count, 0);
      assert.match(r.stderr, new RegExp(`note ${signal} again: releasing the jobs in flight`));
      // Released, not abandoned: back to pending at once, the attempt not counted.
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "pending");
      assert.equal(job?.attempts, 0);
      await queue.cancel(id);
      queue.close();
      closeConnections();
    }
  },
);

dbTest("worker: --grace releases jobs still running after it", async ({ path }) => {
  const id = await submit(path, `${TASKS}#slow`, "-p", "ms=10000");
  const signals = new FakeSignals();
  const run = cli(
    ["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05", "--grace", "0.2"],
    { signals },
  );
  const queue = new JobQueue(path);
  await waitFor(async () => (await queue.getStatus(id))?.status === "running");
  signals.send("SIGTERM");
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note SIGTERM: stopping after 1 job in flight \(at most 0\.2 s\)/);
  assert.equal((await queue.getStatus(id))?.status, "pending");
  queue.close();
});

dbTest(
  "worker: a repeat of the first signal within REPEAT_MS is its duplicate, not a second signal",
  async ({ path }) => {
    // One Ctrl-C under `deno task` arrives twice: from the terminal and forwarded by deno task.
    const id = await submit(path, `${TASKS}#slow`, "-p", "ms=200");
    const signals = new FakeSignals();
    const exits: number[] = [];
    const run = cli(["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
      signals,
      exits,
    });
    const queue = new JobQueue(path);
    await waitFor(async () => (await queue.getStatus(id))?.status === "running");
    signals.send("SIGINT");
    signals.send("SIGINT");
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(exits, []);
    assert.equal((await queue.getStatus(id))?.status, "completed");
    assert.doesNotMatch(r.stderr, /again: exiting now/);
    queue.close();
  },
);

dbTest("worker on a terminal shows one updating progress line", async ({ path }) => {
  await submit(path, `${TASKS}#echo`);
  await submit(path, `${TASKS}#boom`);
  const signals = new FakeSignals();
  let stderr = "";
  const run = main(["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
    stdout: () => {},
    stderr: (t) => stderr += t,
    env: () => undefined,
    isTerminal: true,
    onSignal: signals.on,
    exit: () => {},
  });
  await waitFor(() => /2 processed, 1 failed, [\d.]+ jobs\/s, 0 in flight/.test(stderr));
  signals.send("SIGINT");
  assert.equal(await run, 0);
  // Each redraw clears the line and rewrites it in place; log lines go above it.
  const shown = stderr.replaceAll("\r\x1b[2K", "<redraw>");
  assert.match(
    shown,
    /<redraw>worker worker-\S+: 0 processed, 0 failed, 0\.0 jobs\/s, 0 in flight/,
  );
  assert.match(shown, /<redraw>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d info worker \S+ started/);
  assert.ok(shown.endsWith("<redraw>"), JSON.stringify(shown.slice(-40)));
  // The progress line is never followed by a newline: it stays one line.
  assert.doesNotMatch(shown, /in flight\n/);
});

dbTest(
  "worker: handlers run in a supervised Web Worker by default, in this thread with --in-process",
  async ({ path }) => {
    const ids = [await submit(path, `${TASKS}#where`), await submit(path, `${TASKS}#where`)];
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once", "--in-process"]);
    const jobs = await Promise.all(ids.map((id) => statusOf(path, id)));
    assert.deepEqual(jobs.map((j) => j.result), ["web worker", "main thread"]);
    const help = await ok(["worker", "--help"]);
    assert.match(help, /--in-process +run the handlers in this thread/);
    assert.match(help, /CPU-bound[\s\S]*may run twice/);
  },
);

dbTest(
  "worker: --worker-id names the supervised worker and a pool's Web Workers; --lease is its lease",
  async ({ path }) => {
    const queue = new JobQueue(path);
    for (const [args, ids] of [[[], ["sup"]], [["--workers", "2"], ["sup-0", "sup-1"]]] as const) {
      const signals = new FakeSignals();
      const run = cli([
        "--db",
        path,
        "worker",
        "--tasks",
        TASKS,
        "--worker-id",
        "sup",
        "--lease",
        "7",
        "--polling-interval",
        "0.05",
        ...args,
      ], { signals });
      const id = await submit(path, `${TASKS}#slow`, "-p", "ms=300");
      await waitFor(async () => (await queue.getStatus(id))?.status === "running");
      const job = await queue.getStatus(id);
      assert.ok(ids.includes(job!.workerId! as never), `${job?.workerId} is one of ${ids}`);
      // The lease runs about 7 s from the claim (the pool renews it from its own thread).
      const left = Date.parse(job!.leaseUntil!) - Date.now();
      assert.ok(left > 4000 && left <= 7000, `lease ends in ${left} ms`);
      await waitFor(async () => (await queue.getStatus(id))?.status === "completed");
      signals.send("SIGTERM");
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      for (const w of ids) assert.match(r.stderr, new RegExp(`info worker ${w} started`));
      if (ids.length === 1) {
        assert.equal(
          r.stdout,
          "Worker sup stopped: 1 processed (1 completed, 0 failed, 0 timed out).\n",
        );
      } else {
        assert.match(r.stdout, /^Pool of 2 stopped: 1 processed \(1 completed/);
      }
      closeConnections();
    }
    queue.close();
  },
);

dbTest(
  "worker: a CPU-bound job longer than --lease runs exactly once with two gigq worker processes on the file",
  async ({ path, dir }) => {
    const log = `${dir}/starts.log`;
    const id = await submit(path, `${TASKS}#burn`, "-p", `log=${log}`, "-p", "ms=6000");
    closeConnections();
    const spawn = (name: string) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${REPO}/src/cli/main.ts`,
          "--db",
          path,
          "worker",
          "--tasks",
          TASKS,
          "--lease",
          "2",
          "--polling-interval",
          "0.1",
          "--worker-id",
          name,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    const workers = [spawn("first"), spawn("second")];
    const queue = new JobQueue(path);
    let outputs: Deno.CommandOutput[] = [];
    try {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const job = await queue.getStatus(id);
        if (job?.status !== "pending" && job?.status !== "running") break;
        assert.ok(Date.now() < deadline, `the job never ended: ${JSON.stringify(job)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      for (const w of workers) w.kill("SIGTERM");
      outputs = await Promise.all(workers.map((w) => w.output()));
    }
    const stderr = outputs.map((o) => new TextDecoder().decode(o.stderr)).join("\n");
    const starts = (await Deno.readTextFile(log)).trimEnd().split("\n");
    assert.equal(starts.length, 1, `the handler started ${starts.length} times:\n${stderr}`);
    const job = await queue.getStatus(id);
    assert.deepEqual(job?.executions.map((e) => e.status), ["completed"], stderr);
    assert.equal(job?.attempts, 1);
    assert.deepEqual(outputs.map((o) => o.code), [0, 0], stderr);
    queue.close();
  },
);

dbTest(
  "worker --once: a second signal releases the job at once and exits 130/143, no hard exit",
  async ({ path }) => {
    for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
      const id = await submit(path, `${TASKS}#slow`, "-p", "ms=60000");
      const signals = new FakeSignals();
      const exits: number[] = [];
      const run = cli(["--db", path, "worker", "--tasks", TASKS, "--once"], { signals, exits });
      const queue = new JobQueue(path);
      await waitFor(async () => (await queue.getStatus(id))?.status === "running");
      signals.send(signal);
      await new Promise((resolve) => setTimeout(resolve, REPEAT_MS + 50));
      signals.send(signal);
      const r = await run;
      assert.equal(r.code, code, r.stderr);
      assert.deepEqual(exits, [], "it stopped by itself, without the hard exit");
      assert.equal(r.stdout, "");
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "pending");
      assert.equal(job?.attempts, 0);
      await queue.cancel(id);
      queue.close();
      closeConnections();
    }
  },
);

dbTest("worker on a pipe writes plain log lines, no progress line", async ({ path }) => {
  const signals = new FakeSignals();
  let started = false;
  const run = cli(["--db", path, "worker", "--tasks", TASKS, "--polling-interval", "0.05"], {
    signals,
    onOutput: (o) => started ||= o.stderr.includes(" started "),
  });
  // Signalled once it has started (on a loaded machine that may take a while).
  await waitFor(() => started);
  signals.send("SIGTERM");
  const r = await run;
  assert.equal(r.code, 0);
  assert.ok(!r.stderr.includes("\r"), r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 3, r.stderr);
  assert.match(lines[1], / note SIGTERM: stopping; send SIGTERM again to exit at once$/);
  for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (info|note) /);
});

// ---------------------------------------------------------------------------
// drivers

dbTest(
  "--driver and GIGQ_DRIVER choose the driver; a conflicting driver is refused",
  async ({ path }) => {
    await submit(path, `${TASKS}#echo`);
    // This process has the file open with the node driver: ffi must be refused.
    const queue = new JobQueue(path, { driver: "node" });
    await queue.stats();
    const before = await dbHash(path);
    const viaFlag = await cli(["--db", path, "--driver", "ffi", "stats"]);
    assert.equal(viaFlag.code, 1);
    assert.match(
      viaFlag.stderr,
      /^gigq stats: Cannot open ".*" with the "ffi" driver: this process/,
    );
    const viaEnv = await cli(["--db", path, "stats"], { env: { GIGQ_DRIVER: "ffi" } });
    assert.equal(viaEnv.code, 1);
    assert.equal(viaEnv.stderr, viaFlag.stderr);
    // --driver wins over GIGQ_DRIVER.
    await ok(["--db", path, "--driver", "node", "stats"], { env: { GIGQ_DRIVER: "ffi" } });
    assert.equal(await dbHash(path), before);
    queue.close();
  },
);

// ---------------------------------------------------------------------------
// bad input: one line on stderr, exit 2 (usage) or 1 (failed operation), no change

interface Bad {
  args: string[];
  code: 1 | 2;
  message: RegExp;
  env?: Record<string, string>;
}

dbTest(
  "every bad input: one line naming the value, the right exit code, database unchanged",
  async ({ path, dir }) => {
    const mod = JSON.stringify(new URL("../mod.ts", import.meta.url).href);
    await Deno.writeTextFile(`${dir}/broken.ts`, "export const = ;\n");
    await Deno.writeTextFile(`${dir}/throws.ts`, 'throw new Error("no import for you");\n');
    await Deno.writeTextFile(`${dir}/none.ts`, "export const x = 1;\n");
    await Deno.writeTextFile(
      `${dir}/dup.ts`,
      `import { task } from ${mod};\nexport const echo = task("echo", () => 2);\n`,
    );
    const done = await submit(path, `${TASKS}#echo`);
    await ok(["--db", path, "worker", "--tasks", TASKS, "--once"]);
    const cancelled = await submit(path, `${TASKS}#echo`);
    await ok(["--db", path, "cancel", cancelled]);
    const live = await submit(path, `${TASKS}#echo`);
    closeConnections();

    const T = `${TASKS}#echo`;
    const cases: Bad[] = [
      // the command line itself
      { args: [], code: 2, message: /^gigq: missing command; one of: submit, status,/ },
      { args: ["frobnicate"], code: 2, message: /unknown command "frobnicate"; commands are: / },
      { args: ["stats", "--bogus"], code: 2, message: /unknown option "--bogus"/ },
      { args: ["--bogus", "stats"], code: 2, message: /^gigq: unknown option "--bogus"/ },
      {
        args: ["stats", "--json=yes"],
        code: 2,
        message: /option --json takes no value, got "yes"/,
      },
      { args: ["stats", "--db"], code: 2, message: /option --db needs a value/ },
      { args: ["status"], code: 2, message: /missing <id> \(usage: gigq status <id>/ },
      { args: ["status", "a", "b"], code: 2, message: /unexpected argument "b"/ },
      {
        args: ["cancel"],
        code: 2,
        message: /give a job id, or at least one of --status, --queue and --name/,
      },
      {
        args: ["requeue"],
        code: 2,
        message: /give a job id, or at least one of --status, --queue and --name/,
      },
      { args: ["why"], code: 2, message: /missing <id>/ },
      { args: ["submit"], code: 2, message: /missing <module>#<export>/ },
      {
        args: ["--driver", "sqlite", "stats"],
        code: 2,
        message: /--driver must be one of node, ffi, got "sqlite"/,
      },
      {
        args: ["stats"],
        env: { GIGQ_DRIVER: "pg" },
        code: 2,
        message: /GIGQ_DRIVER must be one of node, ffi, got "pg"/,
      },
      // submit
      { args: ["submit", "greet"], code: 2, message: /expected <module>#<export>, .* got "greet"/ },
      { args: ["submit", `${TASKS}#`], code: 2, message: /expected <module>#<export>/ },
      {
        args: ["submit", T, "-p", "noequals"],
        code: 2,
        message: /--param needs KEY=VALUE .* got "noequals"/,
      },
      {
        args: ["submit", T, "-p", "=v"],
        code: 2,
        message: /--param needs KEY=VALUE with a non-empty KEY, got "=v"/,
      },
      {
        args: ["submit", `${TASKS}#notATask`],
        code: 2,
        message:
          /#notATask" is 42, not a task made by task\(\); the module's tasks are: boom, burn, echo, mail, slow, value, where$/,
      },
      {
        args: ["submit", `${TASKS}#missing`],
        code: 2,
        message:
          /has no export "missing"; its tasks are: boom, burn, echo, mail, slow, value, where$/,
      },
      {
        args: ["submit", "./nope.ts#x"],
        code: 1,
        message: /cannot import "\.\/nope\.ts": Module not found/,
      },
      {
        args: ["submit", `${dir}/broken.ts#x`],
        code: 1,
        message: /cannot import ".*broken\.ts": /,
      },
      {
        args: ["submit", `${dir}/throws.ts#x`],
        code: 1,
        message: /cannot import ".*throws\.ts": .*no import for you/,
      },
      {
        args: ["submit", T, "--priority", "high"],
        code: 2,
        message: /--priority must be a number, got "high"/,
      },
      {
        args: ["submit", T, "--priority", "1.5"],
        code: 2,
        message: /priority must be a whole number from -2147483648 to 2147483647, got 1\.5/,
      },
      {
        args: ["submit", T, "--max-attempts", "0"],
        code: 2,
        message: /maxAttempts must be a whole number from 1 to 1000000, got 0/,
      },
      {
        args: ["submit", T, "--timeout", "-1"],
        code: 2,
        message: /timeout must be a number of seconds > 0 and <= 2147483, got -1/,
      },
      {
        args: ["submit", T, "--retry-delay", "x"],
        code: 2,
        message: /--retry-delay must be a number, got "x"/,
      },
      {
        args: ["submit", T, "--delay", "-5"],
        code: 2,
        message: /--delay must be a number of seconds from 0 to 315360000, got "-5"/,
      },
      {
        args: ["submit", T, "--delay", "5", "--run-at", "2030-01-01"],
        code: 2,
        message: /give --delay or --run-at, not both/,
      },
      {
        args: ["submit", T, "--run-at", "tomorrow"],
        code: 2,
        message: /--run-at must be an ISO 8601 time .* got "tomorrow"/,
      },
      {
        args: ["submit", T, "--run-at", "2026-13-45"],
        code: 2,
        message:
          /runAt must be a valid Date, ISO 8601 string or epoch milliseconds, got "2026-13-45"/,
      },
      { args: ["submit", T, "--name", ""], code: 2, message: /--name must not be empty/ },
      {
        args: ["submit", T, "--depends-on", "no-such-job"],
        code: 1,
        message: /its dependency "no-such-job" does not exist/,
      },
      {
        args: ["submit", T, "--description", "x".repeat(10_001)],
        code: 2,
        message: /description must be at most 10000 characters, got 10001/,
      },
      // worker
      { args: ["worker"], code: 2, message: /worker needs --tasks MODULE/ },
      {
        args: ["worker", "--tasks", TASKS, "--concurrency", "0"],
        code: 2,
        message: /concurrency must be a whole number from 1 to 10000, got 0/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--concurrency", "many"],
        code: 2,
        message: /--concurrency must be a number, got "many"/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--workers", "4", "--once"],
        code: 2,
        message: /--once runs one job in this process; it cannot be combined with --workers 4/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--in-process", "--workers", "2"],
        code: 2,
        message:
          /--in-process runs one worker in this thread; it cannot be combined with --workers 2/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--lease", "0"],
        code: 2,
        message: /--lease must be a number of seconds greater than 0 and at most 86400, got "0"/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--grace", "-1"],
        code: 2,
        message: /--grace must be a number of seconds from 0 to 2147483, got "-1"/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--workers", "0"],
        code: 2,
        message: /--workers must be a whole number from 1 to 1024, got "0"/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--polling-interval", "0"],
        code: 2,
        message:
          /--polling-interval must be a number of seconds greater than 0 and at most 86400, got "0"/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--worker-id", " "],
        code: 2,
        message: /--worker-id must not be empty/,
      },
      {
        args: ["worker", "--tasks", `${dir}/none.ts`],
        code: 2,
        message: /".*none\.ts" exports no tasks/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--tasks", `${dir}/dup.ts`],
        code: 2,
        message: /two different tasks are named "echo"/,
      },
      {
        args: ["worker", "--tasks", `${dir}/throws.ts`],
        code: 1,
        message: /cannot import ".*throws\.ts": .*no import for you/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--once"],
        env: { GIGQ_POLLING_INTERVAL: "-1" },
        code: 2,
        message: /GIGQ_POLLING_INTERVAL must be a number of seconds greater than 0/,
      },
      // list, clear
      {
        args: ["list", "--status", "weird"],
        code: 2,
        message:
          /Invalid status "weird": allowed are pending, running, completed, failed, cancelled, timeout/,
      },
      {
        args: ["list", "--limit", "-1"],
        code: 2,
        message: /--limit must be a whole number from 0 to 1000000000, got "-1"/,
      },
      {
        args: ["submit", T, "--queue", ""],
        code: 2,
        message: /^gigq submit: --queue must be a queue name of 1 to 128 characters.*, got ""$/,
      },
      {
        args: ["submit", T, "--unique-key", ""],
        code: 2,
        message: /^gigq submit: --unique-key must be 1 to 1000 characters.*, got ""$/,
      },
      {
        args: ["list", "--queue", "q".repeat(129)],
        code: 2,
        message: /^gigq list: --queue must be a queue name of 1 to 128 characters/,
      },
      {
        args: ["stats", "--queue", " "],
        code: 2,
        message: /^gigq stats: --queue must be a queue name .*, got " "$/,
      },
      {
        args: ["worker", "--tasks", TASKS, "--once", "--queue", "a\0b"],
        code: 2,
        message: /^gigq worker: --queue must be a queue name .*, got "a\\u0000b"$/,
      },
      {
        args: ["pause", ""],
        code: 2,
        message: /^gigq pause: <queue> must be a queue name of 1 to 128 characters/,
      },
      {
        args: ["resume", "\t"],
        code: 2,
        message: /^gigq resume: <queue> must be a queue name .*, got "\\t"$/,
      },
      { args: ["pause"], code: 2, message: /^gigq pause: missing <queue>/ },
      {
        args: ["list", "--limit", "ten"],
        code: 2,
        message: /--limit must be a whole number from 0 to 1000000000, got "ten"/,
      },
      {
        args: ["clear", "--before", "1e12"],
        code: 2,
        message: /--before must be a number of days from 0 to 36500, got "1e12"/,
      },
      {
        args: ["clear", "--before", "-1"],
        code: 2,
        message: /--before must be a number of days from 0 to 36500, got "-1"/,
      },
      {
        args: ["clear", "--before", "yesterday"],
        code: 2,
        message: /--before must be a number of days from 0 to 36500, got "yesterday"/,
      },
      // failed operations
      {
        args: ["status", "no-such-job"],
        code: 1,
        message: /^gigq status: Job "no-such-job" not found$/,
      },
      { args: ["cancel", "no-such-job"], code: 1, message: /Job "no-such-job" not found/ },
      { args: ["requeue", "no-such-job"], code: 1, message: /Job "no-such-job" not found/ },
      { args: ["why", "no-such-job"], code: 1, message: /Job "no-such-job" not found/ },
      {
        args: ["cancel", cancelled],
        code: 1,
        message:
          /cannot cancel job .*: it is cancelled, and only pending or running jobs can be cancelled/,
      },
      {
        args: ["cancel", done],
        code: 1,
        message: /cannot cancel job .*: it is completed, and only pending or running/,
      },
      { args: ["requeue", done], code: 1, message: /cannot requeue job .*: it is completed/ },
      { args: ["requeue", live], code: 1, message: /cannot requeue job .*: it is pending/ },
    ];
    for (const bad of cases) {
      const before = await dbHash(path);
      const r = await cli(["--db", path, ...bad.args], { env: bad.env });
      const label = `gigq ${bad.args.join(" ").slice(0, 120)}`;
      assert.equal(r.code, bad.code, `${label}: exit ${r.code}, stderr ${r.stderr}`);
      assert.equal(r.stdout, "", label);
      assert.match(
        r.stderr,
        /^gigq[^\n]*\n$/,
        `${label}: not one line: ${JSON.stringify(r.stderr)}`,
      );
      assert.match(r.stderr.trimEnd(), bad.message, label);
      assert.doesNotMatch(r.stderr, /\bat (file|ext):|\.ts:\d+:\d+\)/, `${label}: a stack trace`);
      closeConnections();
      assert.equal(await dbHash(path), before, `${label} changed the database`);
    }
  },
);

const READERS: [string, string[]][] = [
  ["status", ["status", "some-id"]],
  ["list", ["list"]],
  ["stats", ["stats"]],
  ["cancel", ["cancel", "some-id"]],
  ["requeue", ["requeue", "some-id"]],
  ["clear", ["clear"]],
  ["why", ["why", "some-id"]],
  ["queues", ["queues"]],
  ["pause", ["pause", "emails"]],
  ["resume", ["resume", "emails"]],
];

dbTest(
  "commands that read never create a database: missing, empty or tableless files",
  async ({ dir }) => {
    const missing = `${dir}/missing.db`;
    const empty = `${dir}/empty.db`;
    const tableless = `${dir}/tableless.db`;
    await Deno.writeFile(empty, new Uint8Array());
    const raw = new DatabaseSync(tableless);
    raw.exec("CREATE TABLE t (a); DROP TABLE t;");
    raw.close();
    for (const path of [missing, empty, tableless]) {
      for (const [name, args] of READERS) {
        const before = await dbHash(path);
        const r = await cli(["--db", path, ...args]);
        assert.equal(r.code, 1, `${name} ${path}`);
        assert.equal(
          r.stderr,
          `gigq ${name}: no GigQ database at ${path} (submit a job or start a worker to create one)\n`,
        );
        assert.equal(await dbHash(path), before, `${name} changed ${path}`);
      }
    }
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, ["empty.db", "tableless.db"]);
    // submit and worker create the queue where nothing was.
    await ok(["--db", missing, "submit", `${TASKS}#echo`]);
    await ok(["--db", empty, "worker", "--tasks", TASKS, "--once"]);
    assert.equal(JSON.parse(await ok(["--db", missing, "stats", "--json"])).total, 1);
    assert.equal(JSON.parse(await ok(["--db", empty, "stats", "--json"])).total, 0);
  },
);

dbTest("a GigQ database whose tables are still only in the WAL is recognised", async ({ path }) => {
  const queue = new JobQueue(path);
  await queue.submit(new Job({ task: "echo" }));
  // The file's header still says "no schema": the schema is in the WAL, not yet checkpointed.
  const header = new DataView((await Deno.readFile(path)).buffer);
  assert.equal(header.getUint32(60), 0);
  assert.ok((await Deno.stat(path + "-wal")).size > 0);
  assert.equal(JSON.parse(await ok(["--db", path, "stats", "--json"])).total, 1);
  queue.close();
});

dbTest(
  "an application's SQLite file without GigQ's tables: read commands say there is no queue in it; a non-SQLite file is refused by every command; both unchanged",
  async ({ dir }) => {
    const app = `${dir}/app.db`;
    const raw = new DatabaseSync(app);
    raw.exec(
      "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers (name) VALUES ('x')",
    );
    raw.close();
    const text = `${dir}/notes.db`;
    await Deno.writeTextFile(text, "These are my notes, not a database. ".repeat(10));
    const cases: [string[], string, RegExp][] = [
      ...READERS.map(([, args]) =>
        [
          args,
          app,
          /no GigQ queue in .*app\.db \(it is an SQLite database without GigQ's tables/,
        ] as [
          string[],
          string,
          RegExp,
        ]
      ),
      ...[...READERS.map(([, args]) => args), ["submit", `${TASKS}#echo`], [
        "worker",
        "--tasks",
        TASKS,
        "--once",
      ]].map((args) =>
        [args, text, /is not an SQLite database, so not a GigQ database/] as [
          string[],
          string,
          RegExp,
        ]
      ),
    ];
    for (const [args, path, message] of cases) {
      const before = await dbHash(path);
      const r = await cli(["--db", path, ...args]);
      assert.equal(r.code, 1, `${args[0]} ${path}: ${r.stderr}`);
      assert.match(r.stderr, /^gigq [a-z]+: [^\n]*\n$/);
      assert.match(r.stderr, message);
      closeConnections();
      assert.equal(await dbHash(path), before, `${args[0]} changed ${path}`);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "app.db",
      "notes.db",
    ]);
  },
);

// ---------------------------------------------------------------------------
// formatting

Deno.test("formatTable uses GigQ's layout; no rows is 'No data to display.'", () => {
  assert.equal(formatTable([]), "No data to display.");
  assert.equal(
    formatTable([["a", "bbb"], ["cc"]], ["H1", "H2"]),
    [
      "+----+-----+",
      "| H1 | H2  |",
      "+----+-----+",
      "| a  | bbb |",
      "| cc |     |",
      "+----+-----+",
    ].join("\n"),
  );
  assert.equal(formatTable([["x"]]), ["+---+", "| x |", "+---+"].join("\n"));
});

Deno.test("formatTime prints local YYYY-MM-DD HH:MM:SS, and - for none", () => {
  const d = new Date(2026, 0, 2, 3, 4, 5);
  assert.equal(formatTime(d), "2026-01-02 03:04:05");
  assert.equal(formatTime(d.toISOString()), "2026-01-02 03:04:05");
  assert.equal(formatTime(d.getTime()), "2026-01-02 03:04:05");
  assert.equal(formatTime(null), "-");
});

dbTest("submit --backoff sets the job's backoff, and refuses another word", async ({ path }) => {
  const job = await statusOf(
    path,
    await submit(path, `${TASKS}#echo`, "--backoff", "exponential", "--retry-delay", "2"),
  );
  assert.equal(job.backoff, "exponential");
  assert.equal(job.retryDelay, 2);
  const before = await dbHash(path);
  const r = await cli(["--db", path, "submit", `${TASKS}#echo`, "--backoff", "linear"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--backoff must be "fixed" or "exponential", got "linear"/);
  assert.equal(await dbHash(path), before);
});
