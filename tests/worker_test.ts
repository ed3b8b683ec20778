import assert from "node:assert/strict";
import {
  defaultLogger,
  getConnection,
  Job,
  JobQueue,
  JobTimeoutError,
  NoRetryError,
  task,
  why,
  Worker,
  type WorkerOptions,
} from "../mod.ts";
import { driverTest, FakeClock, settle, until } from "./_helpers.ts";
import { backendTest } from "./_backends.ts";

const echo = task("echo", (p: unknown) => p);
const quiet = () => {};

function setup(path: string, driver: "node" | "ffi" | undefined, clock = new FakeClock()) {
  const queue = new JobQueue(path, { driver, clock });
  const worker = (options: Partial<WorkerOptions>) =>
    new Worker(path, { tasks: [], driver, clock, logger: quiet, ...options });
  return { queue, clock, worker };
}

backendTest(
  "processOne() returns false on an empty queue and true after running a job",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const w = worker({ tasks: [echo] });
    assert.equal(await w.processOne(), false);
    const id = await echo.submit(queue, { x: 1 });
    assert.equal(await w.processOne(), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "completed");
    assert.deepEqual(job?.result, { x: 1 });
    assert.equal(job?.attempts, 1);
    assert.equal(job?.workerId, null);
    assert.deepEqual(job?.executions.map((e) => [e.status, e.workerId, e.error]), [
      ["completed", w.id, null],
    ]);
    assert.equal(await w.processOne(), false);
    w.close();
    queue.close();
  },
);

backendTest(
  "the handler gets its params and a context with id, name, attempt and signal",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let seen: unknown;
    const probe = task("probe", (p: { a: number }, ctx) => {
      seen = {
        p,
        jobId: ctx.jobId,
        name: ctx.name,
        attempt: ctx.attempt,
        maxAttempts: ctx.maxAttempts,
        aborted: ctx.signal.aborted,
        parents: ctx.parentResults,
      };
    }, { maxAttempts: 5 });
    const id = await probe.submit(queue, { a: 1 }, { name: "named" });
    const w = worker({ tasks: [probe] });
    await w.processOne();
    assert.deepEqual(seen, {
      p: { a: 1 },
      jobId: id,
      name: "named",
      attempt: 1,
      maxAttempts: 5,
      aborted: false,
      parents: {},
    });
    assert.equal(await queue.getResult(id), null, "undefined is stored as null");
    w.close();
    queue.close();
  },
);

backendTest(
  "a failing attempt is retried and the error is cleared on success",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let calls = 0;
    const flaky = task("flaky", (_p, ctx) => {
      calls++;
      if (ctx.attempt < 3) throw new TypeError(`try ${ctx.attempt}`);
      return "ok";
    }, { maxAttempts: 3 });
    const id = await flaky.submit(queue, {});
    const w = worker({ tasks: [flaky] });
    await w.processOne();
    let job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.error, "TypeError: try 1");
    assert.equal(job?.attempts, 1);
    await w.processOne();
    await w.processOne();
    job = await queue.getStatus(id);
    assert.equal(calls, 3);
    assert.equal(job?.status, "completed");
    assert.equal(job?.error, null);
    assert.equal(job?.result, "ok");
    assert.deepEqual(job?.executions.map((e) => [e.attempt, e.status]), [
      [1, "failed"],
      [2, "failed"],
      [3, "completed"],
    ]);
    assert.match(job!.executions[0].error!, /TypeError: try 1\n\s+at /, "the stack is kept");
    w.close();
    queue.close();
  },
);

backendTest(
  "a job that fails its last attempt ends failed with completedAt set",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const bad = task("bad", () => Promise.reject("plain string"), { maxAttempts: 2 });
    const id = await bad.submit(queue, {});
    const w = worker({ tasks: [bad] });
    await w.processOne();
    await w.processOne();
    assert.equal(await w.processOne(), false);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "failed");
    assert.equal(job?.error, "plain string");
    assert.equal(job?.attempts, 2);
    assert.equal(job?.completedAt, new Date(clock.now()).toISOString());
    assert.deepEqual(job?.executions.map((e) => e.status), ["failed", "failed"]);
    assert.equal(await queue.getResult(id), undefined);
    w.close();
    queue.close();
  },
);

backendTest(
  "retryDelay holds a retry back; exponential backoff doubles it, with jitter",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const fails = task("fails", () => {
      throw new Error("no");
    }, { maxAttempts: 4, retryDelay: 2, backoff: "exponential" });
    const id = await fails.submit(queue, {});
    const w = worker({ tasks: [fails] });
    const waits: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      assert.equal(await w.processOne(), true);
      const job = await queue.getStatus(id);
      const wait = Date.parse(job!.runAt) - clock.now();
      waits.push(wait);
      assert.equal(await w.processOne(), false, "not before its retry time");
      await clock.tick(wait - 1);
      assert.equal(await w.processOne(), false);
      await clock.tick(1);
    }
    // Equal jitter: retry n waits between half and all of 2 s × 2^(n-1).
    for (const [i, d] of [2000, 4000, 8000].entries()) {
      assert.ok(waits[i] >= d / 2 && waits[i] <= d, `wait ${i + 1}: ${waits[i]} ms`);
    }
    assert.equal(await w.processOne(), true);
    assert.equal((await queue.getStatus(id))?.status, "failed");
    w.close();
    queue.close();
  },
);

