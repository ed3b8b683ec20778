/** The CLI as users run it: `deno task gigq …` and `deno task worker …` in a subprocess. */
import assert from "node:assert/strict";
import { closeConnections, JobQueue } from "../../mod.ts";
import { REPEAT_MS } from "../../src/cli/worker.ts";
import { tempDb } from "../_helpers.ts";

const REPO = new URL("../..", import.meta.url).pathname;

/** Runs `deno task <args>` from the repository root; resolves to code and output. */
async function task(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Starts `deno task worker …` and waits for its "started" log line. */
async function startWorker(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "worker", ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  while (!/info worker \S+ started/.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the worker ended before it started: ${stderr}`);
    stderr += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return stderr;
      stderr += value;
    }
  })();
  return { child, stderr: () => rest };
}

async function waitForStatus(queue: JobQueue, id: string, status: string): Promise<void> {
  const end = Date.now() + 15_000;
  while ((await queue.getStatus(id))?.status !== status) {
    if (Date.now() > end) throw new Error(`job ${id} never became ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("deno task gigq: submit → worker --once → status --json → stats --json", async () => {
  const db = await tempDb();
  try {
    const env = { GIGQ_DB: db.path };
    const submitted = await task(
      ["gigq", "submit", "./examples/tasks.ts#greet", "-p", "name=Ada"],
      env,
    );
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = submitted.stdout.match(/^Job submitted: (\S+)\n$/)?.[1];
    assert.ok(id, submitted.stdout);

    const worked = await task(["worker", "--tasks", "./examples/tasks.ts", "--once"], env);
    assert.equal(worked.code, 0, worked.stderr);
    assert.equal(worked.stdout, "Processed one job (completed).\n");

    const status = await task(["gigq", "status", id, "--json"], env);
    assert.equal(status.code, 0, status.stderr);
    const job = JSON.parse(status.stdout);
    assert.equal(job.id, id);
    assert.equal(job.status, "completed");
    assert.equal(job.result, "Hello, Ada!");
    assert.equal(job.module, "./examples/tasks.ts#greet");
    assert.equal(job.description, "Say hello");
    assert.equal(job.executions.length, 1);

    // --db (after the command) instead of GIGQ_DB.
    const stats = await task(["gigq", "stats", "--json", "--db", db.path]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.deepEqual(JSON.parse(stats.stdout), {
      pending: 0,
      running: 0,
      completed: 1,
      failed: 0,
      cancelled: 0,
      timeout: 0,
      total: 1,
    });
  } finally {
    await db.cleanup();
  }
});

Deno.test("deno task gigq: errors are one line and exit 2 or 1; --help exits 0", async () => {
  const db = await tempDb();
  try {
    const env = { GIGQ_DB: db.path };
    const usage = await task(["gigq", "submit", "greet"], env);
    assert.equal(usage.code, 2);
    assert.equal(
      usage.stderr.split("\n").filter((l) => l.startsWith("gigq")).join("\n"),
      'gigq submit: expected <module>#<export>, for example ./tasks.ts#greet, got "greet"',
    );
    const missing = await task(["gigq", "stats"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\ngigq stats: no GigQ database at .*\n$/);
    assert.deepEqual([...Deno.readDirSync(db.dir)], []);
    const help = await task(["gigq", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: gigq \[--db PATH\|URL\] <command> \[options\]$/m);
    // The tasks grant no FFI permission: --driver ffi says what is missing, in one line.
    await task(["gigq", "submit", "./examples/tasks.ts#greet"], env);
    const ffi = await task(["gigq", "--driver", "ffi", "stats"], env);
    assert.equal(ffi.code, 1);
    assert.match(ffi.stderr, /\ngigq stats: [^\n]*needs --allow-ffi[^\n]*\n$/);
  } finally {
    await db.cleanup();
  }
});

Deno.test("deno task worker: SIGTERM lets the job in flight finish and exits 0", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const { child, stderr } = await startWorker(
      ["--tasks", "./examples/tasks.ts", "--polling-interval", "0.1"],
      { GIGQ_DB: db.path },
    );
    const id = await queue.submit(
      (await import("../../examples/tasks.ts")).sleep.toJob({ ms: 1500 }),
    );
    await waitForStatus(queue, id, "running");
    child.kill("SIGTERM");
    const [status, out] = await Promise.all([child.status, new Response(child.stdout).text()]);
    assert.equal(status.code, 0, await stderr());
    assert.equal((await queue.getStatus(id))?.status, "completed");
    assert.match(out, /stopped: 1 processed \(1 completed, 0 failed, 0 timed out\)\.\n$/);
    assert.match(await stderr(), /note SIGTERM: stopping after 1 job in flight/);
  } finally {
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("deno task worker: a second SIGINT releases the job in flight and exits 130", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const { child, stderr } = await startWorker(
      ["--tasks", "./examples/tasks.ts", "--polling-interval", "0.1"],
      { GIGQ_DB: db.path },
    );
    const id = await queue.submit(
      (await import("../../examples/tasks.ts")).sleep.toJob({ ms: 30_000 }),
    );
    await waitForStatus(queue, id, "running");
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, REPEAT_MS + 200)); // a later SIGINT, not a duplicate
    child.kill("SIGINT");
    const status = await child.status;
    await child.stdout.cancel();
    assert.equal(status.code, 130, await stderr());
    // Released at once, not left for its lease: another worker can take it now.
    assert.equal((await queue.getStatus(id))?.status, "pending");
  } finally {
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("deno task worker --workers 2: SIGTERM lets the jobs in flight in the pool finish and exits 0", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const { sleep } = await import("../../examples/tasks.ts");
    const ids = await queue.submitMany(Array.from({ length: 6 }, () => sleep.toJob({ ms: 700 })));
    const { child, stderr } = await startWorker(
      ["--tasks", "./examples/tasks.ts", "--workers", "2", "--polling-interval", "0.1"],
      { GIGQ_DB: db.path },
    );
    let running: string[] = [];
    const deadline = Date.now() + 30_000;
    while (running.length < 2) {
      assert.ok(Date.now() < deadline, "the pool never ran two jobs at once");
      running = (await queue.listJobs({ status: "running" })).map((j) => j.id);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGTERM");
    const [status, out] = await Promise.all([child.status, new Response(child.stdout).text()]);
    assert.equal(status.code, 0, await stderr());
    for (const id of running) assert.equal((await queue.getStatus(id))?.status, "completed");
    const stats = await queue.stats();
    assert.equal(stats.running, 0);
    assert.equal(stats.completed + stats.pending, ids.length);
    assert.match(out, /^Pool of 2 stopped: \d+ processed/m);
    assert.match(await stderr(), /note SIGTERM: stopping/);
  } finally {
    queue.close();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("the worker needs only --allow-read --allow-write --allow-env; --allow-sys=hostname names the host", async () => {
  const db = await tempDb();
  try {
    const run = async (flags: string[], id: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...flags,
          "src/cli/main.ts",
          "worker",
          "--tasks",
          "./examples/tasks.ts",
          "--once",
          "--worker-id",
          id,
        ],
        cwd: REPO,
        env: { NO_COLOR: "1", GIGQ_DB: db.path },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    await run(["--allow-read", "--allow-write", "--allow-env"], "no-sys");
    await run(["--allow-read", "--allow-write", "--allow-env", "--allow-sys=hostname"], "sys");
    const { getConnection } = await import("../../mod.ts");
    const rows = getConnection(db.path).prepare("SELECT id, host FROM gigq_workers ORDER BY id")
      .all();
    assert.deepEqual(rows.map((r) => ({ ...r })), [
      { id: "no-sys", host: "unknown" },
      { id: "sys", host: Deno.hostname() },
    ]);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

const hasScript = Deno.build.os === "linux" &&
  (await new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" }).output()
    .then((o) => o.success, () => false));

Deno.test({
  name: "Ctrl-C in a terminal running deno task worker stops it gracefully (exit 0)",
  // util-linux `script` gives the worker a terminal; elsewhere this test is skipped.
  ignore: !hasScript,
  async fn() {
    const db = await tempDb();
    const queue = new JobQueue(db.path);
    try {
      const id = await queue.submit(
        (await import("../../examples/tasks.ts")).sleep.toJob({ ms: 1500 }),
      );
      // `exec`: no shell between the terminal and deno task. A non-interactive
      // shell (dash, when SHELL is unset) would itself die of the Ctrl-C and
      // report 130 whatever the worker returned.
      const command = `exec "${Deno.execPath()}" task worker --tasks ./examples/tasks.ts ` +
        `--polling-interval 0.1`;
      const child = new Deno.Command("script", {
        args: ["-qfec", command, "/dev/null"],
        cwd: REPO,
        env: { NO_COLOR: "1", GIGQ_DB: db.path },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = new Response(child.stdout).text();
      await waitForStatus(queue, id, "running");
      // The terminal sends SIGINT to the whole process group; deno task forwards its copy too.
      const writer = child.stdin.getWriter();
      await writer.write(new Uint8Array([3]));
      const status = await child.status;
      await writer.close().catch(() => {});
      await child.stderr.cancel();
      const text = await output;
      assert.equal(status.code, 0, text);
      assert.equal((await queue.getStatus(id))?.status, "completed");
      assert.match(text, /note SIGINT: stopping after 1 job in flight/);
      assert.doesNotMatch(text, /note SIGINT again/);
      assert.match(text, /stopped: 1 processed \(1 completed, 0 failed, 0 timed out\)\./);
    } finally {
      queue.close();
      closeConnections();
      await db.cleanup();
    }
  },
});
