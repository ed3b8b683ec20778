/**
 * What a dashboard asks of a queue, on every backend: listings filtered by
 * task and search and paged by cursor, capped counts, the workers table,
 * per-minute activity and a job's children.
 */
import assert from "node:assert/strict";
import { type JobInfo, JobNotFoundError, JobQueue, type JobStatus, task, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock, settle, until } from "./_helpers.ts";
import { noop } from "./_tasks.ts";

const quiet = () => {};
const alpha = task("alpha", (p: { user: number; note: string }) => p.user);
const beta = task("beta", (p: { user: number; note: string; fail?: boolean }) => {
  if (p.fail) throw new Error("beta failed on purpose");
  return p.user;
}, { maxAttempts: 1 });

backendTest(
  "a cursor pages through 250 jobs, 100 at a time, each job once, newest first",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const ids = await queue.submitMany(Array.from({ length: 250 }, (_, n) => noop.toJob({ n })));
    const pages: string[][] = [];
    let before: string | undefined;
    for (;;) {
      const page = await queue.listJobs({ limit: 100, before });
      if (page.length === 0) break;
      assert.ok(pages.length < 3, "more pages than jobs allow");
      pages.push(page.map((j) => j.id));
      before = page.at(-1)!.id;
    }
    assert.deepEqual(pages.map((p) => p.length), [100, 100, 50]);
    assert.deepEqual(pages.flat(), ids.toReversed());
    // A job submitted meanwhile does not shift the pages after the first.
    await noop.submit(queue, { n: 999 });
    assert.deepEqual(
      (await queue.listJobs({ limit: 100, before: pages[0].at(-1) })).map((j) => j.id),
      pages[1],
    );
    // The oldest job has nothing before it.
    assert.deepEqual(await queue.listJobs({ before: ids[0] }), []);
    queue.close();
  },
);

/** Jobs of two tasks in two queues, in four statuses (pending ones ready, delayed or blocked). */
async function mixedQueue(target: string, options: object) {
  const clock = new FakeClock();
  const queue = new JobQueue(target, { ...options, clock });
  const submitted: string[] = [];
  for (let i = 0; i < 36; i++) {
    const params = { user: i % 3, note: i % 5 === 0 ? "50% off" : "50x off", fail: i % 4 === 1 };
    const which = i % 2 === 0 ? alpha : beta;
    const opts = {
      queue: i % 3 === 2 ? "q2" : "default",
      // A few delayed (pending, scheduled) and a few waiting for a dependency.
      runAt: i % 9 === 4 ? clock.now() + 3_600_000 : undefined,
      dependencies: i % 11 === 6 ? [submitted[0]] : undefined,
    };
    submitted.push(
      await which.submit(queue, params as { user: number; note: string }, opts),
    );
  }
  for (const [i, id] of submitted.entries()) if (i % 7 === 3) await queue.cancel(id);
  // Queue q2 runs: its jobs complete, or fail (beta with fail).
  const worker = new Worker(target, {
    ...options,
    clock,
    tasks: [alpha, beta],
    queues: ["q2"],
    logger: quiet,
  });
  while (await worker.processOne()) { /* drain q2 */ }
  worker.close();
  return { queue, clock, submitted };
}

function matches(
  job: JobInfo,
  f: { status?: JobStatus; queue?: string; task?: string; search?: string },
): boolean {
  return (f.status === undefined || job.status === f.status) &&
    (f.queue === undefined || job.queue === f.queue) &&
    (f.task === undefined || job.task === f.task) &&
    (f.search === undefined || job.id === f.search ||
      JSON.stringify(job.params).includes(f.search));
}

