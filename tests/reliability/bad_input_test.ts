/**
 * Bad input, through the API and the CLI: each gives a clear error naming the
 * value, nothing crashes, and the database is left byte for byte as it was.
 *
 * Already covered elsewhere, and not repeated here:
 * - tests/queue_test.ts: params that are not JSON (function, symbol, BigInt,
 *   NaN, Infinity, undefined, a cycle, Date, Map, Set, array holes) inside a
 *   params object through `task.submit`; an oversized params payload; an
 *   unknown `listJobs` status and bad limits; a duplicate submit; an unknown
 *   dependency; a dependency cycle.
 * - tests/worker_test.ts: a BigInt result; bad Worker options (concurrency,
 *   pollInterval, lease, workerId, tasks, unknown option names).
 * - tests/sqlite/schema_test.ts: a newer schema, a file that is not SQLite, a
 *   directory and a missing directory, and a path with spaces and non-ASCII
 *   characters, all through `JobQueue`.
 * - tests/json_test.ts: params and results nested past MAX_JSON_DEPTH, and
 *   strings and keys with a lone surrogate; tests/error_text_test.ts: error
 *   texts and echoed values cut to size.
 * - tests/cli_test.ts: every CLI usage error (numbers, statuses, options,
 *   modules, exit codes 1 and 2), missing, empty and tableless files, and
 *   foreign and non-SQLite files through every command.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  closeConnections,
  getConnection,
  Job,
  JobNotFoundError,
  JobQueue,
  type JobStatus,
  SchemaError,
  SqliteError,
  task,
  Worker,
  WorkerPool,
  Workflow,
} from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import { APPLICATION_ID, SCHEMA_VERSION } from "../../src/sqlite/schema.ts";
import { dbHash, drivers, fileHash, tempDb } from "../_helpers.ts";
import { inspect, integrity, REPO, scalar } from "./_common.ts";

const TASKS = `${REPO}/tests/cli/_tasks.ts`;
const echo = task("echo", (p: unknown) => p);
const quiet = () => {};

/** Runs the CLI in this process with captured output. */
async function cli(args: string[]) {
  const out = { stdout: "", stderr: "" };
  const code = await main(args, {
    stdout: (t) => out.stdout += t,
    stderr: (t) => out.stderr += t,
    env: () => undefined,
    cwd: () => REPO,
    isTerminal: false,
    onSignal: () => () => {},
    exit: () => {},
  });
  closeConnections();
  return { code, ...out };
}

/** Asserts a CLI failure: the exit code, one line on stderr matching `message`, no stack. */
function assertOneLine(
  r: { code: number; stdout: string; stderr: string },
  code: number,
  message: RegExp,
  label: string,
): void {
  assert.equal(r.code, code, `${label}: exit ${r.code}, stderr ${r.stderr}`);
  assert.equal(r.stdout, "", `${label}: stdout`);
  assert.match(r.stderr, /^gigq[^\n]*\n$/, `${label}: not one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, message, label);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${label}: a stack trace`);
}

/** Asserts that `fn` throws (or rejects with) `kind`, with a message matching `message`. */
async function assertRefused(
  fn: () => unknown,
  kind: (new (...a: never[]) => Error) | (new (...a: never[]) => Error)[],
  message: RegExp,
  label: string,
): Promise<void> {
  const kinds = Array.isArray(kind) ? kind : [kind];
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `${label}: nothing was thrown`);
  assert.ok(
    kinds.some((k) => thrown instanceof k),
    `${label}: got ${(thrown as Error)?.name}: ${(thrown as Error)?.message}`,
  );
  assert.match((thrown as Error).message, message, label);
}

/** A temp database with one job in it, and the hash of its bytes. */
async function seeded(driver: "node" | "ffi" = "node") {
  const db = await tempDb();
  const queue = new JobQueue(db.path, { driver });
  await queue.submit(echo.toJob("seed"));
  queue.close();
  closeConnections();
  return { ...db, hash: await dbHash(db.path) };
}

async function assertUnchanged(path: string, hash: string, label: string): Promise<void> {
  closeConnections();
  assert.equal(await dbHash(path), hash, `${label} changed the database`);
}

// ---------------------------------------------------------------------------
// params and results that are not JSON

