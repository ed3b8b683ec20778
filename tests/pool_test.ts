import assert from "node:assert/strict";
import {
  getConnection,
  type JobInfo,
  JobQueue,
  WorkerPool,
  type WorkerPoolOptions,
} from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { drivers, driverTest, tempDb, until } from "./_helpers.ts";
import { hog, noop, sleep, spin, stall, vanish } from "./_tasks.ts";

const tasks = [new URL("./_tasks.ts", import.meta.url)];
const quiet = () => {};

async function runScript(script: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // The process must end by itself; a generous limit turns a hang into a failure.
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

for (const driver of drivers) {
  Deno.test(`[${driver}] 2,000 jobs through a 4-worker pool complete exactly once, and the process exits by itself`, async () => {
    const db = await tempDb();
    try {
      const result = await runScript("./_pool_run.ts", [driver, db.dir, "2000", "4"]);
      assert.deepEqual(result, {
        counts: {
          processed: 2000,
          completed: 2000,
          failed: 0,
          timedOut: 0,
          inFlight: 0,
          abandoned: 0,
        },
        workersLeft: 0,
        running: false,
        connections: 0,
        fds: 0,
      });
      const conn = getConnection(`${db.dir}/pool.db`, { driver });
      assert.deepEqual(
        conn.prepare("SELECT count(*), count(DISTINCT job) FROM gigq_executions").values(),
        [[2000, 2000]],
      );
      assert.deepEqual(
        conn.prepare("SELECT status, count(*) FROM gigq_jobs GROUP BY status").values(),
        [
          ["completed", 2000],
        ],
      );
      const workers = conn.prepare("SELECT count(*), count(stopped_at) FROM gigq_workers").values();
      assert.deepEqual(workers, [[4, 4]], "every Web Worker recorded its stop");
    } finally {
      const { closeConnections } = await import("../mod.ts");
      closeConnections();
      await db.cleanup();
    }
  });
}

Deno.test("200 start/stop cycles of a 2-worker pool (ffi) leave the open file count where it was", async () => {
  const db = await tempDb();
  try {
    const r = await runScript("./_pool_fd_check.ts", ["cycles", "200", db.dir]);
    assert.equal(r.n, 200);
    assert.equal(r.end, r.start, JSON.stringify(r));
  } finally {
    await db.cleanup();
  }
});

Deno.test("200 Web Workers holding FFI handles killed and replaced leave the open file count where it was", async () => {
  const db = await tempDb();
  try {
    const r = await runScript("./_pool_fd_check.ts", ["kills", "200", db.dir]);
    assert.equal(r.kills, 200);
    assert.equal(r.end, r.start, JSON.stringify(r));
  } finally {
    await db.cleanup();
  }
});

driverTest(
  "a pool in another process finishes the job of a worker process killed with SIGKILL, once, within the lease",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    // The first attempt outlasts any slowness of the machine: it is killed.
    const id = await stall.submit(queue, { first: 600_000, then: 1000, n: 7 });
    const lease = 2;
    const doomed = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_pool_hold.ts", import.meta.url).pathname,
        driver,
        path,
        String(lease),
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let pool: WorkerPool | undefined;
    try {
      // Within a deadline, and saying where the job got to if it is missed.
      const reach = async (what: string, ok: (job: JobInfo | undefined) => boolean) => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const job = await queue.getStatus(id);
          if (ok(job)) return;
          if (Date.now() > deadline) {
            throw new Error(`the job never got ${what}: ${JSON.stringify(job)}`);
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await reach("running", (job) => job?.status === "running");
      // The rescuing pool runs (idle) in this process before the kill.
      pool = new WorkerPool(path, { tasks, workers: 2, driver, lease, logger: quiet });
      const done = pool.start();
      await pool.ready;
      // Kill it mid-job: its first attempt is running and would for 10 minutes.
      doomed.kill("SIGKILL");
      await doomed.status;
      const killedAt = Date.now();
      await reach(
        "taken by the other pool",
        (job) => job?.status !== "pending" && job?.workerId !== "doomed",
      );
      const recoveredIn = Date.now() - killedAt;
      await reach("completed", (job) => job?.status === "completed");
      await pool.stop();
      await done;
      // Taken back once its lease (renewed up to the kill) ran out; the margin
      // is for a loaded 2-core machine, not for GigQ.
      assert.ok(
        recoveredIn < lease * 1000 + 2500,
        `recovered in ${recoveredIn} ms (lease ${lease} s)`,
      );
      const job = await queue.getStatus(id);
      assert.equal(job?.result, 7);
      assert.deepEqual(job?.executions.map((e) => [e.workerId, e.status]), [
        ["doomed", "timeout"],
        [job!.executions[1].workerId, "completed"],
      ]);
      assert.match(job!.executions[0].error!, /doomed stopped renewing its lease/);
      assert.notEqual(job!.executions[1].workerId, "doomed");
    } finally {
      try {
        doomed.kill("SIGKILL");
      } catch { /* already dead */ }
      await pool?.close();
      queue.close();
    }
  },
);

driverTest(
  "a while (true) handler is ended by terminating its Web Worker; 100 other jobs complete",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const stuck = await spin.submit(queue, {});
    const others = await queue.submitMany(Array.from({ length: 100 }, (_, n) => noop.toJob({ n })));
    const lines: string[] = [];
    const pool = new WorkerPool(path, {
      tasks,
      workers: 2,
      driver,
      lease: 1,
      timeoutGrace: 0.3,
      logger: (level, message) => lines.push(`${level}: ${message}`),
    });
    const done = pool.start();
    try {
      await until(async () => (await queue.getStatus(stuck))?.status === "timeout", 10_000_000);
      await until(async () => (await queue.stats()).completed === 100, 10_000_000);
      const job = await queue.getStatus(stuck);
      // Ended by the pool (which terminated the Web Worker), or — when the
      // machine is so loaded that the other Web Worker looks first — reaped
      // as an attempt past its deadline; either way once, as a timeout.
      assert.match(
        job!.error!,
        /timed out after 0\.2 seconds(; its handler ignored the abort signal| and worker \S+ did not record it)/,
      );
      assert.equal(job?.executions.length, 1);
      for (const id of others.slice(0, 5)) {
        assert.equal(
          (await queue.getStatus(id))?.status,
          "completed",
        );
      }
      await until(() => pool.workerIds.length === 2, 10_000_000);
      assert.ok(
        pool.workerIds.some((w) => w.includes(".")),
        `a replacement runs: ${pool.workerIds}`,
      );
      assert.ok(
        lines.some((l) => /ignores its abort signal; terminated it/.test(l)),
        lines.join("\n"),
      );
    } finally {
      await pool.stop();
      await done;
      queue.close();
    }
  },
);

