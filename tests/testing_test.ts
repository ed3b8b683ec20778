/** The testing kit (testing.ts): VirtualClock's advance and drain, on every backend. */
import assert from "node:assert/strict";
import { JobQueue, task, Worker } from "../mod.ts";
import { drain, VirtualClock } from "../testing.ts";
import { backendTest } from "./_backends.ts";

const START = "2026-01-01T00:00:00Z";

backendTest(
  "advance fires a delayed job, a retry's backoff and a handler's timeout at their times",
  async ({ target, options }) => {
    const clock = new VirtualClock(START);
    const t0 = clock.now();
    const starts: number[] = [];
    const work = task("work", async (_p: unknown, ctx) => {
      starts.push((clock.now() - t0) / 1000);
      if (ctx.attempt === 1) throw new Error("first fails");
      if (ctx.attempt === 2) await clock.sleep(3600, ctx.signal); // times out at 60 s
      return ctx.attempt;
    }, { maxAttempts: 3, retryDelay: 600, timeout: 60 });
    const queue = new JobQueue(target, { ...options, clock });
    const worker = new Worker(target, { ...options, tasks: [work], clock, watch: false });
    const running = worker.start();
    try {
      const id = await work.submit(queue, {}, { runAt: t0 + 120_000 });
      await clock.advance(119);
      assert.deepEqual(starts, [], "not before its runAt");
      await clock.advance(1);
      assert.deepEqual(starts, [120]);
      await clock.advance(599);
      assert.deepEqual(starts, [120], "the retry waits its 600 s");
      await clock.advance(1);
      assert.deepEqual(starts, [120, 720]);
      assert.equal((await queue.getStatus(id))?.status, "running");
      await clock.advance(60);
      const timedOut = await queue.getStatus(id);
      assert.equal(timedOut?.status, "pending");
      assert.match(timedOut?.error ?? "", /timed out after 60 seconds/);
      await clock.advance(600);
      assert.deepEqual(starts, [120, 720, 1380]);
      const done = await queue.getStatus(id);
      assert.equal(done?.status, "completed");
      assert.equal(done?.result, 3);
    } finally {
      worker.stop();
      await running;
      worker.close();
      queue.close();
    }
  },
);

backendTest(
  "advance fires a cron schedule's slots, one job per hour",
  async ({ target, options }) => {
    const clock = new VirtualClock(START);
    const ran: string[] = [];
    const tick = task("tick", () => void ran.push(new Date(clock.now()).toISOString()));
    const queue = new JobQueue(target, { ...options, clock });
    // Polls every 10 minutes: the slots fire on the scheduler's own timers, at their times.
    const worker = new Worker(target, {
      ...options,
      tasks: [tick],
      clock,
      watch: false,
      pollInterval: 600,
    });
    await queue.schedule({ name: "hourly", cron: "0 * * * *", task: tick });
    const running = worker.start();
    try {
      await clock.advance(3 * 3600 + 1);
      assert.deepEqual(ran, [
        "2026-01-01T01:00:00.000Z",
        "2026-01-01T02:00:00.000Z",
        "2026-01-01T03:00:00.000Z",
      ]);
    } finally {
      worker.stop();
      await running;
      worker.close();
      queue.close();
    }
  },
);

backendTest(
  "advance lets a lease lapse: a job whose worker stopped renewing runs again elsewhere",
  async ({ target, options }) => {
    const clock = new VirtualClock(START);
    let calls = 0;
    const hang = task("hang", async (_p: unknown, ctx) => {
      calls++;
      if (calls === 1) await new Promise(() => {}); // never settles, ignores its signal
      return ctx.attempt;
    }, { maxAttempts: 2, retryDelay: 0, timeout: 600 });
    const queue = new JobQueue(target, { ...options, clock });
    const id = await hang.submit(queue, {});
    // A worker that claims it and then is gone without a word (its timers never fire again).
    const lost = new VirtualClock(START);
    const gone = new Worker(target, { ...options, tasks: [hang], clock: lost, lease: 30 });
    void gone.processOne();
    await lost.advance(0);
    assert.equal((await queue.getStatus(id))?.status, "running");
    const worker = new Worker(target, { ...options, tasks: [hang], clock, watch: false });
    const running = worker.start();
    try {
      await clock.advance(29);
      assert.equal(calls, 1, "the lease still holds");
      await clock.advance(6);
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "completed");
      assert.equal(job?.result, 2);
    } finally {
      worker.stop();
      await running;
      worker.close();
      gone.close();
      queue.close();
    }
  },
);

backendTest(
  "drain runs jobs as their dependencies complete, and reports each attempt",
  async ({ target, options }) => {
    const clock = new VirtualClock(START);
    const add = task("add", (p: { n: number }, ctx) => {
      const parents = Object.values(ctx.parentResults) as number[];
      return parents.reduce((a, b) => a + b, p.n);
    });
    const boom = task("boom", () => {
      throw new Error("boom");
    }, { maxAttempts: 2, retryDelay: 60 });
    const queue = new JobQueue(target, { ...options, clock });
    try {
      const a = add.toJob({ n: 1 });
      const b = add.toJob({ n: 2 }, { dependencies: [a] });
      const c = add.toJob({ n: 3 }, { dependencies: [b] });
      const [ia, ib, ic] = await queue.submitMany([a, b, c]);
      const ix = await boom.submit(queue, {});
      const ran = await drain(queue, { tasks: [add, boom] });
      const byId = new Map(ran.map((r) => [r.id, r]));
      assert.equal(ran.length, 4);
      assert.deepEqual([ia, ib, ic].map((id) => byId.get(id)?.result), [1, 3, 6]);
      assert.ok(ran.findIndex((r) => r.id === ib) < ran.findIndex((r) => r.id === ic));
      assert.deepEqual(byId.get(ix), {
        id: ix,
        name: "boom",
        queue: "default",
        attempt: 1,
        status: "pending",
        error: "boom",
      });
      await clock.advance(60);
      const again = await drain(queue, { tasks: [boom] });
      assert.deepEqual(again.map((r) => [r.id, r.attempt, r.status]), [[ix, 2, "failed"]]);
      assert.equal((await queue.getStatus(ix))?.status, "failed");
    } finally {
      queue.close();
    }
  },
);

Deno.test("VirtualClock refuses bad input, naming it", async () => {
  assert.throws(() => new VirtualClock("yesterday"), /start must be a Date.*got "yesterday"/);
  const clock = new VirtualClock(START);
  await assert.rejects(
    () => clock.advance(-1),
    /seconds must be a finite number of at least 0, got -1/,
  );
  await assert.rejects(() => clock.advance(NaN), /got NaN/);
  assert.equal(clock.now(), Date.parse(START), "a refused advance moves nothing");
  const first = clock.advance(1);
  await assert.rejects(() => clock.advance(1), /already being advanced/);
  await first;
  assert.equal(clock.now(), Date.parse(START) + 1000);
});

Deno.test("drain refuses what is not a queue, and unknown options", async () => {
  await assert.rejects(() => drain({} as JobQueue, { tasks: [] }), /expected a JobQueue/);
  const queue = new JobQueue(":memory:");
  try {
    await assert.rejects(
      () => drain(queue, { tasks: [], tsks: [] } as never),
      /tsks/,
    );
  } finally {
    queue.close();
  }
});