const cyclic: Record<string, unknown> = { a: 1 };
cyclic.self = cyclic;

/** Values JSON cannot hold, at the top level of params, and how the error names them. */
const NOT_JSON: [string, unknown, RegExp][] = [
  ["a function", function frob() {}, /params is function frob/],
  ["a symbol", Symbol("s"), /params is Symbol\(s\)/],
  ["a BigInt", 10n, /params is 10n/],
  ["NaN", NaN, /params is NaN/],
  ["Infinity", Infinity, /params is Infinity/],
  ["-Infinity", -Infinity, /params is -Infinity/],
  ["a cycle", cyclic, /params\.self refers back to itself/],
  ["a symbol key", { [Symbol("k")]: 1 }, /params has a symbol key/],
  ["a typed array", new Uint8Array(2), /params is a Uint8Array/],
  ["a class instance", new (class Point {})(), /params is a Point/],
  ["a nested undefined", { list: [1, { u: undefined }] }, /params\.list\[1\]\.u is undefined/],
];

Deno.test("params that are not JSON are refused by submit, submitMany, task.submit and Workflow, naming the value; a batch with one bad job writes nothing", async () => {
  const db = await seeded();
  const queue = new JobQueue(db.path);
  try {
    for (const [label, params, message] of NOT_JSON) {
      const ways: [string, () => Promise<unknown>][] = [
        ["submit", () => queue.submit(new Job({ task: "echo", params }))],
        ["task.submit", () => echo.submit(queue, params)],
        [
          "submitMany",
          () => queue.submitMany([echo.toJob(1), new Job({ task: "echo", params }), echo.toJob(2)]),
        ],
        ["Workflow", () => {
          const wf = new Workflow("wf");
          const first = wf.addTask(echo, { params: 1 });
          wf.addTask(echo, { params, dependsOn: [first] });
          return wf.submitAll(queue);
        }],
      ];
      for (const [way, fn] of ways) {
        await assertRefused(fn, TypeError, message, `${way} of ${label}`);
        assert.match(
          await fn().then(() => "", (e: Error) => e.message),
          /allowed: null, boolean, finite number, string, array, plain object/,
        );
      }
    }
    assert.equal((await queue.stats()).total, 1);
  } finally {
    queue.close();
    await assertUnchanged(db.path, db.hash, "refused params");
    await db.cleanup();
  }
});