backendTest(
  "every combination of status, queue, task and search lists newest first and counts the same",
  async ({ target, options }) => {
    const { queue, submitted } = await mixedQueue(target, options);
    const all = await queue.listJobs({ limit: 1000 });
    assert.deepEqual(all.map((j) => j.id), submitted.toReversed());
    const statuses = new Set(all.map((j) => j.status));
    for (const s of ["pending", "completed", "failed", "cancelled"]) {
      assert.ok(statuses.has(s as JobStatus), s);
    }
    let nonEmpty = 0;
    for (const status of [undefined, "pending", "completed", "failed", "cancelled"] as const) {
      for (const queueName of [undefined, "default", "q2"]) {
        for (const taskName of [undefined, "alpha", "beta"]) {
          for (const search of [undefined, '"user":1', "50%", "X", submitted[7]]) {
            const f = { status, queue: queueName, task: taskName, search };
            const want = all.filter((j) => matches(j, f)).map((j) => j.id);
            const label = JSON.stringify(f);
            if (want.length > 0) nonEmpty++;
            assert.deepEqual(
              (await queue.listJobs({ ...f, limit: 1000 })).map((j) => j.id),
              want,
              label,
            );
            assert.deepEqual(await queue.countJobs(f), { count: want.length, exact: true }, label);
            assert.deepEqual(
              await queue.countJobs({ ...f, cap: 2 }),
              want.length > 2 ? { count: 2, exact: false } : { count: want.length, exact: true },
              label,
            );
            // Pages of 2, by cursor, give the same jobs in the same order.
            const paged: string[] = [];
            let before: string | undefined;
            for (;;) {
              const page = await queue.listJobs({ ...f, limit: 2, before });
              assert.ok(page.length <= 2, label);
              if (page.length === 0) break;
              assert.ok(paged.length < want.length, `${label}: more pages than jobs`);
              paged.push(...page.map((j) => j.id));
              before = page.at(-1)!.id;
            }
            assert.deepEqual(paged, want, label);
          }
        }
      }
    }
    assert.ok(nonEmpty > 80, `only ${nonEmpty} combinations matched something`);
    queue.close();
  },
);

backendTest(
  "search is literal and case-sensitive: %, _, \\, *, ? and [ ] are plain characters; an id matches exactly",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const pct = await noop.submit(queue, { n: 1, note: "50% off" } as { n: number });
    const x = await noop.submit(queue, { n: 2, note: "50x off" } as { n: number });
    const under = await noop.submit(queue, { n: 3, note: "a_b" } as { n: number });
    const axb = await noop.submit(queue, { n: 4, note: "axb" } as { n: number });
    const slash = await noop.submit(queue, { n: 5, note: "c\\d" } as { n: number });
    const glob = await noop.submit(queue, { n: 9, note: "a*b?c[d]e^f" } as { n: number });
    const aXbYc = await noop.submit(queue, { n: 10, note: "aXbYcde" } as { n: number });
    const upper = await noop.submit(queue, { n: 6, email: "Ada@Example.com" } as { n: number });
    const lower = await noop.submit(queue, { n: 7, email: "ada@example.com" } as { n: number });
    const ids = async (search: string) => (await queue.listJobs({ search })).map((j) => j.id);
    assert.deepEqual(await ids("50%"), [pct]);
    assert.deepEqual(await ids("%"), [pct]);
    assert.deepEqual(await ids("a_b"), [under]);
    assert.deepEqual(await ids("_"), [under]);
    assert.deepEqual(await ids("axb"), [axb]);
    // Nor are *, ? and [ ] (or ^): only the job that holds them matches.
    for (const text of ["a*b", "b?c", "c[d]e", "[d]", "[", "]", "*", "?", "e^f", "a*b?c[d]e^f"]) {
      assert.deepEqual(await ids(text), [glob], text);
    }
    assert.deepEqual(await ids("aXbYc"), [aXbYc]);
    // The params as stored: JSON, so a backslash is escaped there.
    assert.deepEqual(await ids("c\\\\d"), [slash]);
    assert.deepEqual(await ids("ada@example.com"), [lower]);
    assert.deepEqual(await ids("Ada@"), [upper]);
    assert.deepEqual(await ids('"n":2'), [x]);
    assert.deepEqual(await ids('"n":2,'), [x]);
    assert.deepEqual(await ids('"n": 2'), []);
    // An id: that job, exactly (a prefix of an id is no match), and any job whose params hold it.
    assert.deepEqual(await ids(x), [x]);
    assert.deepEqual(await ids(x.slice(0, 20)), []);
    const mentions = await noop.submit(queue, { n: 8, ref: x } as { n: number });
    assert.deepEqual(await ids(x), [mentions, x]);
    assert.deepEqual(await queue.countJobs({ search: x }), { count: 2, exact: true });
    assert.deepEqual(await queue.countJobs({ search: "%" }), { count: 1, exact: true });
    assert.deepEqual(await queue.countJobs({ search: "nowhere" }), { count: 0, exact: true });
    queue.close();
  },
);

