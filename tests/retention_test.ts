/**
 * Retention: running workers delete ended jobs once their queue's
 * keepCompleted / keepFailed has passed (7 and 30 days by default), in
 * batches, never a job another job still depends on; on every backend.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_KEEP_COMPLETED,
  DEFAULT_KEEP_FAILED,
  getConnection,
  Job,
  JobQueue,
  task,
  Worker,
  type WorkerOptions,
  WorkerPool,
} from "../mod.ts";
import { backendSpec, openBackend } from "../src/_open_backend.ts";
import { type BackendContext, backendTest, withPostgres } from "./_backends.ts";
import { FakeClock, settle, until } from "./_helpers.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The longest a worker's first round of pruning waits, with the default pruneInterval (60 s). */
const ROUND = 90_000;

const echo = task("echo", (p: unknown) => p);
const boom = task("boom", () => {
  throw new Error("boom");
}, { maxAttempts: 1 });
/** Returns its parents' results, by id. */
const gather = task("gather", (_p: unknown, ctx) => ({ ...ctx.parentResults }));

function setup(ctx: BackendContext) {
  const clock = new FakeClock();
  const queue = new JobQueue(ctx.target, { ...ctx.options, clock });
  /** Runs the ready jobs of `tasks` now (a worker that does not prune: processOne never does). */
  const run = async (n = 1, tasks = [echo, boom, gather]) => {
    const w = new Worker(ctx.target, { ...ctx.options, tasks, clock, logger: () => {} });
    for (let i = 0; i < n; i++) assert.equal(await w.processOne(), true);
    w.close();
  };
  /**
   * Starts a worker, lets one interval of the clock pass (firing its first
   * round of pruning), waits for the round to end and stops the worker.
   * Returns the worker's log lines about pruning.
   */
  const pruneRound = async (options: Partial<WorkerOptions> = {}): Promise<string[]> => {
    const lines: string[] = [];
    const w = new Worker(ctx.target, {
      ...ctx.options,
      tasks: [],
      clock,
      pollInterval: 3600,
      lease: 3600,
      logger: (_level, message) => {
        if (message.includes("prune")) lines.push(message);
        if (message.endsWith(")") && message.includes(" started ")) started = true;
      },
      ...options,
    });
    let started = false;
    const done = w.start();
    await until(() => started);
    await clock.tick(ROUND);
    if (options.prune !== false) await until(() => lines.length > 0);
    w.stop();
    await done;
    w.close();
    return lines;
  };
  const exists = async (id: string) => (await queue.getStatus(id)) !== undefined;
  return { clock, queue, run, pruneRound, exists };
}

/** How many rows a table of the queue has. */
async function rows(ctx: BackendContext, table: string): Promise<number> {
  if (ctx.backend === "postgres") {
    return await withPostgres(ctx.target, async (sql, schema) => {
      const [r] = await sql.unsafe(`SELECT count(*)::int AS n FROM "${schema}".${table}`);
      return Number(r.n);
    });
  }
  return Number(
    getConnection(ctx.target, { driver: ctx.driver }).prepare(`SELECT count(*) FROM ${table}`)
      .values()[0][0],
  );
}

backendTest(
  "a running worker prunes completed jobs older than keepCompleted after its interval, not newer ones",
  async (ctx) => {
    const { clock, queue, run, exists } = setup(ctx);
    await queue.configureQueue("reports", { keepCompleted: 3600 });
    const old = await echo.submit(queue, { n: 1 }, { queue: "reports" });
    await run();
    clock.jump(40 * MINUTE);
    const recent = await echo.submit(queue, { n: 2 }, { queue: "reports" });
    await run();
    clock.jump(20 * MINUTE);
    // Now old ended 60 min ago and recent 20 min ago: neither is past the hour yet.
    const lines: string[] = [];
    const w = new Worker(ctx.target, {
      ...ctx.options,
      tasks: [echo],
      clock,
      pollInterval: 3600,
      lease: 3600,
      logger: (level, message) => {
        if (message.includes("prune")) lines.push(`${level}: ${message}`);
        if (message.includes(" started ")) started = true;
      },
    });
    let started = false;
    const done = w.start();
    await until(() => started);
    await clock.tick(29_000);
    assert.deepEqual(lines, [], "no round before half the interval");
    await clock.tick(ROUND - 29_000);
    await until(() => lines.length > 0);
    assert.equal(await exists(old), false, "ended 61.5 min ago: pruned");
    assert.equal(await exists(recent), true, "ended 21.5 min ago: kept");
    assert.match(lines[0], /^info: worker .*: pruned 1 ended job past/);
    // The next rounds come every interval (give or take half), while the loop runs.
    clock.jump(40 * MINUTE);
    await clock.tick(ROUND);
    await until(() => lines.length > 1);
    assert.equal(await exists(recent), false);
    w.stop();
    await done;
    w.close();
    queue.close();
  },
);