backendTest("a fixed retryDelay waits the same each time", async ({ path, driver }) => {
  const { queue, worker, clock } = setup(path, driver);
  const fails = task("fails", () => {
    throw new Error("no");
  }, { maxAttempts: 3, retryDelay: 5 });
  const id = await fails.submit(queue, {});
  const w = worker({ tasks: [fails] });
  for (let i = 0; i < 2; i++) {
    await w.processOne();
    assert.equal(Date.parse((await queue.getStatus(id))!.runAt) - clock.now(), 5000);
    await clock.tick(5000);
  }
  w.close();
  queue.close();
});

backendTest(
  "a timeout aborts ctx.signal and retries the job, then ends it timeout",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const reasons: unknown[] = [];
    let started = 0;
    const slow = task("slow", (_p, ctx) =>
      new Promise((_resolve, reject) => {
        started++;
        ctx.signal.addEventListener("abort", () => {
          reasons.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      }), { timeout: 10, maxAttempts: 2 });
    const id = await slow.submit(queue, {});
    const w = worker({ tasks: [slow] });
    for (let attempt = 1; attempt <= 2; attempt++) {
      const done = w.processOne();
      await until(() => started === attempt);
      await settle(); // and the worker has handled what it claimed (its timers set)
      await clock.tick(9_999);
      assert.equal((await queue.getStatus(id))?.status, "running");
      await clock.tick(1);
      assert.equal(await done, true);
    }
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "timeout");
    assert.equal(job?.error, "Job timed out after 10 seconds");
    assert.equal(job?.completedAt, new Date(clock.now()).toISOString());
    assert.deepEqual(job?.executions.map((e) => e.status), ["timeout", "timeout"]);
    assert.equal(reasons.length, 2);
    assert.ok(reasons[0] instanceof JobTimeoutError);
    w.close();
    queue.close();
  },
);

backendTest("a late finish after a timeout changes nothing", async ({ path, driver }) => {
  const { queue, worker, clock } = setup(path, driver);
  let release!: (v: string) => void;
  const stubborn = task("stubborn", () => new Promise<string>((r) => release = r), {
    timeout: 1,
    maxAttempts: 1,
  });
  const id = await stubborn.submit(queue, {});
  const w = worker({ tasks: [stubborn] });
  const done = w.processOne();
  await until(() => release !== undefined);
  await settle(); // and the worker has handled what it claimed (its timers set)
  await clock.tick(1000);
  await done;
  const before = await queue.getStatus(id);
  assert.equal(before?.status, "timeout");
  release("too late");
  await settle();
  assert.equal(await w.processOne(), false);
  assert.deepEqual(await queue.getStatus(id), before);
  w.close();
  queue.close();
});

backendTest(
  "a worker claims only jobs whose task it knows; they wait for a worker that does",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const mystery = task("mystery", () => "solved");
    const id = await queue.submit(new Job({ task: "mystery", maxAttempts: 1 }));
    const other = await echo.submit(queue, "mine");
    const w = worker({ tasks: [echo] });
    assert.equal(await w.processOne(), true);
    assert.equal(await w.processOne(), false, "the mystery job is not this worker's");
    assert.equal((await queue.getStatus(other))?.status, "completed");
    assert.equal((await queue.getStatus(id))?.status, "pending");
    const knows = worker({ tasks: [mystery] });
    assert.equal(await knows.processOne(), true);
    assert.equal(await queue.getResult(id), "solved");
    w.close();
    knows.close();
    queue.close();
  },
);