backendTest(
  "countJobs stops at its cap; pending jobs count whether ready, delayed or blocked",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const ready = await queue.submitMany(Array.from({ length: 12 }, (_, n) => noop.toJob({ n })));
    await noop.submit(queue, { n: 100 }, { runAt: clock.now() + 60_000 });
    await noop.submit(queue, { n: 101 }, { dependencies: [ready[0]] });
    await noop.submit(queue, { n: 102 }, { queue: "other", runAt: clock.now() + 60_000 });
    await noop.submit(queue, { n: 103 }, { queue: "other", dependencies: [ready[1]] });
    await noop.submit(queue, { n: 104 }, { queue: "other" });
    await queue.cancel(ready[11]);
    assert.deepEqual(await queue.countJobs(), { count: 17, exact: true });
    assert.deepEqual(await queue.countJobs({ cap: 17 }), { count: 17, exact: true });
    assert.deepEqual(await queue.countJobs({ cap: 16 }), { count: 16, exact: false });
    assert.deepEqual(await queue.countJobs({ cap: 1 }), { count: 1, exact: false });
    assert.deepEqual(await queue.countJobs({ status: "pending" }), { count: 16, exact: true });
    assert.deepEqual(await queue.countJobs({ status: "pending", cap: 5 }), {
      count: 5,
      exact: false,
    });
    assert.deepEqual(await queue.countJobs({ status: "pending", queue: "other" }), {
      count: 3,
      exact: true,
    });
    assert.deepEqual(await queue.countJobs({ status: "pending", queue: "default" }), {
      count: 13,
      exact: true,
    });
    // "n":10 and "n":100 to "n":104, ready, delayed and blocked.
    assert.deepEqual(await queue.countJobs({ status: "pending", search: '"n":10' }), {
      count: 6,
      exact: true,
    });
    assert.deepEqual(await queue.countJobs({ status: "cancelled" }), { count: 1, exact: true });
    assert.deepEqual(await queue.countJobs({ status: "running" }), { count: 0, exact: true });
    assert.deepEqual(await queue.countJobs({ task: "nothing" }), { count: 0, exact: true });
    assert.deepEqual(await queue.countJobs({ queue: "other", task: "noop" }), {
      count: 3,
      exact: true,
    });
    queue.close();
  },
);

backendTest(
  "workers lists live workers with their running jobs; stopped ones only when asked",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    let started = 0;
    const hold = task("hold", async () => {
      started++;
      await gate;
      return "done";
    });
    assert.deepEqual(await queue.workers(), []);
    const held = await hold.submit(queue, {});
    const a = new Worker(target, {
      ...options,
      clock,
      tasks: [hold],
      workerId: "dash-a",
      concurrency: 3,
      logger: quiet,
    });
    const done = a.processOne();
    await until(() => started === 1);
    await settle();
    clock.jump(5_000);
    const b = new Worker(target, {
      ...options,
      clock,
      tasks: [noop, hold],
      queues: ["x", "y"],
      workerId: "dash-b",
      logger: quiet,
      pollInterval: 0.05,
    });
    const loop = b.start();
    await until(async () => (await queue.workers()).some((w) => w.id === "dash-b"));
    const live = await queue.workers();
    assert.deepEqual(live.map((w) => w.id), ["dash-b", "dash-a"]);
    const [wb, wa] = live;
    assert.deepEqual(wa, {
      id: "dash-a",
      host: wa.host,
      pid: Deno.pid,
      tasks: ["hold"],
      queues: null,
      concurrency: 3,
      startedAt: new Date(Date.UTC(2026, 0, 1, 12)).toISOString(),
      lastSeenAt: wa.lastSeenAt,
      stoppedAt: null,
      running: [held],
    });
    assert.equal(typeof wa.host, "string");
    assert.ok(wa.lastSeenAt >= wa.startedAt);
    assert.deepEqual([wb.tasks, wb.queues, wb.concurrency, wb.running], [
      ["noop", "hold"],
      ["x", "y"],
      1,
      [],
    ]);
    assert.equal(wb.startedAt, new Date(Date.UTC(2026, 0, 1, 12, 0, 5)).toISOString());
    // The running job's workerId is the id the workers table lists.
    assert.equal((await queue.getStatus(held))?.workerId, "dash-a");
    assert.deepEqual((await queue.listJobs({ status: "running" })).map((j) => j.id), [held]);
    assert.deepEqual(await queue.countJobs({ status: "running" }), { count: 1, exact: true });
    clock.jump(5_000);
    b.stop();
    await loop;
    b.close();
    assert.deepEqual((await queue.workers()).map((w) => w.id), ["dash-a"]);
    const withStopped = await queue.workers({ stopped: true });
    assert.deepEqual(withStopped.map((w) => [w.id, w.stoppedAt]), [
      ["dash-b", new Date(Date.UTC(2026, 0, 1, 12, 0, 10)).toISOString()],
      ["dash-a", null],
    ]);
    release();
    assert.equal(await done, true);
    assert.deepEqual((await queue.workers()).map((w) => [w.id, w.running]), [["dash-a", []]]);
    a.close();
    queue.close();
  },
);