backendTest(
  "failed, timed-out and cancelled jobs are pruned by keepFailed, with their attempts",
  async (ctx) => {
    const { clock, queue, run, pruneRound, exists } = setup(ctx);
    await queue.configureQueue("work", { keepCompleted: 60, keepFailed: 3600 });
    const slow = task("slow", (_p, c) =>
      new Promise((_resolve, reject) => {
        c.signal.addEventListener("abort", () => reject(c.signal.reason));
      }), { timeout: 1, maxAttempts: 1 });
    const completed = await echo.submit(queue, {}, { queue: "work" });
    const failed = await boom.submit(queue, {}, { queue: "work" });
    await run(2);
    const timedOut = await slow.submit(queue, {}, { queue: "work" });
    const w = new Worker(ctx.target, { ...ctx.options, tasks: [slow], clock, logger: () => {} });
    const ran = w.processOne();
    await until(async () => (await queue.getStatus(timedOut))?.status === "running");
    await settle();
    await clock.tick(1000);
    assert.equal(await ran, true);
    w.close();
    const cancelled = await echo.submit(queue, {}, {
      queue: "work",
      runAt: new Date(clock.now() + DAY),
    });
    assert.equal(await queue.cancel(cancelled), true);
    assert.equal((await queue.getStatus(timedOut))?.status, "timeout");
    assert.equal(await rows(ctx, "gigq_attempts"), 2, "the failed and the timed-out attempts");

    // 10 minutes on: past keepCompleted (60 s), not keepFailed (an hour).
    clock.jump(10 * MINUTE);
    await pruneRound();
    assert.equal(await exists(completed), false);
    for (const id of [failed, timedOut, cancelled]) assert.equal(await exists(id), true, id);

    clock.jump(HOUR);
    await pruneRound();
    for (const id of [failed, timedOut, cancelled]) assert.equal(await exists(id), false, id);
    assert.equal(await rows(ctx, "gigq_attempts"), 0, "the attempts went with their jobs");
    assert.equal((await queue.stats()).total, 0);
    queue.close();
  },
);

backendTest(
  "a queue without settings keeps completed jobs 7 days and failed ones 30 days",
  async (ctx) => {
    const { clock, queue, run, pruneRound, exists } = setup(ctx);
    assert.equal(DEFAULT_KEEP_COMPLETED, 7 * 86_400);
    assert.equal(DEFAULT_KEEP_FAILED, 30 * 86_400);
    // 'default' (never configured) and a named queue configured for something else.
    const completed = await echo.submit(queue, {});
    const failed = await boom.submit(queue, {});
    await queue.configureQueue("limited", { concurrency: 2 });
    const named = await echo.submit(queue, {}, { queue: "limited" });
    await run(3);

    clock.jump(7 * DAY - HOUR);
    await pruneRound();
    for (const id of [completed, failed, named]) assert.equal(await exists(id), true);

    clock.jump(2 * HOUR);
    await pruneRound();
    assert.equal(await exists(completed), false);
    assert.equal(await exists(named), false);
    assert.equal(await exists(failed), true);

    clock.jump(23 * DAY - 2 * HOUR);
    await pruneRound();
    assert.equal(await exists(failed), true, "29 days and 23 hours old");
    clock.jump(2 * HOUR);
    await pruneRound();
    assert.equal(await exists(failed), false);
    queue.close();
  },
);

backendTest(
  "Infinity keeps a queue's jobs forever; each queue's settings apply to its own jobs only",
  async (ctx) => {
    const { clock, queue, run, pruneRound, exists } = setup(ctx);
    await queue.configureQueue("audit", { keepCompleted: Infinity, keepFailed: Infinity });
    await queue.configureQueue("short", { keepCompleted: 60 });
    await queue.configureQueue("long", { keepCompleted: 3600 });
    const audit = [
      await echo.submit(queue, {}, { queue: "audit" }),
      await boom.submit(queue, {}, { queue: "audit" }),
    ];
    const short = await echo.submit(queue, {}, { queue: "short" });
    const long = await echo.submit(queue, {}, { queue: "long" });
    const plain = await echo.submit(queue, {});
    await run(5);

    clock.jump(10 * MINUTE);
    await pruneRound();
    assert.equal(await exists(short), false);
    assert.equal(await exists(long), true);
    assert.equal(await exists(plain), true);

    clock.jump(1000 * DAY);
    await pruneRound();
    assert.equal(await exists(long), false);
    assert.equal(await exists(plain), false);
    for (const id of audit) assert.equal(await exists(id), true, "kept forever");
    // Back to the default: pruned by the next round.
    await queue.configureQueue("audit", { keepCompleted: null, keepFailed: null });
    await pruneRound();
    for (const id of audit) assert.equal(await exists(id), false);
    queue.close();
  },
);