driverTest(
  "a backlog of 100,000 jobs of other tasks does not stop a worker claiming its own, by priority",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    await queue.stats();
    // The backlog, older and of higher priority than the worker's own jobs.
    getConnection(path, { driver }).exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
      INSERT INTO gigq_jobs (id, name, task, params, priority, max_attempts, timeout, retry_delay,
        backoff, description, dependencies, status, run_at, created_at, updated_at)
      SELECT 'other-' || i, 'other', 'other', '{}', 9, 1, 300, 0, 'fixed', '', '[]', 'pending',
        0, 0, 0 FROM n`);
    const ran: string[] = [];
    const mine = task("mine", (p: string) => void ran.push(p));
    const one = task("one", (p: string) => void ran.push(p));
    await mine.submit(queue, "low", { priority: 1 });
    await mine.submit(queue, "high", { priority: 5 });
    await one.submit(queue, "middle", { priority: 3 });
    const w = worker({ tasks: [mine, one], concurrency: 1 });
    while (await w.processOne()) { /* drain */ }
    assert.deepEqual(ran, ["high", "middle", "low"], "its own jobs, by priority across tasks");
    assert.equal((await queue.stats()).pending, 100_000);
    w.close();
    queue.close();
  },
);

backendTest(
  "a result that is not JSON fails the job once, and the worker carries on",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let calls = 0;
    const weird = task("weird", () => {
      calls++;
      return { when: 10n };
    }, { maxAttempts: 3 });
    const bad = await weird.submit(queue, {});
    const good = await echo.submit(queue, "fine");
    const w = worker({ tasks: [weird, echo] });
    await w.processOne();
    await w.processOne();
    const job = await queue.getStatus(bad);
    assert.equal(job?.status, "failed");
    assert.equal(calls, 1, "a bad result is not retried: the side effects would repeat");
    assert.match(job!.error!, /result\.when is 10n/);
    assert.equal(await queue.getResult(good), "fine");
    w.close();
    queue.close();
  },
);

backendTest("priority then age orders claims, for dependent jobs too", async ({ path, driver }) => {
  const { queue, worker, clock } = setup(path, driver);
  const order: string[] = [];
  const rec = task("rec", (p: { n: string }) => void order.push(p.n));
  const parent = rec.toJob({ n: "parent" }, { priority: 50 });
  await queue.submit(parent);
  await clock.tick(1);
  await rec.submit(queue, { n: "p0-old" });
  await clock.tick(1);
  await rec.submit(queue, { n: "p-5" }, { priority: -5 });
  await rec.submit(queue, { n: "dependent-p100" }, { priority: 100, dependencies: [parent] });
  await clock.tick(1);
  await rec.submit(queue, { n: "p0-new" });
  await rec.submit(queue, { n: "p10" }, { priority: 10 });
  const w = worker({ tasks: [rec] });
  while (await w.processOne()) { /* drain */ }
  assert.deepEqual(order, ["parent", "dependent-p100", "p10", "p0-old", "p0-new", "p-5"]);
  w.close();
  queue.close();
});

backendTest(
  "parentResults holds each dependency's result, in dependency order",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let got: unknown;
    const collect = task("collect", (_p, ctx) => {
      got = ctx.parentResults;
      return Object.keys(ctx.parentResults).length;
    });
    const a = echo.toJob("A");
    const b = echo.toJob({ b: true });
    const c = echo.toJob(null);
    const child = collect.toJob({}, { dependencies: [c, a, b] });
    await queue.submitMany([a, b, c, child]);
    const w = worker({ tasks: [echo, collect] });
    while (await w.processOne()) { /* drain */ }
    assert.deepEqual(Object.entries(got as object), [[c.id, null], [a.id, "A"], [b.id, {
      b: true,
    }]]);
    assert.equal(await queue.getResult(child.id), 3);
    w.close();
    queue.close();
  },
);

backendTest(
  "a failed parent cancels its descendants, naming it; requeue brings them back",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let fail = true;
    const parentTask = task("parent", () => {
      if (fail) throw new Error("parent broke");
      return "fixed";
    }, { maxAttempts: 1 });
    const p = parentTask.toJob({});
    const child = echo.toJob("child", { dependencies: [p] });
    const grandchild = echo.toJob("grandchild", { dependencies: [child] });
    const other = echo.toJob("independent");
    await queue.submitMany([p, child, grandchild, other]);
    const w = worker({ tasks: [parentTask, echo] });
    while (await w.processOne()) { /* drain */ }
    for (const id of [child.id, grandchild.id]) {
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "cancelled");
      assert.equal(job?.error, `Cancelled: dependency ${p.id} failed`);
      assert.equal(job?.cancelledBy, p.id);
    }
    assert.equal(await queue.getResult(other.id), "independent");
    assert.equal(await queue.requeue(child.id), false, "its parent is still failed");
    fail = false;
    assert.equal(await queue.requeue(p.id), true);
    assert.equal((await queue.getStatus(child.id))?.status, "pending");
    assert.equal((await queue.getStatus(grandchild.id))?.status, "pending");
    while (await w.processOne()) { /* drain */ }
    assert.equal(await queue.getResult(grandchild.id), "grandchild");
    w.close();
    queue.close();
  },
);

backendTest(
  "cancelling a pending parent cancels its children; a child submitted later is cancelled at once",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const p = await echo.submit(queue, "p");
    const c1 = await echo.submit(queue, "c1", { dependencies: [p] });
    assert.equal(await queue.cancel(p), true);
    assert.equal((await queue.getStatus(c1))?.error, `Cancelled: dependency ${p} was cancelled`);
    const c2 = await echo.submit(queue, "c2", { dependencies: [p] });
    assert.equal((await queue.getStatus(c2))?.status, "cancelled");
    assert.equal(await queue.requeue(p), true);
    assert.equal((await queue.getStatus(c1))?.status, "pending");
    assert.equal((await queue.getStatus(c2))?.status, "pending");
    const w = worker({ tasks: [echo] });
    while (await w.processOne()) { /* drain */ }
    assert.deepEqual((await queue.stats()).completed, 3);
    w.close();
    queue.close();
  },
);

backendTest(
  "a child of two failed parents stays cancelled until both are requeued",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let fail = true;
    const maybe = task("maybe", () => {
      if (fail) throw new Error("x");
      return 1;
    }, { maxAttempts: 1 });
    const a = maybe.toJob({});
    const b = maybe.toJob({});
    const child = echo.toJob("c", { dependencies: [a, b] });
    await queue.submitMany([a, b, child]);
    const w = worker({ tasks: [maybe, echo] });
    while (await w.processOne()) { /* drain */ }
    fail = false;
    assert.equal(await queue.requeue(a.id), true);
    const c = await queue.getStatus(child.id);
    assert.equal(c?.status, "cancelled");
    assert.equal(c?.cancelledBy, b.id, "now cancelled because of the other parent");
    assert.equal(await queue.requeue(b.id), true);
    assert.equal((await queue.getStatus(child.id))?.status, "pending");
    while (await w.processOne()) { /* drain */ }
    assert.equal(await queue.getResult(child.id), "c");
    w.close();
    queue.close();
  },
);

backendTest(
  "a job whose worker stopped renewing its lease is retried by another worker",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const deadClock = new FakeClock();
    const liveClock = new FakeClock();
    let release!: (v: string) => void;
    let calls = 0;
    const work = task("work", () => {
      calls++;
      return calls === 1 ? new Promise<string>((r) => release = r) : "second";
    }, { maxAttempts: 2 });
    const id = await work.submit(queue, {});
    // The first worker claims the job, then its clock stops: no heartbeats, as if it hung.
    const dead = worker({ tasks: [work], clock: deadClock, lease: 5, workerId: "dead" });
    const first = dead.processOne();
    await until(() => release !== undefined);
    const live = worker({ tasks: [work], clock: liveClock, lease: 5, workerId: "live" });
    await liveClock.tick(4_999);
    assert.equal(await live.processOne(), false, "the lease has not expired yet");
    await liveClock.tick(2);
    assert.equal(await live.processOne(), true);
    let job = await queue.getStatus(id);
    assert.equal(job?.status, "completed");
    assert.equal(job?.result, "second");
    assert.deepEqual(job?.executions.map((e) => [e.workerId, e.status]), [
      ["dead", "timeout"],
      ["live", "completed"],
    ]);
    assert.match(job!.executions[0].error!, /dead stopped renewing its lease/);
    // The first attempt finishing late is fenced off.
    release("first");
    await first;
    job = await queue.getStatus(id);
    assert.equal(job?.result, "second");
    assert.equal(job?.executions.length, 2);
    dead.close();
    live.close();
    queue.close();
  },
);

backendTest(
  "a lease that expires on the last attempt ends the job timeout",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const hang = task("hang", () => new Promise(() => {}), { maxAttempts: 1 });
    const id = await hang.submit(queue, {});
    const dead = worker({ tasks: [hang], clock: new FakeClock(), lease: 1 });
    void dead.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const clock = new FakeClock();
    const reaper = worker({ tasks: [hang], clock, lease: 1 });
    await clock.tick(2_000);
    assert.equal(await reaper.processOne(), false);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "timeout");
    assert.match(job!.error!, /stopped renewing its lease/);
    dead.close();
    reaper.close();
    queue.close();
  },
);

backendTest(
  "a live worker renews its lease, so a long job is never taken from it",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const { queue, worker } = setup(path, driver, clock);
    let release!: () => void;
    const long = task("long", () => new Promise<void>((r) => release = r), { timeout: 3600 });
    const id = await long.submit(queue, {});
    const owner = worker({ tasks: [long], lease: 3, workerId: "owner" });
    const other = worker({ tasks: [long], lease: 3, workerId: "other" });
    const done = owner.processOne();
    await until(() => release !== undefined);
    for (let i = 0; i < 20; i++) {
      await clock.tick(1_000);
      assert.equal(await other.processOne(), false);
    }
    assert.equal((await queue.getStatus(id))?.workerId, "owner");
    release();
    await done;
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "completed");
    assert.deepEqual(job?.executions.map((e) => e.workerId), ["owner"]);
    owner.close();
    other.close();
    queue.close();
  },
);

backendTest(
  "start() runs jobs concurrently until stop(); stop lets in-flight jobs finish",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const gated = task("gated", () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        gates.push(() => {
          running--;
          resolve(peak);
        });
      }));
    const ids = await queue.submitMany(Array.from({ length: 10 }, () => gated.toJob({})));
    const w = worker({ tasks: [gated], concurrency: 4 });
    const done = w.start();
    assert.equal(w.running, true);
    for (let opened = 0; opened < 8;) {
      await until(() => gates.length > 0);
      gates.shift()!();
      opened++;
    }
    await until(() => running === 2);
    assert.equal(peak, 4);
    w.stop();
    await settle();
    assert.equal(running, 2, "stop() does not claim more");
    while (gates.length > 0) gates.shift()!();
    await done;
    assert.equal(w.running, false);
    const stats = await queue.stats();
    assert.equal(stats.completed, 10);
    assert.equal(stats.pending, 0);
    assert.deepEqual(w.counts, {
      processed: 10,
      completed: 10,
      failed: 0,
      timedOut: 0,
      inFlight: 0,
      abandoned: 0,
    });
    assert.equal(ids.length, 10);
    w.close();
    queue.close();
  },
);

backendTest("start() wakes for a delayed job when it comes due", async ({ path, driver }) => {
  const { queue, worker, clock } = setup(path, driver);
  const id = await echo.submit(queue, "later", { runAt: clock.now() + 30_000 });
  const w = worker({ tasks: [echo], pollInterval: 3600 });
  const done = w.start();
  await settle();
  await clock.tick(29_000);
  assert.equal((await queue.getStatus(id))?.status, "pending");
  await clock.tick(1_000);
  await until(async () => (await queue.getStatus(id))?.status === "completed");
  w.stop();
  await done;
  w.close();
  queue.close();
});

driverTest("the Worker writes a worker row and renews it while idle", async ({ path, driver }) => {
  const { queue, worker, clock } = setup(path, driver);
  const w = worker({ tasks: [echo], lease: 30, workerId: "w-row" });
  const done = w.start();
  await settle();
  const seen = () =>
    getConnection(path, { driver }).prepare(
      "SELECT seen_at, stopped_at FROM gigq_workers WHERE id = ?",
    )
      .get("w-row");
  const first = seen();
  assert.equal(first?.seen_at, clock.now());
  await clock.tick(10_000);
  await until(() => seen()?.seen_at === clock.now());
  w.stop();
  await done;
  assert.equal(seen()?.stopped_at, clock.now());
  w.close();
  queue.close();
});

Deno.test("Worker refuses bad options, naming the value", () => {
  const cases: [Partial<WorkerOptions>, RegExp][] = [
    [{ concurrency: 0 }, /concurrency must be a whole number from 1 to 10000, got 0/],
    [{ concurrency: 1.5 }, /concurrency .* got 1\.5/],
    [{ pollInterval: -1 }, /pollInterval .* got -1/],
    [{ lease: 0 }, /lease .* got 0/],
    [{ workerId: "" }, /workerId must not be empty/],
    // deno-lint-ignore no-explicit-any
    [{ tasks: [() => 1] as any }, /tasks\[0\] must be a task made by task\(\), got function/],
    [{ tasks: [echo, task("echo", () => 2)] }, /two different tasks are named "echo"/],
    // deno-lint-ignore no-explicit-any
    [{ concurency: 2 } as any, /unknown option "concurency"/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new Worker(":memory:", { tasks: [], ...options }), message);
  }
});

backendTest(
  "stop({ grace }) aborts handlers still running after it and releases their jobs",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    let finish!: (v: string) => void;
    let aborted: unknown;
    const slow = task("slow", (_p, ctx) => {
      ctx.signal.addEventListener("abort", () => aborted = ctx.signal.reason);
      return new Promise<string>((r) => finish = r);
    }, { timeout: 3600 });
    const id = await slow.submit(queue, {});
    const w = worker({ tasks: [slow], workerId: "stopper" });
    const done = w.start();
    await until(() => finish !== undefined);
    w.stop({ grace: 5 });
    await clock.tick(4_999);
    assert.equal((await queue.getStatus(id))?.status, "running", "within the grace period");
    await clock.tick(1);
    await done;
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 0, "the interrupted attempt is not counted");
    assert.match(job!.error!, /^Released: worker stopper stopped/);
    assert.deepEqual(job?.executions.map((e) => e.status), ["cancelled"]);
    assert.equal((aborted as DOMException).name, "AbortError");
    finish("late");
    await settle();
    assert.equal((await queue.getStatus(id))?.status, "pending", "a late finish changes nothing");
    assert.throws(() => w.stop({ grace: -1 }), /grace .* got -1/);
    w.close();
    queue.close();
  },
);

backendTest(
  "an idle worker wakes at once for a job submitted in its own isolate",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    const w = worker({ tasks: [echo], pollInterval: 3600 });
    const done = w.start();
    await settle();
    const id = await echo.submit(queue, "now");
    // The fake clock never moves: only the submit's notification can wake the loop.
    await until(async () => (await queue.getStatus(id))?.status === "completed");
    w.stop();
    await done;
    w.close();
    queue.close();
  },
);

backendTest(
  "an idle looping worker recovers a dead worker's job when its lease expires",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const { queue, worker } = setup(path, driver, clock);
    const hang = task("hang", () => new Promise(() => {}), { maxAttempts: 2 });
    const id = await hang.submit(queue, {});
    const dead = worker({ tasks: [hang], clock: new FakeClock(), lease: 10, workerId: "dead" });
    void dead.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const done = task("done", () => "x");
    const live = worker({ tasks: [done], lease: 10, pollInterval: 3600, workerId: "live" });
    const loop = live.start();
    await settle();
    // Only the lease expiry can wake the live loop: its poll interval is an hour.
    await clock.tick(10_001);
    // Until the dead worker's attempt has ended (a running one is listed too).
    await until(async () => (await queue.getStatus(id))!.executions[0]?.status === "timeout");
    const job = await queue.getStatus(id);
    assert.equal(job!.executions[0].workerId, "dead");
    assert.match(job!.executions[0].error!, /dead stopped renewing its lease/);
    live.stop();
    await loop;
    dead.close();
    live.close();
    queue.close();
  },
);

backendTest(
  "an idle worker wakes within milliseconds for a job another process submits",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const w = new Worker(path, { tasks: [echo], driver, pollInterval: 3600, logger: quiet });
    const done = w.start();
    try {
      await settle();
      const mod = new URL("../mod.ts", import.meta.url).href;
      const script = `import { JobQueue, Job } from ${JSON.stringify(mod)};
        const q = new JobQueue(${JSON.stringify(path)}, { driver: ${JSON.stringify(driver)} });
        console.log(await q.submit(new Job({ task: "echo", params: "from afar" })));
        q.close();`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script],
        stdout: "piped",
      }).output();
      const id = new TextDecoder().decode(out.stdout).trim();
      const submitted = Date.now();
      // pollInterval is an hour: only the file watch (SQLite) or LISTEN (PostgreSQL) can wake it.
      await until(async () => (await queue.getStatus(id))?.status === "completed", 1_000_000);
      assert.ok(Date.now() - submitted < 2000, "woken well before any poll");
      assert.equal(await queue.getResult(id), "from afar");
    } finally {
      w.stop();
      await done;
      w.close();
      queue.close();
    }
  },
);

backendTest(
  "close() during start() releases the running job and ends the loop",
  async ({ path, driver }) => {
    const { queue, worker } = setup(path, driver);
    let started = false;
    const forever = task("forever", () => {
      started = true;
      return new Promise(() => {});
    }, { timeout: 3600 });
    const id = await forever.submit(queue, {});
    const w = worker({ tasks: [forever] });
    const done = w.start();
    await until(() => started);
    w.close();
    await done;
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 0);
    await assert.rejects(() => w.processOne(), /has been closed/);
    queue.close();
  },
);

backendTest(
  "the retry of a timed-out attempt times out too, though the first attempt ends late",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    let finishFirst: (() => void) | undefined;
    const slow = task("slow", (_p: unknown, ctx) => {
      if (ctx.attempt === 1) {
        // Ignores its abort; ends later, while attempt 2 runs.
        return new Promise<void>((resolve) => finishFirst = resolve);
      }
      return new Promise<void>(() => {}); // Attempt 2 never ends by itself either.
    }, { timeout: 1, maxAttempts: 2, retryDelay: 0 });
    const id = await slow.submit(queue, {});
    const w = worker({ tasks: [slow], concurrency: 2, timeoutGrace: 60 });
    const loop = w.start();
    await until(async () => (await queue.getStatus(id))?.attempts === 1);
    await settle(); // and the worker has handled what it claimed (its timers set)
    await clock.tick(1000);
    // Claimed, and its handler started (its deadline timer set): on a server the
    // claim's commit can be seen before the worker has handled its answer.
    await until(async () => (await queue.getStatus(id))?.attempts === 2 && w.counts.inFlight === 1);
    finishFirst!(); // A late finish of attempt 1 must not forget attempt 2.
    await settle();
    await clock.tick(1000);
    await until(async () => (await queue.getStatus(id))?.status === "timeout");
    w.stop({ grace: 0 });
    await loop;
    w.close();
    queue.close();
  },
);

backendTest(
  "a handler that never settles is abandoned timeoutGrace after its timeout, freeing its slot",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const logs: string[] = [];
    const never = task("never", () => new Promise(() => {}), { timeout: 1, maxAttempts: 1 });
    const stuck = await never.submit(queue, {});
    const next = await echo.submit(queue, "next");
    const w = worker({
      tasks: [never, echo],
      concurrency: 1,
      timeoutGrace: 2,
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const loop = w.start();
    await until(async () => (await queue.getStatus(stuck))?.status === "running");
    await settle(); // and the worker has handled what it claimed (its timers set)
    await clock.tick(1000);
    await until(async () => (await queue.getStatus(stuck))?.status === "timeout");
    assert.equal((await queue.getStatus(next))?.status, "pending", "the slot is still taken");
    await clock.tick(2000);
    await until(async () => (await queue.getStatus(next))?.status === "completed");
    assert.equal(w.counts.abandoned, 1);
    assert.ok(logs.some((l) => l.startsWith("error") && l.includes(stuck) && /abandoned/.test(l)));
    w.stop();
    await loop; // Stopping does not wait for the abandoned handler.
    w.close();
    queue.close();
  },
);

backendTest(
  "a live worker with a dead one's id does not keep the dead one's job running",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const hang = task("hang", () => new Promise(() => {}), { maxAttempts: 1 });
    const id = await hang.submit(queue, {});
    // The dead one: its clock never moves, so it never renews or times out.
    const dead = worker({ tasks: [hang], clock: new FakeClock(), lease: 10, workerId: "dup" });
    void dead.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const logs: string[] = [];
    const live = worker({
      tasks: [echo],
      lease: 10,
      workerId: "dup",
      pollInterval: 1,
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const loop = live.start();
    await settle();
    assert.ok(logs.some((l) => l.startsWith("warn") && /another worker with this id/.test(l)));
    for (let i = 0; i < 12; i++) await clock.tick(1000);
    await until(async () => (await queue.getStatus(id))?.status === "timeout");
    assert.match((await queue.getStatus(id))!.error!, /stopped renewing its lease/);
    live.stop();
    await loop;
    dead.close();
    live.close();
    queue.close();
  },
);

backendTest(
  "a dead worker's short job comes back at its timeout plus grace, not after the whole lease",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const hang = task("hang", () => new Promise(() => {}), { timeout: 3, maxAttempts: 2 });
    const id = await hang.submit(queue, {});
    const dead = worker({ tasks: [hang], clock: new FakeClock(), lease: 30, workerId: "dead" });
    void dead.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const job = await queue.getStatus(id);
    // Capped at timeout (3 s) + timeoutGrace (5 s) + the margin to write the outcome (3 s).
    assert.equal(Date.parse(job!.leaseUntil!) - Date.parse(job!.startedAt!), 11_000);
    const live = worker({ tasks: [echo], workerId: "live" });
    await clock.tick(11_001);
    await live.processOne();
    const after = await queue.getStatus(id);
    assert.equal(after?.status, "pending", "retried");
    assert.match(after!.executions[0].error!, /timed out after 3 seconds and worker dead did not/);
    dead.close();
    live.close();
    queue.close();
  },
);

backendTest(
  "a handler that returns after its deadline, having blocked the event loop, timed out",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const logs: string[] = [];
    const busy = task("busy", () => {
      clock.jump(8000); // Eight seconds of synchronous work.
      return "done";
    }, { timeout: 1, maxAttempts: 1 });
    const id = await busy.submit(queue, {});
    const w = worker({ tasks: [busy], lease: 2, logger: (level, m) => logs.push(`${level} ${m}`) });
    assert.equal(await w.processOne(), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "timeout");
    assert.equal(job?.result, null);
    assert.ok(
      logs.some((l) =>
        l.startsWith("error") && l.includes(id) && /event loop was blocked for 8\.0 s/.test(l) &&
        /WorkerPool/.test(l)
      ),
      logs.join("\n"),
    );
    w.close();
    queue.close();
  },
);

driverTest(
  "a worker whose database file is replaced logs it, reopens, and runs the new file's jobs",
  async ({ path, driver, dir }) => {
    const { queue: first, worker, clock } = setup(path, driver);
    await first.stats();
    first.close();
    const logs: string[] = [];
    const w = worker({
      tasks: [echo],
      pollInterval: 1,
      watch: false,
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const loop = w.start();
    await settle();
    // Another file, with a job, moved over the live one.
    const other = `${dir}/other.db`;
    const q2 = new JobQueue(other, { driver, clock });
    const id = await echo.submit(q2, "new file");
    q2.close();
    const { closeConnection } = await import("../mod.ts");
    closeConnection(other);
    Deno.renameSync(other, path);
    for (let i = 0; i < 50 && w.counts.completed === 0; i++) await clock.tick(1000);
    assert.ok(logs.some((l) => /^error .*was replaced while in use/.test(l)), logs.join("\n"));
    w.stop();
    await loop;
    w.close();
    const q3 = new JobQueue(path, { driver });
    assert.equal((await q3.getStatus(id))?.status, "completed", logs.join("\n"));
    q3.close();
  },
);

backendTest(
  "a stop signal that arrives while the worker opens the file (a long migration) claims nothing",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const id = await echo.submit(queue, "x");
    queue.close();
    const { closeConnections } = await import("../mod.ts");
    closeConnections();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_stop_while_opening.ts", import.meta.url).pathname,
        path,
        driver ?? "",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(JSON.parse(text).processed, 0, text);
    const check = new JobQueue(path, { driver });
    const job = await check.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 0);
    check.close();
  },
);

backendTest(
  "a late finish is warned about only when the handler ignored its abort signal",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const logs: string[] = [];
    let finish: (() => void) | undefined;
    const polite = task("polite", (_p: unknown, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }), { timeout: 1, maxAttempts: 1 });
    const rude = task("rude", () => new Promise<string>((r) => finish = () => r("late")), {
      timeout: 1,
      maxAttempts: 1,
    });
    const a = await polite.submit(queue, {});
    const b = await rude.submit(queue, {});
    const w = worker({
      tasks: [polite, rude],
      concurrency: 2,
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const loop = w.start();
    await until(async () => (await queue.stats()).running === 2);
    await settle(); // and the worker has handled what it claimed (its timers set)
    await clock.tick(1000);
    finish!();
    await until(async () => (await queue.stats()).timeout === 2);
    await settle();
    const warned = logs.filter((l) => l.startsWith("warn"));
    assert.equal(warned.filter((l) => l.includes(a)).length, 0, warned.join("\n"));
    assert.equal(
      warned.filter((l) => l.includes(b) && /returned after it timed out/.test(l)).length,
      1,
    );
    w.stop();
    await loop;
    w.close();
    queue.close();
  },
);

driverTest(
  "a Worker logs one info line per failed or timed-out attempt and one debug line per other outcome",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const logs: string[] = [];
    const flaky = task("flaky", () => {
      throw new Error("first line\nsecond line");
    }, { maxAttempts: 2, retryDelay: 5 });
    const timed = task("timed", (_p: unknown, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
      }), { timeout: 1, maxAttempts: 1 });
    const bad = task("bad", () => 10n as unknown as number);
    const quick = task("quick", () => {
      clock.jump(1500); // the attempt takes 1.5 s of the worker's clock
      return 1;
    });
    const w = worker({
      tasks: [flaky, timed, bad, quick],
      logger: (level, m) => logs.push(`${level} ${m}`),
    });
    const attempts = () => logs.filter((l) => / attempt /.test(l));

    const a = await flaky.submit(queue, {});
    assert.equal(await w.processOne(), true);
    await clock.tick(5000);
    assert.equal(await w.processOne(), true);
    assert.deepEqual(attempts(), [
      `info job ${a} (flaky): attempt 1/2 failed, retrying in 5 s: first line`,
      `info job ${a} (flaky): attempt 2/2 failed, no attempts left: first line`,
    ]);

    // Exponential backoff: the store draws the jittered wait; the line gives its range.
    logs.length = 0;
    const x = await queue.submit(
      new Job({ task: flaky, backoff: "exponential", retryDelay: 4, maxAttempts: 3 }),
    );
    assert.equal(await w.processOne(), true);
    await clock.tick(4000);
    assert.equal(await w.processOne(), true);
    assert.deepEqual(attempts(), [
      `info job ${x} (flaky): attempt 1/3 failed, retrying in 2–4 s: first line`,
      `info job ${x} (flaky): attempt 2/3 failed, retrying in 4–8 s: first line`,
    ]);
    await clock.tick(8000);
    assert.equal(await w.processOne(), true);

    logs.length = 0;
    const b = await timed.submit(queue, {});
    const running = w.processOne();
    await until(async () => (await queue.stats()).running === 1);
    await clock.tick(1000);
    assert.equal(await running, true);
    assert.deepEqual(attempts(), [
      `info job ${b} (timed): attempt 1/1 timed out, no attempts left: Job timed out after 1 seconds`,
    ]);

    logs.length = 0;
    const c = await bad.submit(queue, {});
    assert.equal(await w.processOne(), true);
    assert.equal(attempts().length, 1, logs.join("\n"));
    assert.match(
      attempts()[0],
      new RegExp(
        `^info job ${c} \\(bad\\): attempt 1/3 failed, not retried \\(it would fail ` +
          `the same way\\): TypeError: Task "bad" returned a bad result: result is 10n`,
      ),
    );

    logs.length = 0;
    const d = await quick.submit(queue, {});
    assert.equal(await w.processOne(), true);
    assert.deepEqual(attempts(), [`debug job ${d} (quick): attempt 1/3 completed in 1500 ms`]);

    logs.length = 0;
    const e = await timed.submit(queue, {});
    const loop = w.start();
    await until(async () => (await queue.stats()).running === 1);
    w.stop({ grace: 0 });
    await loop;
    assert.deepEqual(attempts(), [
      `debug job ${e} (timed): attempt 1/1 released (not counted): Released: worker ${w.id} ` +
      `stopped before the attempt finished`,
    ]);
    w.close();
    queue.close();
  },
);

Deno.test("the default logger drops the per-attempt lines (info and debug)", () => {
  const calls: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => calls.push(args);
  try {
    defaultLogger("info", "job x (y): attempt 1/1 failed, no attempts left: boom");
    defaultLogger("debug", "job x (y): attempt 1/1 completed in 1 ms");
  } finally {
    console.error = original;
  }
  assert.deepEqual(calls, []);
});

backendTest(
  "a handler that throws NoRetryError ends its job failed at once, whatever attempts are left",
  async ({ path, driver }) => {
    const { queue, worker, clock } = setup(path, driver);
    const logs: string[] = [];
    class Bounced extends NoRetryError {}
    // What a NoRetryError of another copy of GigQ looks like: only the registered mark.
    class Foreign extends Error {}
    Object.defineProperty(Foreign.prototype, Symbol.for("gigq.noRetry"), { value: true });
    const thrown: Record<string, () => Error> = {
      plain: () => new NoRetryError("address a@b bounced"),
      sub: () => new Bounced("gone"),
      foreign: () => new Foreign("foreign"),
      retried: () => new Error("flaky"),
    };
    const mail = task("mail", (p: { kind: string }) => {
      throw thrown[p.kind]();
    }, { maxAttempts: 5, retryDelay: 10 });
    const child = task("child", () => null);
    const w = worker({ tasks: [mail, child], logger: (level, m) => logs.push(`${level} ${m}`) });
    const ids: Record<string, string> = {};
    for (const kind of Object.keys(thrown)) ids[kind] = await mail.submit(queue, { kind });
    const dependent = await child.submit(queue, {}, { dependencies: [ids.plain] });
    for (let i = 0; i < 4; i++) assert.equal(await w.processOne(), true);
    assert.equal(await w.processOne(), false, "nothing is ready: no retry was scheduled at once");

    for (const kind of ["plain", "sub", "foreign"]) {
      const job = await queue.getStatus(ids[kind]);
      assert.equal(job?.status, "failed", kind);
      assert.equal(job?.attempts, 1, kind);
      assert.deepEqual(job?.executions.map((e) => e.status), ["failed"]);
    }
    assert.equal((await queue.getStatus(ids.plain))?.error, "NoRetryError: address a@b bounced");
    assert.equal((await queue.getStatus(ids.sub))?.error, "NoRetryError: gone");
    const answer = await why(queue, ids.plain, { now: clock.now() });
    assert.equal(answer.reason, "failed");
    assert.equal(
      answer.message,
      "failed after 1 of 5 attempts, not retried: NoRetryError: address a@b bounced",
    );
    // Its dependent is cancelled as for any failure.
    const dep = await queue.getStatus(dependent);
    assert.equal(dep?.status, "cancelled");
    assert.equal(dep?.error, `Cancelled: dependency ${ids.plain} failed`);
    // Any other error is retried.
    const retried = await queue.getStatus(ids.retried);
    assert.equal(retried?.status, "pending");
    assert.equal(Date.parse(retried!.runAt) - clock.now(), 10_000);
    assert.ok(
      logs.includes(
        `info job ${ids.plain} (mail): attempt 1/5 failed, not retried (the handler threw a ` +
          `NoRetryError): NoRetryError: address a@b bounced`,
      ),
      logs.join("\n"),
    );
    assert.equal((await queue.stats()).failed, 3);
    w.close();
    queue.close();
  },
);