Deno.test("results that are not JSON fail their job at once, naming the value, and the worker carries on", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  const results: [string, () => unknown, RegExp][] = [
    ["a function", () => () => 1, /result is function/],
    ["a symbol", () => Symbol("r"), /result is Symbol\(r\)/],
    ["a cycle", () => cyclic, /result\.self refers back to itself/],
    ["NaN", () => NaN, /result is NaN/],
    ["Infinity inside", () => ({ x: [Infinity] }), /result\.x\[0\] is Infinity/],
    ["undefined inside", () => ({ u: undefined }), /result\.u is undefined/],
    ["a Date", () => new Date(0), /result is Date\(1970-01-01T00:00:00\.000Z\)/],
    ["a Map", () => new Map(), /result is a Map/],
    ["a promise of BigInt", () => Promise.resolve(5n), /result is 5n/],
    ["too big", () => "x".repeat(200), /result is 202 bytes of JSON, over the limit of 100 bytes/],
  ];
  let calls = 0;
  const tasks = results.map(([label, make]) =>
    task(`bad ${label}`, () => {
      calls++;
      return make();
    }, { maxAttempts: 3 })
  );
  const worker = new Worker(db.path, {
    tasks: [...tasks, echo],
    maxPayloadBytes: 100,
    logger: quiet,
  });
  try {
    for (const [i, [label, , message]] of results.entries()) {
      const bad = await tasks[i].submit(queue, {});
      const good = await echo.submit(queue, label);
      assert.equal(await worker.processOne(), true);
      assert.equal(await worker.processOne(), true);
      const job = await queue.getStatus(bad);
      assert.equal(job?.status, "failed", label);
      assert.equal(job?.attempts, 1, `${label}: a bad result is not retried`);
      assert.match(job!.error!, message, label);
      assert.match(job!.error!, new RegExp(`Task "bad ${label}" returned a bad result`), label);
      assert.equal(await queue.getResult(good), label, `${label}: the next job still runs`);
    }
    assert.equal(calls, results.length);
  } finally {
    worker.close();
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("maxPayloadBytes: the limit is exact, and a bad limit is refused naming the value by JobQueue, Worker and WorkerPool", async () => {
  const db = await seeded();
  try {
    const queue = new JobQueue(db.path, { maxPayloadBytes: 20 });
    // {"s":"x..."} is 8 bytes of JSON around the string.
    await assertRefused(
      () => echo.submit(queue, { s: "x".repeat(13) }),
      RangeError,
      /params is 21 bytes of JSON, over the limit of 20 bytes \(the maxPayloadBytes option\)/,
      "one byte over",
    );
    await echo.submit(queue, { s: "x".repeat(12) }); // exactly 20 bytes
    queue.close();
    const bad: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
      [0, RangeError, /maxPayloadBytes must be a whole number from 2 to 1073741824, got 0/],
      [1, RangeError, /got 1$/],
      [-5, RangeError, /got -5$/],
      [1.5, RangeError, /got 1\.5$/],
      [NaN, RangeError, /got NaN$/],
      [Infinity, RangeError, /got Infinity$/],
      [2 ** 31, RangeError, /got 2147483648$/],
      ["1000", TypeError, /got "1000"$/],
    ];
    for (const [value, kind, message] of bad) {
      const options = { maxPayloadBytes: value as number };
      await assertRefused(() => new JobQueue(db.path, options), kind, message, `JobQueue ${value}`);
      await assertRefused(
        () => new Worker(db.path, { tasks: [echo], ...options }),
        kind,
        message,
        `Worker ${value}`,
      );
      await assertRefused(
        () => new WorkerPool(db.path, { tasks: [TASKS], ...options }),
        kind,
        message,
        `WorkerPool ${value}`,
      );
    }
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

// ---------------------------------------------------------------------------
// options

Deno.test("invalid job options are refused by Job, task(), toJob() and submit, naming the value, before anything is written", async () => {
  const db = await seeded();
  const queue = new JobQueue(db.path);
  // deno-lint-ignore no-explicit-any
  type Any = any;
  const cases: [Record<string, Any>, RegExp][] = [
    [{ maxAttempts: 0 }, /maxAttempts must be a whole number from 1 to 1000000, got 0/],
    [{ maxAttempts: -1 }, /maxAttempts .* got -1/],
    [{ maxAttempts: 2.5 }, /maxAttempts .* got 2\.5/],
    [{ maxAttempts: NaN }, /maxAttempts .* got NaN/],
    [{ maxAttempts: "3" }, /maxAttempts .* got "3"/],
    [{ maxAttempts: 1_000_001 }, /maxAttempts .* got 1000001/],
    [{ timeout: 0 }, /timeout must be a number of seconds > 0 and <= 2147483, got 0/],
    [{ timeout: -1 }, /timeout .* got -1/],
    [{ timeout: NaN }, /timeout .* got NaN/],
    [{ timeout: Infinity }, /timeout .* got Infinity/],
    [{ timeout: 2_147_484 }, /timeout .* got 2147484/],
    [{ timeout: "300" }, /timeout .* got "300"/],
    [
      { priority: 2 ** 31 },
      /priority must be a whole number from -2147483648 to 2147483647, got 2147483648/,
    ],
    [{ priority: -(2 ** 31) - 1 }, /priority .* got -2147483649/],
    [{ priority: 0.5 }, /priority .* got 0\.5/],
    [{ priority: 1n }, /priority .* got 1n/],
    [{ retryDelay: -1 }, /retryDelay must be a number of seconds >= 0 .* got -1/],
    [{ retryDelay: NaN }, /retryDelay .* got NaN/],
    [{ backoff: "linear" }, /backoff must be one of "fixed", "exponential", got "linear"/],
    [{ description: 42 }, /description must be a string, got 42/],
    [{ description: "x".repeat(10_001) }, /description must be at most 10000 characters/],
    [{ name: "" }, /name must not be empty, got ""/],
    [{ name: "   " }, /name must not be empty, got " {3}"/],
    [{ name: 42 }, /name must be a string, got 42/],
    // node:sqlite reads text up to a NUL: "a\0b" would come back as "a".
    [{ name: "a\0b" }, /name must not contain a NUL character \(\\u0000\), got "a\\u0000b"/],
    [{ description: "\0" }, /description must not contain a NUL character/],
    [{ dependencies: "abc" }, /dependencies must be an array of jobs or job ids, got "abc"/],
    [{ dependencies: [42] }, /dependencies\[0\] must be a job or a job id, got 42/],
    [{ dependencies: [""] }, /dependencies\[0\] must be a job or a job id, got ""/],
    [
      { runAt: "tomorrow" },
      /runAt must be a valid Date, ISO 8601 string or epoch milliseconds, got "tomorrow"/,
    ],
    [{ runAt: new Date("x") }, /runAt .* got Date\(invalid\)/],
    [{ runAt: NaN }, /runAt .* got NaN/],
    [{ runAt: {} }, /runAt .* got an object/],
    [{ maxAttempt: 3 }, /unknown option "maxAttempt"/],
  ];
  try {
    for (const [options, message] of cases) {
      const label = JSON.stringify(options, (_k, v) => typeof v === "bigint" ? `${v}n` : v);
      const kinds = [TypeError, RangeError];
      await assertRefused(
        () => new Job({ task: "echo", ...options }),
        kinds,
        message,
        `Job ${label}`,
      );
      await assertRefused(() => echo.toJob(1, options), kinds, message, `toJob ${label}`);
      await assertRefused(() => echo.submit(queue, 1, options), kinds, message, `submit ${label}`);
      if (!("name" in options || "dependencies" in options || "runAt" in options)) {
        await assertRefused(() => task("t", () => 1, options), kinds, message, `task ${label}`);
      }
    }
    const tasks: [Any, RegExp][] = [
      ["", /task must not be empty, got ""/],
      [42, /task must be a task from task\(\) or a task name, got 42/],
      [null, /task must be a task from task\(\) or a task name, got null/],
    ];
    for (const [t, message] of tasks) {
      await assertRefused(
        () => new Job({ task: t }),
        [TypeError, RangeError],
        message,
        `task ${t}`,
      );
    }
    await assertRefused(() => task("", () => 1), RangeError, /name must not be empty/, "task('')");
    await assertRefused(
      () => task("t", 42 as Any),
      TypeError,
      /handler must be a function, got 42/,
      "task handler",
    );
    await assertRefused(
      () => new Job({ task: "echo", module: "" }),
      RangeError,
      /module must not be empty/,
      "module",
    );
    for (
      const [label, fn] of [
        ["task name", () => new Job({ task: "t\0" })],
        ["task()", () => task("t\0", () => 1)],
        ["module", () => new Job({ task: "echo", module: "./m.ts\0" })],
        ["workerId", () => new Worker(db.path, { tasks: [echo], workerId: "w\0" })],
      ] as const
    ) {
      await assertRefused(fn, RangeError, /must not contain a NUL character/, label);
    }
  } finally {
    queue.close();
    await assertUnchanged(db.path, db.hash, "refused options");
    await db.cleanup();
  }
});

// ---------------------------------------------------------------------------
// statuses

Deno.test("an unknown status is refused by listJobs and the CLI, naming it, and changes nothing", async () => {
  const db = await seeded();
  const queue = new JobQueue(db.path);
  try {
    const bad = ["PENDING", "done", " pending", "pending ", "pending' OR '1'='1", "x\n"];
    for (const status of bad) {
      await assertRefused(
        // deno-lint-ignore no-explicit-any
        () => queue.listJobs({ status: status as any }),
        RangeError,
        new RegExp(
          `Invalid status ${
            JSON.stringify(status).replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")
          }: allowed are pending, running, completed, failed, cancelled, timeout`,
        ),
        `listJobs ${status}`,
      );
      const r = await cli(["--db", db.path, "list", "--status", status]);
      assertOneLine(r, 2, /Invalid status .*: allowed are pending, running/, `list ${status}`);
    }
    await assertRefused(
      // deno-lint-ignore no-explicit-any
      () => queue.listJobs({ status: 1 as any }),
      RangeError,
      /Invalid status 1:/,
      "a number",
    );
  } finally {
    queue.close();
    await assertUnchanged(db.path, db.hash, "an unknown status");
    await db.cleanup();
  }
});

// ---------------------------------------------------------------------------
// paths and files

Deno.test("a directory or a missing directory as the database: Worker, WorkerPool and the CLI fail in one line naming the path, creating nothing", async () => {
  const db = await tempDb();
  try {
    const missing = `${db.dir}/no/such/dir/q.db`;
    for (const path of [db.dir, missing]) {
      await assertRefused(
        () => new Worker(path, { tasks: [echo] }),
        SqliteError,
        new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
        `Worker ${path}`,
      );
      const pool = new WorkerPool(path, { tasks: [TASKS], workers: 1, logger: quiet });
      await assertRefused(() => pool.start(), SqliteError, /Cannot open/, `WorkerPool ${path}`);
      await pool.close();
      for (
        const args of [
          ["stats"],
          ["submit", `${TASKS}#echo`],
          ["worker", "--tasks", TASKS, "--once"],
        ]
      ) {
        const r = await cli(["--db", path, ...args]);
        const message = path === db.dir
          ? /is a directory, not a GigQ database/
          : /no GigQ database at|unable to open database file/;
        assertOneLine(r, 1, message, `${args[0]} on ${path}`);
        assert.ok(r.stderr.includes(path), `${args[0]} on ${path}: the path is not named`);
      }
    }
    assert.deepEqual([...Deno.readDirSync(db.dir)], [], "nothing was created");
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("submit --depends-on to a path with no database yet fails naming the dependency, creating nothing", async () => {
  const db = await tempDb();
  try {
    const r = await cli(["--db", db.path, "submit", `${TASKS}#echo`, "--depends-on", "nope"]);
    assertOneLine(
      r,
      1,
      /its dependency "nope" does not exist \(there is no GigQ database at .* yet\)/,
      "submit",
    );
    assert.deepEqual([...Deno.readDirSync(db.dir)], [], "nothing was created");
  } finally {
    await db.cleanup();
  }
});

/**
 * Makes `path` read-only. Root ignores file modes, so for root the file is
 * made immutable (`chattr +i`) instead. Returns how to undo it, or a reason
 * why it cannot be done here.
 */
async function makeReadOnly(path: string): Promise<{ undo: () => Promise<void> } | string> {
  await Deno.chmod(path, 0o444);
  const undoMode = () => Deno.chmod(path, 0o644);
  const writable = () => {
    try {
      Deno.openSync(path, { write: true }).close();
      return true;
    } catch {
      return false;
    }
  };
  if (!writable()) return { undo: undoMode };
  let chattr: Deno.CommandOutput;
  try {
    chattr = await new Deno.Command("chattr", { args: ["+i", path], stderr: "piped" }).output();
  } catch (error) {
    await undoMode();
    return `running as root, where chmod 0444 does not stop writes, and chattr is missing (${
      (error as Error).message
    })`;
  }
  const undo = async () => {
    await new Deno.Command("chattr", { args: ["-i", path] }).output();
    await undoMode();
  };
  if (!chattr.success || writable()) {
    await undo();
    return `running as root, where chmod 0444 does not stop writes, and chattr +i failed (${
      new TextDecoder().decode(chattr.stderr).trim()
    })`;
  }
  return { undo };
}

/** The database file's bytes, and its WAL's (an empty WAL counts as none). */
async function contentHash(path: string): Promise<string> {
  let wal = "";
  try {
    if ((await Deno.stat(`${path}-wal`)).size > 0) wal = await fileHash(`${path}-wal`);
  } catch {
    // no WAL
  }
  return `${await fileHash(path)}/${wal}`;
}

for (const driver of drivers) {
  Deno.test(`[${driver}] a read-only database: reads work, writes fail with one clear error, the bytes stay as they were`, async (t) => {
    const db = await seeded(driver);
    // Checkpoint everything into the main file, so the WAL is not needed.
    inspect(db.path, (d) => d.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    const listed = await cli(["--db", db.path, "--driver", driver, "list", "--json"]);
    const id = JSON.parse(listed.stdout)[0].id;
    const before = await contentHash(db.path);
    const readOnly = await makeReadOnly(db.path);
    if (typeof readOnly === "string") {
      console.log(`skipped: ${readOnly}`);
      await db.cleanup();
      return;
    }
    try {
      await t.step("the API", async () => {
        const queue = new JobQueue(db.path, { driver });
        assert.equal((await queue.stats()).total, 1);
        assert.equal((await queue.getStatus(id))?.status, "pending");
        await assertRefused(
          () => echo.submit(queue, 1),
          SqliteError,
          /readonly database/,
          "submit",
        );
        await assertRefused(() => queue.cancel(id), SqliteError, /readonly database/, "cancel");
        queue.close();
        const worker = new Worker(db.path, { tasks: [echo], driver, logger: quiet });
        await assertRefused(() => worker.processOne(), SqliteError, /readonly/, "processOne");
        worker.close();
        closeConnections();
      });
      await t.step("the CLI", async () => {
        const d = ["--db", db.path, "--driver", driver];
        assert.equal((await cli([...d, "status", id])).code, 0);
        assert.equal((await cli([...d, "stats"])).code, 0);
        for (
          const args of [
            ["submit", `${TASKS}#echo`],
            ["cancel", id],
            ["clear"],
            ["worker", "--tasks", TASKS, "--once"],
          ]
        ) {
          const r = await cli([...d, ...args]);
          assertOneLine(
            r,
            1,
            /cannot write to .*: the file \(or its directory\) is read-only \(SQLite: attempt to write a readonly database\)/,
            args[0],
          );
          assert.ok(r.stderr.includes(db.path), `${args[0]}: the file is not named`);
        }
      });
      assert.equal(await contentHash(db.path), before, "the read-only file changed");
    } finally {
      closeConnections();
      await readOnly.undo();
      await db.cleanup();
    }
  });
}

for (const driver of drivers) {
  Deno.test(`[${driver}] a write to a read-only database names the file in its error`, async () => {
    const db = await seeded(driver);
    const readOnly = await makeReadOnly(db.path);
    if (typeof readOnly === "string") {
      console.log(`skipped: ${readOnly}`);
      await db.cleanup();
      return;
    }
    const said = `Cannot write to ${JSON.stringify(db.path)}: the file (or its directory) is ` +
      `read-only (SQLite: attempt to write a readonly database); SQLite's WAL mode writes the ` +
      `database and creates ${JSON.stringify(`${db.path}-wal`)} and ${
        JSON.stringify(`${db.path}-shm`)
      } beside it, so the file and its directory must both be writable`;
    const exactly = new RegExp(`^${said.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
    try {
      const queue = new JobQueue(db.path, { driver });
      const [id] = (await queue.listJobs()).map((j) => j.id);
      await assertRefused(() => echo.submit(queue, 1), SqliteError, exactly, "submit");
      await assertRefused(() => queue.cancel(id), SqliteError, exactly, "cancel");
      queue.close();
      const worker = new Worker(db.path, { tasks: [echo], driver, logger: quiet });
      await assertRefused(() => worker.processOne(), SqliteError, exactly, "processOne");
      worker.close();
    } finally {
      closeConnections();
      await readOnly.undo();
      await db.cleanup();
    }
  });
}

Deno.test("a file that is not SQLite is refused by getConnection, Worker and WorkerPool, unchanged", async () => {
  const db = await tempDb();
  try {
    const text = `${db.dir}/notes.db`;
    await Deno.writeTextFile(text, "These are my notes, not a database. ".repeat(10));
    for (
      const [path, kind, message] of [
        [text, SqliteError, /not a database/],
      ] as const
    ) {
      const before = await dbHash(path);
      for (const driver of drivers) {
        await assertRefused(() => getConnection(path, { driver }), kind, message, `getConnection`);
        await assertRefused(
          () => new Worker(path, { tasks: [echo], driver }),
          kind,
          message,
          `Worker`,
        );
        const pool = new WorkerPool(path, { tasks: [TASKS], workers: 1, driver, logger: quiet });
        await assertRefused(() => pool.start(), kind, message, `WorkerPool`);
        await pool.close();
        closeConnections();
      }
      assert.equal(await dbHash(path), before, `${path} changed`);
    }
    assert.deepEqual([...Deno.readDirSync(db.dir)].map((e) => e.name).sort(), [
      "notes.db",
    ]);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("a database written by a newer schema is refused by Worker, WorkerPool and every CLI command, unchanged", async () => {
  const db = await tempDb();
  try {
    const raw = new DatabaseSync(db.path);
    raw.exec(`PRAGMA journal_mode = WAL; PRAGMA application_id = ${APPLICATION_ID};
      PRAGMA user_version = ${SCHEMA_VERSION + 1}; CREATE TABLE jobs (x);`);
    raw.close();
    const before = await dbHash(db.path);
    const message = new RegExp(
      `written by a newer GigQ \\(schema version ${SCHEMA_VERSION + 1}; this version ` +
        `understands up to ${SCHEMA_VERSION}\\); upgrade GigQ`,
    );
    await assertRefused(
      () => new Worker(db.path, { tasks: [echo] }),
      SchemaError,
      message,
      "Worker",
    );
    const pool = new WorkerPool(db.path, { tasks: [TASKS], workers: 1, logger: quiet });
    await assertRefused(() => pool.start(), SchemaError, message, "WorkerPool");
    await pool.close();
    for (
      const args of [
        ["stats"],
        ["list"],
        ["status", "x"],
        ["cancel", "x"],
        ["requeue", "x"],
        ["clear"],
        ["why", "x"],
        ["submit", `${TASKS}#echo`],
        ["worker", "--tasks", TASKS, "--once"],
      ]
    ) {
      assertOneLine(await cli(["--db", db.path, ...args]), 1, message, args[0]);
    }
    assert.equal(await dbHash(db.path), before);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("paths with spaces, quotes, '#' and non-ASCII characters work end to end: database and task module, API and CLI", async () => {
  const db = await tempDb();
  try {
    const dir = `${db.dir}/my queue ✓ "d" 'q' é`;
    await Deno.mkdir(dir);
    const path = `${dir}/jobs #1 ☃.db`;
    const module = `${dir}/tâches #1 'x'.ts`;
    await Deno.writeTextFile(
      module,
      `import { task } from ${JSON.stringify(`${REPO}/mod.ts`)};\n` +
        `export const shout = task("shout", (p: { s: string }) => p.s.toUpperCase());\n`,
    );
    const submitted = await cli([
      "--db",
      path,
      "submit",
      `${module}#shout`,
      "-p",
      "s=ünï",
      "--json",
    ]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = JSON.parse(submitted.stdout).id;
    const worked = await cli(["--db", path, "worker", "--tasks", module, "--once", "--json"]);
    assert.equal(worked.code, 0, worked.stderr);
    assert.equal(JSON.parse(worked.stdout).outcome, "completed");
    const status = JSON.parse((await cli(["--db", path, "status", id, "--json"])).stdout);
    assert.equal(status.result, "ÜNÏ");
    assert.equal(status.module, `${module}#shout`);
    const queue = new JobQueue(path);
    assert.equal(await queue.getResult(id), "ÜNÏ");
    queue.close();
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".db")),
      ["jobs #1 ☃.db"],
    );
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

// ---------------------------------------------------------------------------
// SQL injection

/** Strings that would do damage if any of them reached SQL as text. */
const INJECTIONS = [
  "'); DROP TABLE jobs; --",
  '" OR 1=1 --',
  "x' OR '1'='1",
  "Robert'); DELETE FROM gigq_executions; --",
  "1; UPDATE gigq_jobs SET status = 'completed'",
  "%' ; PRAGMA user_version = 99; --",
];

function assertIntact(path: string, jobs: number): void {
  inspect(path, (d) => {
    assert.equal(integrity(d), "ok");
    assert.equal(Number(scalar(d, "SELECT version FROM gigq_schema")), SCHEMA_VERSION);
    // executions is a view over attempts and jobs since schema 3.
    const tables = d.prepare(
      "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name",
    ).all().map((r) => r.name);
    for (const t of ["gigq_attempts", "gigq_executions", "gigq_jobs", "gigq_workers"]) {
      assert.ok(tables.includes(t), t);
    }
    assert.equal(Number(scalar(d, "SELECT count(*) FROM gigq_jobs")), jobs);
  });
}

Deno.test("SQL injection strings in names, descriptions, params, task names, ids, statuses and worker ids are data, never SQL (API)", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const ids: string[] = [];
    for (const [i, s] of INJECTIONS.entries()) {
      const t = task(s, (p: unknown) => p);
      const id = await t.submit(queue, { [s]: s }, { name: s, description: s });
      ids.push(id);
      const worker = new Worker(db.path, { tasks: [t], workerId: `${s} ${i}`, logger: quiet });
      assert.equal(await worker.processOne(), true);
      worker.close();
      const job = await queue.getStatus(id);
      assert.equal(job?.name, s);
      assert.equal(job?.task, s);
      assert.equal(job?.description, s);
      assert.deepEqual(job?.params, { [s]: s });
      assert.deepEqual(job?.result, { [s]: s });
      assert.equal(job?.status, "completed");
      assert.equal(job?.executions[0].workerId, `${s} ${i}`);
    }
    assertIntact(db.path, INJECTIONS.length);
    closeConnections();
    const before = await dbHash(db.path);
    for (const s of INJECTIONS) {
      assert.equal(await queue.getStatus(s), undefined);
      assert.equal(await queue.cancel(s), false);
      assert.equal(await queue.requeue(s), false);
      await assertRefused(() => queue.getResult(s), JobNotFoundError, /not found/, "getResult");
      await assertRefused(
        () => echo.submit(queue, 1, { dependencies: [s] }),
        JobNotFoundError,
        /its dependency .* does not exist/,
        "dependency",
      );
      await assertRefused(
        () => queue.listJobs({ status: s as JobStatus }),
        RangeError,
        /Invalid status/,
        s,
      );
    }
    await assertUnchanged(db.path, before, "injection strings as ids and statuses");
    assert.equal((await queue.stats()).completed, INJECTIONS.length);
  } finally {
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("SQL injection strings in every CLI argument are data, never SQL; the failures change nothing", async () => {
  const db = await tempDb();
  try {
    const d = ["--db", db.path];
    for (const [i, s] of INJECTIONS.entries()) {
      const r = await cli([
        ...d,
        "submit",
        `${TASKS}#echo`,
        "--name",
        s,
        "--description",
        s,
        "-p",
        `k=${s}`,
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const id = JSON.parse(r.stdout).id;
      const w = await cli([...d, "worker", "--tasks", TASKS, "--once", "--worker-id", `${s} ${i}`]);
      assert.equal(w.code, 0, w.stderr);
      const job = JSON.parse((await cli([...d, "status", id, "--json"])).stdout);
      assert.equal(job.name, s);
      assert.equal(job.description, s);
      assert.deepEqual(job.result, { k: s });
      assert.equal(job.executions[0].workerId, `${s} ${i}`);
    }
    assertIntact(db.path, INJECTIONS.length);
    // A module whose file name is an injection string is just a file name.
    const odd = `${db.dir}/x'); DROP TABLE jobs; --.ts`;
    await Deno.writeTextFile(
      odd,
      `import { task } from ${JSON.stringify(`${REPO}/mod.ts`)};\n` +
        `export const echo = task("echo", (p: unknown) => p);\n`,
    );
    const viaOdd = await cli([...d, "submit", `${odd}#echo`, "--json"]);
    assert.equal(viaOdd.code, 0, viaOdd.stderr);
    assert.equal(
      JSON.parse((await cli([...d, "status", JSON.parse(viaOdd.stdout).id, "--json"])).stdout)
        .module,
      `${odd}#echo`,
    );
    const before = await dbHash(db.path);
    for (const s of INJECTIONS) {
      for (const command of ["status", "cancel", "requeue", "why"]) {
        assertOneLine(await cli([...d, command, s]), 1, /not found/, `${command} ${s}`);
      }
      assertOneLine(await cli([...d, "list", "--status", s]), 2, /Invalid status/, `list ${s}`);
      assertOneLine(
        await cli([...d, "submit", `${TASKS}#echo`, "--depends-on", s]),
        1,
        /does not exist/,
        `--depends-on ${s}`,
      );
      assertOneLine(
        await cli([...d, "submit", `./${s}.ts#echo`]),
        1,
        /cannot import/,
        `module ${s}`,
      );
      assertOneLine(
        await cli([...d, "submit", `${TASKS}#${s}`]),
        2,
        /has no export/,
        `export ${s}`,
      );
      assertOneLine(
        await cli([...d, "worker", "--tasks", `./${s}.ts`, "--once"]),
        1,
        /cannot import/,
        `--tasks ${s}`,
      );
    }
    await assertUnchanged(db.path, before, "injection strings in failing commands");
    assertIntact(db.path, INJECTIONS.length + 1);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});