backendTest(
  "a completed parent is kept while a child waits for it, which then gets its result; it goes after them",
  async (ctx) => {
    const { clock, queue, run, pruneRound, exists } = setup(ctx);
    const parent = new Job({ task: "echo", params: { from: "parent" } });
    // gate runs in 9 days: blocked waits for it and for parent; delayed runs in 10 days.
    const gate = new Job({ task: "echo", params: {}, runAt: new Date(clock.now() + 9 * DAY) });
    const blocked = new Job({ task: "gather", params: {}, dependencies: [parent, gate] });
    const delayed = new Job({
      task: "gather",
      params: {},
      dependencies: [parent],
      runAt: new Date(clock.now() + 10 * DAY),
    });
    await queue.submitMany([parent, gate, blocked, delayed]);
    await run();
    assert.equal((await queue.getStatus(parent.id))?.status, "completed");

    clock.jump(8 * DAY);
    await pruneRound();
    assert.equal(await exists(parent.id), true, "blocked and delayed still depend on it");

    clock.jump(2 * DAY);
    await run(3); // gate, then blocked and delayed
    for (const child of [blocked, delayed]) {
      const info = await queue.getStatus(child.id);
      assert.equal(info?.status, "completed");
      assert.deepEqual((info?.result as Record<string, unknown>)[parent.id], { from: "parent" });
    }
    assert.equal(await rows(ctx, "gigq_job_deps"), 3);

    // 8 days after the children ended: all of them old enough. A parent
    // goes once no child is left: the round after its children's.
    clock.jump(8 * DAY);
    await pruneRound();
    for (const child of [blocked, delayed]) assert.equal(await exists(child.id), false);
    assert.equal(await rows(ctx, "gigq_job_deps"), 0, "their edges went with them");
    await pruneRound();
    assert.equal(await exists(parent.id), false);
    assert.equal(await exists(gate.id), false);
    queue.close();
  },
);

/** Makes every delete of a job fail (`on`), or lets them through again. */
async function refuseDeletes(ctx: BackendContext, on: boolean): Promise<void> {
  if (ctx.backend === "postgres") {
    await withPostgres(ctx.target, async (sql, schema) => {
      await sql.unsafe(
        on
          ? `CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'deletes refused by the test'; END $$;
            CREATE TRIGGER refuse BEFORE DELETE ON "${schema}".gigq_jobs
              FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse();`
          : `DROP TRIGGER refuse ON "${schema}".gigq_jobs`,
      ).simple();
    });
    return;
  }
  getConnection(ctx.target, { driver: ctx.driver }).exec(
    on
      ? `CREATE TRIGGER refuse BEFORE DELETE ON gigq_jobs
          BEGIN SELECT RAISE(ABORT, 'deletes refused by the test'); END`
      : "DROP TRIGGER refuse",
  );
}

backendTest(
  "a failed round is logged and tried again at the next interval; the worker goes on claiming",
  async (ctx) => {
    const { clock, queue, run, exists } = setup(ctx);
    const old = await echo.submit(queue, {});
    await run();
    clock.jump(8 * DAY);
    await refuseDeletes(ctx, true);
    const lines: string[] = [];
    let started = false;
    const w = new Worker(ctx.target, {
      ...ctx.options,
      tasks: [echo],
      clock,
      pollInterval: 3600,
      lease: 3600,
      logger: (level, message) => {
        if (message.includes("prune")) lines.push(`${level}: ${message}`);
        if (message.includes(" started ")) started = true;
      },
    });
    const done = w.start();
    await until(() => started);
    await clock.tick(ROUND);
    await until(() => lines.length > 0);
    assert.match(lines[0], /^warn: worker .*: could not prune ended jobs: .*deletes refused/);
    assert.equal(w.running, true);
    const next = await echo.submit(queue, { n: 2 });
    await until(async () => (await queue.getStatus(next))?.status === "completed");
    assert.equal(await exists(old), true);
    await refuseDeletes(ctx, false);
    await clock.tick(ROUND);
    await until(() => lines.some((l) => l.startsWith("info:")));
    assert.equal(await exists(old), false);
    w.stop();
    await done;
    w.close();
    queue.close();
  },
);