backendTest(
  "activity counts completed and failed or timed-out jobs per minute, dense, oldest first",
  async ({ target, options }) => {
    const start = Date.UTC(2026, 0, 1, 12); // 12:00:00.000
    const clock = new FakeClock(start);
    const queue = new JobQueue(target, { ...options, clock });
    let aborted = 0;
    let slowStarted = 0;
    const slow = task("slow", (_p, ctx) =>
      new Promise((_resolve, reject) => {
        slowStarted++;
        ctx.signal.addEventListener("abort", () => {
          aborted++;
          reject(ctx.signal.reason);
        });
      }), { timeout: 10, maxAttempts: 1 });
    const worker = new Worker(target, {
      ...options,
      clock,
      tasks: [alpha, beta, slow],
      logger: quiet,
    });
    const run = async (job: Promise<string>) => {
      const id = await job;
      assert.equal(await worker.processOne(), true);
      return id;
    };
    clock.jump(10_000); // 12:00:10
    await run(alpha.submit(queue, { user: 1, note: "" }));
    clock.jump(140_000); // 12:02:30
    await run(alpha.submit(queue, { user: 2, note: "" }));
    await run(
      beta.submit(queue, { user: 3, note: "", fail: true } as { user: number; note: string }),
    );
    clock.jump(89_999); // 12:03:59.999
    await run(alpha.submit(queue, { user: 4, note: "" }, { queue: "other" }));
    // A timeout at 12:04:10.
    await slow.submit(queue, {});
    const timing = worker.processOne();
    await until(() => slowStarted === 1);
    await settle(); // and the worker has handled what it claimed (its timers set)
    await clock.tick(10_001);
    assert.equal(await timing, true);
    assert.equal(aborted, 1);
    // Cancelled and pending jobs are not activity.
    await queue.cancel(await alpha.submit(queue, { user: 5, note: "" }));
    await alpha.submit(queue, { user: 6, note: "" });
    clock.jump(60_000); // 12:05:10
    const at = (m: number) => new Date(start + m * 60_000).toISOString();
    assert.deepEqual(await queue.activity({ minutes: 6 }), [
      { minute: at(0), completed: 1, failed: 0 },
      { minute: at(1), completed: 0, failed: 0 },
      { minute: at(2), completed: 1, failed: 1 },
      { minute: at(3), completed: 1, failed: 0 },
      { minute: at(4), completed: 0, failed: 1 },
      { minute: at(5), completed: 0, failed: 0 },
    ]);
    assert.deepEqual((await queue.activity({ minutes: 5 })).map((m) => m.minute), [
      at(1),
      at(2),
      at(3),
      at(4),
      at(5),
    ]);
    assert.deepEqual(await queue.activity({ minutes: 1 }), [
      { minute: at(5), completed: 0, failed: 0 },
    ]);
    assert.deepEqual(
      (await queue.activity({ minutes: 4, queue: "other" })).map((m) => m.completed),
      [0, 1, 0, 0],
    );
    assert.deepEqual(
      (await queue.activity({ minutes: 4, queue: "nowhere" })).map((m) => m.completed),
      [0, 0, 0, 0],
    );
    const hour = await queue.activity();
    assert.equal(hour.length, 60);
    assert.equal(hour[59].minute, at(5));
    assert.equal(hour[0].minute, at(-54));
    assert.deepEqual(
      [hour.reduce((n, m) => n + m.completed, 0), hour.reduce((n, m) => n + m.failed, 0)],
      [3, 2],
    );
    assert.equal((await queue.activity({ minutes: 1440 })).length, 1440);
    worker.close();
    queue.close();
  },
);