driverTest(
  "a Web Worker that dies is replaced and its job fails with the reason",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const { die } = await import("./_tasks.ts");
    const id = await die.submit(queue, {});
    const pool = new WorkerPool(path, { tasks, workers: 1, driver, logger: quiet });
    const done = pool.start();
    try {
      await until(async () => (await queue.getStatus(id))?.status === "failed", 10_000_000);
      assert.match(
        (await queue.getStatus(id))!.error!,
        /the pool lost Web Worker pool-[0-9a-f]{8}\b/,
      );
      const after = await noop.submit(queue, { n: 1 });
      await until(async () => (await queue.getStatus(after))?.status === "completed", 10_000_000);
    } finally {
      await pool.stop();
      await done;
      queue.close();
    }
  },
);

/** Resolves with `p`, or rejects once `ms` pass: a hang becomes a failure. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

for (
  const [how, reason] of [["exit", /a handler called Deno\.exit\(3\)/], [
    "close",
    /a handler called self\.close\(\)/,
  ]] as const
) {
  driverTest(
    `a handler that calls ${
      how === "exit" ? "Deno.exit(3)" : "self.close()"
    }: its attempt fails at once with the reason, the job completes on a replacement, the counts include it`,
    async ({ path, driver }) => {
      const queue = new JobQueue(path, { driver });
      const id = await vanish.submit(queue, { how, code: 3 });
      const lines: string[] = [];
      const pool = new WorkerPool(path, {
        tasks,
        workers: 1,
        driver,
        workerId: "gone",
        logger: (level, message) => lines.push(`${level}: ${message}`),
      });
      const done = pool.start();
      try {
        await pool.ready;
        const started = Date.now();
        // Recorded well before the lease (30 s) or timeout + grace (305 s) would.
        await within(
          3000,
          "recording the attempt",
          until(async () => {
            const job = await queue.getStatus(id);
            return job !== undefined && job.executions.length > 0;
          }, 10_000_000),
        );
        const recordedIn = Date.now() - started;
        await within(
          20_000,
          "the retry",
          until(async () => (await queue.getStatus(id))?.status === "completed", 10_000_000),
        );
        const job = await queue.getStatus(id);
        assert.equal(job?.result, "survived");
        assert.deepEqual(job?.executions.map((e) => [e.workerId, e.status]), [
          ["gone", "failed"],
          ["gone.1", "completed"],
        ]);
        assert.match(job!.executions[0].error!, /^Web Worker gone exited \(.*\) while running it$/);
        assert.match(job!.executions[0].error!, reason);
        assert.doesNotMatch(job!.executions[0].error!, /abort signal/);
        assert.ok(recordedIn < 3000, `recorded in ${recordedIn} ms`);
        assert.ok(lines.some((l) => /^warn: Web Worker gone exited/.test(l)), lines.join("\n"));
      } finally {
        await within(10_000, "pool.stop()", pool.stop());
        await done;
        queue.close();
      }
      assert.deepEqual(pool.counts, {
        processed: 2,
        completed: 1,
        failed: 1,
        timedOut: 0,
        inFlight: 0,
        abandoned: 0,
      });
    },
  );
}

driverTest(
  "stop() while a handler's Deno.exit() ends its Web Worker finishes promptly, counting the attempt",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const id = await vanish.submit(queue, { how: "exit" }, { maxAttempts: 1 });
    const pool = new WorkerPool(path, { tasks, workers: 2, driver, logger: quiet });
    const done = pool.start();
    await pool.ready;
    await until(async () => (await queue.getStatus(id))?.status !== "pending", 10_000_000);
    await within(5000, "pool.stop()", pool.stop());
    await within(5000, "start()'s promise", done);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "failed");
    assert.match(
      job!.error!,
      /^Web Worker pool-[0-9a-f]{8}-[01] exited \(a handler called Deno\.exit\(3\) at \S+\) while running it$/,
    );
    assert.deepEqual(pool.counts, {
      processed: 1,
      completed: 0,
      failed: 1,
      timedOut: 0,
      inFlight: 0,
      abandoned: 0,
    });
    assert.equal(pool.workerIds.length, 0);
    queue.close();
  },
);

driverTest(
  "a task module that calls Deno.exit() while loading makes start() reject, naming it",
  async ({ path, driver, dir }) => {
    const mod = `${dir}/exits.ts`;
    await Deno.writeTextFile(mod, "Deno.exit(5);\n");
    const pool = new WorkerPool(path, { tasks: [mod], workers: 1, driver, logger: quiet });
    await within(
      5000,
      "start()",
      assert.rejects(
        () => pool.start(),
        /Web Worker pool-[0-9a-f]{8} exited \(a task module called Deno\.exit\(5\) at \S+\/exits\.ts:1:6\) while loading its task modules$/,
      ),
    );
    assert.equal(pool.running, false);
  },
);

driverTest(
  "processOne runs at most one job on one supervised Web Worker, then closes it",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const pool = new WorkerPool(path, {
      tasks,
      workers: 4,
      driver,
      workerId: "one",
      logger: quiet,
    });
    assert.equal(await pool.processOne(), false);
    const [a, b] = await queue.submitMany([noop.toJob({ n: 1 }), noop.toJob({ n: 2 })]);
    assert.equal(await pool.processOne(), true);
    const first = await queue.getStatus(a);
    assert.deepEqual([first?.status, first?.result, first?.workerId], ["completed", 1, null]);
    assert.equal(first?.executions[0].workerId, "one");
    assert.equal((await queue.getStatus(b))?.status, "pending");
    assert.deepEqual(pool.counts, {
      processed: 1,
      completed: 1,
      failed: 0,
      timedOut: 0,
      inFlight: 0,
      abandoned: 0,
    });
    assert.equal(pool.running, false);
    assert.equal(pool.workerIds.length, 0);
    await queue.cancel(b);
    // A handler that ends its Web Worker: the attempt is counted and recorded, once.
    const gone = await vanish.submit(queue, { how: "exit" });
    assert.equal(await within(10_000, "processOne", pool.processOne()), true);
    const job = await queue.getStatus(gone);
    assert.equal(job?.status, "pending", "retried: it has an attempt left");
    assert.match(
      job!.executions[0].error!,
      /^Web Worker one exited \(a handler called Deno\.exit\(3\) at /,
    );
    assert.deepEqual(pool.counts, {
      processed: 2,
      completed: 1,
      failed: 1,
      timedOut: 0,
      inFlight: 0,
      abandoned: 0,
    });
    assert.equal(await pool.processOne(), true);
    assert.equal((await queue.getStatus(gone))?.result, "survived");
    const running = pool.start();
    await pool.ready;
    await assert.rejects(
      () => pool.processOne(),
      /Cannot call processOne on a worker pool while it runs/,
    );
    await pool.stop();
    await running;
    queue.close();
  },
);

driverTest(
  "a second stop({ grace: 0 }) ends a Web Worker whose CPU-bound handler holds its thread, releasing the job",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    // Deno lets a terminated Web Worker's loop run on to its end: keep it short.
    const id = await hog.submit(queue, { ms: 10_000 });
    const pool = new WorkerPool(path, { tasks, workers: 1, driver, logger: quiet });
    const done = pool.start();
    await until(async () => (await queue.getStatus(id))?.status === "running", 10_000_000);
    const first = pool.stop(); // lets the handler finish: it would take 10 s
    await new Promise((r) => setTimeout(r, 200));
    const hurried = Date.now();
    void pool.stop({ grace: 0 });
    await within(8000, "the hurried stop", first);
    await done;
    const took = Date.now() - hurried;
    assert.ok(took >= 4500, `terminated after ${took} ms, before its 5 s`);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 0, "released, not counted");
    assert.deepEqual(pool.counts, {
      processed: 0,
      completed: 0,
      failed: 0,
      timedOut: 0,
      inFlight: 0,
      abandoned: 0,
    });
    await queue.cancel(id);
    queue.close();
  },
);

driverTest("stop({ grace }) releases jobs whose handlers outlast it", async ({ path, driver }) => {
  const queue = new JobQueue(path, { driver });
  const id = await sleep.submit(queue, { ms: 60_000 });
  const pool = new WorkerPool(path, { tasks, workers: 1, driver, logger: quiet });
  const done = pool.start();
  await until(async () => (await queue.getStatus(id))?.status === "running", 10_000_000);
  await pool.stop({ grace: 0.2 });
  await done;
  const job = await queue.getStatus(id);
  assert.equal(job?.status, "pending");
  assert.equal(job?.attempts, 0);
  assert.match(job!.error!, /^Released: worker pool-.* stopped before the attempt finished/);
  assert.equal(pool.workerIds.length, 0);
  queue.close();
});

driverTest(
  "a task module that fails to load makes start() reject with its name",
  async ({ path, driver, dir }) => {
    const bad = `${dir}/bad_tasks.ts`;
    await Deno.writeTextFile(bad, "export const x = 1;\n");
    const pool = new WorkerPool(path, { tasks: [bad], workers: 2, driver, logger: quiet });
    await assert.rejects(
      () => pool.start(),
      (e: Error) => e.message.includes("bad_tasks.ts") && /exports no task/.test(e.message),
    );
    assert.equal(pool.running, false);
    assert.equal(pool.workerIds.length, 0);
    const missing = new WorkerPool(path, {
      tasks: [`${dir}/missing.ts`],
      workers: 1,
      driver,
      logger: quiet,
    });
    await assert.rejects(() => missing.start(), /Cannot load tasks from .*missing\.ts/);
  },
);

Deno.test("WorkerPool refuses bad options, naming the value", () => {
  const cases: [Partial<WorkerPoolOptions>, RegExp][] = [
    [{ workers: 0 }, /workers must be a whole number from 1 to 256, got 0/],
    [{ concurrency: -1 }, /concurrency .* got -1/],
    [{ tasks: [] }, /tasks must be a non-empty array/],
    [{ lease: 0 }, /lease .* got 0/],
    [{ timeoutGrace: -1 }, /timeoutGrace .* got -1/],
    // deno-lint-ignore no-explicit-any
    [{ driver: "pg" as any }, /unknown driver "pg"/],
    // deno-lint-ignore no-explicit-any
    [{ wrkers: 2 } as any, /unknown option "wrkers"/],
    [{ queues: [] }, /queues must be a non-empty array of queue names/],
    [{ queues: ["ok", ""] }, /queues\[1\] must be a queue name of 1 to 128 characters/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new WorkerPool("jobs.db", { tasks, ...options }), message);
  }
  assert.throws(() => new WorkerPool(":memory:", { tasks }), /Web Workers need a database file/);
});

backendTest(
  "a pool serves only its queues: its Web Workers claim from them, in start() and processOne()",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    // Older and of higher priority: a pool that served every queue would take these first.
    const skipped = await queue.submitMany(
      Array.from({ length: 5 }, (_, n) => noop.toJob({ n }, { queue: "b", priority: 10 })),
    );
    const served = await queue.submitMany([
      ...Array.from({ length: 5 }, (_, n) => noop.toJob({ n }, { queue: "a" })),
      ...Array.from({ length: 5 }, (_, n) => noop.toJob({ n }, { queue: "c" })),
    ]);
    const pool = new WorkerPool(target, {
      ...options,
      tasks,
      workers: 2,
      pollInterval: 0.05,
      queues: ["a", "c"],
      logger: quiet,
    });
    const done = pool.start();
    await until(async () => (await queue.stats()).completed >= 10, 10_000_000);
    await pool.stop();
    await done;
    await pool.close();
    const status = async (ids: string[]) =>
      await Promise.all(ids.map(async (id) => (await queue.getStatus(id))?.status));
    assert.deepEqual(await status(served), Array(10).fill("completed"));
    assert.deepEqual(await status(skipped), Array(5).fill("pending"));
    const late = await noop.submit(queue, { n: 99 }, { queue: "c" });
    const once = new WorkerPool(target, {
      ...options,
      tasks,
      workers: 1,
      queues: ["c"],
      logger: quiet,
    });
    assert.equal(await once.processOne(), true);
    assert.equal(await once.processOne(), false, "nothing is left in c");
    await once.close();
    assert.equal((await queue.getStatus(late))?.status, "completed");
    assert.deepEqual(await status(skipped), Array(5).fill("pending"));
    queue.close();
  },
);