backendTest("a worker with prune: false prunes nothing", async (ctx) => {
  const { clock, queue, run, pruneRound, exists } = setup(ctx);
  const id = await echo.submit(queue, {});
  await run();
  clock.jump(365 * DAY);
  const lines = await pruneRound({ prune: false });
  await clock.tick(10 * ROUND);
  assert.deepEqual(lines, []);
  assert.equal(await exists(id), true);
  queue.close();
});

backendTest(
  "a round prunes batch after batch until every old job is gone",
  async (ctx) => {
    const { clock, queue, pruneRound } = setup(ctx);
    const jobs = Array.from({ length: 1234 }, (_, n) => new Job({ task: "echo", params: { n } }));
    await queue.submitMany(jobs);
    const w = new Worker(ctx.target, {
      ...ctx.options,
      tasks: [echo],
      clock,
      concurrency: 100,
      prune: false,
      logger: () => {},
    });
    const done = w.start();
    await until(async () => (await queue.stats()).completed === 1234);
    w.stop();
    await done;
    w.close();
    clock.jump(7 * DAY + HOUR);
    const recent = await echo.submit(queue, {});
    const lines = await pruneRound();
    assert.match(lines[0], /pruned 1234 ended jobs/);
    const stats = await queue.stats();
    assert.equal(stats.total, 1);
    assert.equal(stats.pending, 1);
    assert.equal((await queue.getStatus(recent))?.status, "pending");
    queue.close();
  },
);

backendTest(
  "Backend.prune deletes at most `limit` jobs a batch, and ends a round at the first recent job",
  async (ctx) => {
    const { clock, queue, run } = setup(ctx);
    const old = Array.from({ length: 50 }, (_, n) => new Job({ task: "echo", params: { n } }));
    await queue.submitMany(old);
    await run(50);
    clock.jump(8 * DAY);
    await queue.submitMany(Array.from({ length: 3 }, () => new Job({ task: "echo", params: {} })));
    await run(3);
    const backend = openBackend(backendSpec(ctx.target, ctx.options));
    try {
      await backend.open({});
      const batches: number[] = [];
      let after: number | undefined = 0;
      while (after !== undefined) {
        const batch = await backend.prune({ now: clock.now(), limit: 7, after });
        batches.push(batch.deleted);
        if (batch.next !== undefined) assert.ok(batch.next > after);
        after = batch.next;
      }
      assert.ok(batches.every((n) => n <= 7), `batches ${batches}`);
      assert.equal(batches.reduce((a, b) => a + b, 0), 50);
      assert.equal((await queue.stats()).total, 3);
      // Nothing old left: the next round ends at its first call, deleting nothing.
      assert.deepEqual(await backend.prune({ now: clock.now(), limit: 7, after: 0 }), {
        deleted: 0,
        next: undefined,
      });
    } finally {
      backend.close();
    }
    queue.close();
  },
);

backendTest("bad prune options are refused, naming the value", (ctx) => {
  for (
    const make of [
      (o: object) => new Worker(ctx.target, { ...ctx.options, tasks: [], ...o }),
      (o: object) => new WorkerPool(ctx.target, { ...ctx.options, tasks: ["./x.ts"], ...o }),
    ]
  ) {
    assert.throws(() => make({ prune: "yes" }), {
      name: "TypeError",
      message: /prune must be true or false, got "yes"/,
    });
    assert.throws(() => make({ pruneInterval: 0 }), {
      name: "RangeError",
      message: /pruneInterval must be a number of seconds > 0/,
    });
    assert.throws(() => make({ pruneInterval: "60" }), TypeError);
  }
});

backendTest(
  "a WorkerPool prunes from one of its Web Workers",
  async (ctx) => {
    const queue = new JobQueue(ctx.target, ctx.options);
    await queue.configureQueue("default", { keepCompleted: 0 });
    const lines: string[] = [];
    const pool = new WorkerPool(ctx.target, {
      ...ctx.options,
      tasks: [new URL("./_tasks.ts", import.meta.url)],
      workers: 2,
      pruneInterval: 0.05,
      logger: (_level, message) => {
        if (/pruned [1-9]/.test(message)) lines.push(message);
      },
    });
    const done = pool.start();
    await pool.ready;
    await queue.submitMany(
      Array.from({ length: 6 }, (_, n) => new Job({ task: "noop", params: { n } })),
    );
    await until(async () => (await queue.stats()).total === 0);
    await pool.stop();
    await done;
    pool.close();
    assert.ok(lines.length > 0);
    const ids = new Set(lines.map((l) => /worker (\S+):/.exec(l)?.[1]));
    assert.equal(ids.size, 1, lines.join("\n"));
    assert.match([...ids][0]!, /-0$/);
    queue.close();
  },
);