backendTest(
  "getStatus lists the jobs that depend on a job, in submit order",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const root = noop.toJob({ n: 0 });
    const second = noop.toJob({ n: 1 }, { dependencies: [root] });
    const first = noop.toJob({ n: 2 }, { dependencies: [root] });
    const fanIn = noop.toJob({ n: 3 }, { dependencies: [second, first] });
    // Given children first: the batch is ordered parents first, then as given.
    const ids = await queue.submitMany([first, second, fanIn, root]);
    const [idFirst, idSecond, idFanIn, idRoot] = ids;
    const later = await noop.submit(queue, { n: 4 }, { dependencies: [idRoot] });
    const children = async (id: string) => (await queue.getStatus(id))?.children;
    assert.deepEqual(await children(idRoot), [idFirst, idSecond, later]);
    assert.deepEqual(await children(idFirst), [idFanIn]);
    assert.deepEqual(await children(idSecond), [idFanIn]);
    assert.deepEqual(await children(idFanIn), []);
    assert.deepEqual((await queue.getStatus(idFanIn))?.dependencies, [idSecond, idFirst]);
    queue.close();
  },
);

backendTest(
  "bad listing, count, workers and activity options are refused, naming the value",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await noop.submit(queue, { n: 1 });
    const bad: [() => Promise<unknown>, ErrorConstructor, RegExp][] = [
      [() => queue.listJobs({ task: 1 as unknown as string }), TypeError, /task must be a string/],
      [() => queue.listJobs({ task: "" }), RangeError, /task must not be empty/],
      [() => queue.listJobs({ search: "" }), RangeError, /search must not be empty/],
      [() => queue.listJobs({ search: "a\0b" }), RangeError, /search must not contain a NUL/],
      [() => queue.listJobs({ search: "x".repeat(1001) }), RangeError, /at most 1000/],
      [
        () => queue.listJobs({ before: 7 as unknown as string }),
        TypeError,
        /before must be a string, got 7/,
      ],
      [() => queue.listJobs({ limit: -1 }), RangeError, /limit must be a whole number/],
      [() => queue.listJobs({ status: "done" as JobStatus }), RangeError, /done/],
      [() => queue.listJobs({ cap: 3 } as object), TypeError, /unknown option "cap"/],
      [() => queue.countJobs({ cap: 0 }), RangeError, /cap must be a whole number from 1 .* got 0/],
      [() => queue.countJobs({ cap: 2.5 }), RangeError, /cap .* got 2\.5/],
      [() => queue.countJobs({ cap: "9" as unknown as number }), TypeError, /cap/],
      [() => queue.countJobs({ limit: 3 } as object), TypeError, /unknown option "limit"/],
      [() => queue.countJobs({ before: "x" } as object), TypeError, /unknown option "before"/],
      [() => queue.countJobs({ queue: "" }), TypeError, /queue must be a queue name/],
      [
        () => queue.workers({ stopped: "yes" as unknown as boolean }),
        TypeError,
        /stopped must be true or false, got "yes"/,
      ],
      [() => queue.workers({ all: true } as object), TypeError, /unknown option "all"/],
      [
        () => queue.activity({ minutes: 0 }),
        RangeError,
        /minutes must be a whole number from 1 to 1440, got 0/,
      ],
      [() => queue.activity({ minutes: 1441 }), RangeError, /1441/],
      [() => queue.activity({ minutes: 1.5 }), RangeError, /1\.5/],
      [() => queue.activity({ queue: 3 as unknown as string }), TypeError, /queue/],
    ];
    for (const [call, type, message] of bad) {
      await assert.rejects(call, (e: Error) => {
        assert.ok(e instanceof type, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    }
    // A cursor no job has: the id named, nothing listed.
    await assert.rejects(
      () => queue.listJobs({ before: "no-such-job" }),
      (e: Error) => {
        assert.ok(e instanceof JobNotFoundError);
        assert.equal(e.jobId, "no-such-job");
        assert.match(e.message, /before must be the id of a job.*"no-such-job"/);
        return true;
      },
    );
    assert.equal((await queue.stats()).total, 1);
    queue.close();
  },
);
