/** Queue settings and the limits the claim obeys (concurrency, per-key, rate), on every backend. */
import assert from "node:assert/strict";
import { Job, JobQueue, task, why, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock, until } from "./_helpers.ts";
import { noop } from "./_tasks.ts";

const quiet = (...a: unknown[]) => {
  if (Deno.env.get("DBG")) console.log(...a);
};

/** A task whose jobs run until released, recording how many run at once, per key and in all. */
function gated(name: string) {
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => release = r);
  const now = { all: 0, byKey: new Map<string, number>() };
  const max = { all: 0, byKey: new Map<string, number>() };
  const seen: string[] = [];
  const t = task(name, async (p: { key?: string }) => {
    const key = p.key ?? "";
    now.all++;
    now.byKey.set(key, (now.byKey.get(key) ?? 0) + 1);
    max.all = Math.max(max.all, now.all);
    max.byKey.set(key, Math.max(max.byKey.get(key) ?? 0, now.byKey.get(key)!));
    seen.push(key);
    await gate;
    now.all--;
    now.byKey.set(key, now.byKey.get(key)! - 1);
    return key;
  });
  return {
    task: t,
    now,
    max,
    seen,
    /** Lets every job waiting at the gate finish, and closes it behind them. */
    open() {
      const r = release;
      gate = new Promise<void>((res) => release = res);
      r();
    },
    /** Opens the gate for good. */
    free() {
      gate = Promise.resolve();
      release();
    },
  };
}

backendTest(
  "configureQueue stores settings, merges later calls, is idempotent, and lists them in queues()",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const first = await queue.configureQueue("emails", { concurrency: 5 });
    assert.deepEqual(first, {
      concurrency: 5,
      keyConcurrency: null,
      rateLimit: null,
      keepCompleted: 7 * 86_400,
      keepFailed: 30 * 86_400,
    });
    const second = await queue.configureQueue("emails", {
      rateLimit: { max: 100, perSeconds: 60 },
      keepCompleted: 3600,
      keepFailed: Infinity,
    });
    assert.deepEqual(second, {
      concurrency: 5,
      keyConcurrency: null,
      rateLimit: { max: 100, perSeconds: 60 },
      keepCompleted: 3600,
      keepFailed: Infinity,
    });
    assert.deepEqual(
      await queue.configureQueue("emails", { rateLimit: { max: 100, perSeconds: 60 } }),
      second,
      "the same settings again change nothing",
    );
    await queue.pause("emails");
    const cleared = await queue.configureQueue("emails", { concurrency: null, keepFailed: null });
    assert.equal(cleared.concurrency, null);
    assert.equal(cleared.keepFailed, 30 * 86_400);
    queue.close();
    // Stored: another queue object (a restart) reads them, and the pause survived the configure.
    const again = new JobQueue(target, options);
    const [emails] = (await again.queues()).filter((q) => q.name === "emails");
    assert.equal(emails.paused, true);
    assert.deepEqual(emails.settings, { ...cleared });
    again.close();
  },
);

backendTest(
  "bad settings are refused naming the field and what is allowed, and nothing is stored",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const bad: [unknown, RegExp][] = [
      [{ concurrency: 0 }, /concurrency must be a whole number from 1 to 1000000 .*got 0/],
      [{ concurrency: 2.5 }, /concurrency must be a whole number/],
      [{ keyConcurrency: "1" }, /keyConcurrency must be a whole number .*got "1"/],
      [{ rateLimit: { max: 10 } }, /rateLimit.perSeconds must be a number of seconds/],
      [{ rateLimit: { max: 0, perSeconds: 1 } }, /rateLimit.max must be a whole number/],
      [{ rateLimit: { max: 1, perSeconds: 1, burst: 2 } }, /unknown rateLimit field "burst"/],
      [{ keepCompleted: -1 }, /keepCompleted must be a whole number of seconds from 0/],
      [{ concurency: 3 }, /unknown setting "concurency" \(allowed: concurrency, /],
      [null, /the settings must be an object/],
    ];
    for (const [config, message] of bad) {
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        () => queue.configureQueue("emails", config as any),
        (e: Error) =>
          (e instanceof TypeError || e instanceof RangeError) && message.test(e.message),
        `${JSON.stringify(config)} refused`,
      );
    }
    await assert.rejects(() => queue.configureQueue("", { concurrency: 1 }), TypeError);
    assert.deepEqual(await queue.queues(), [], "nothing was stored");
    queue.close();
  },
);

backendTest(
  "concurrency is global: two workers of concurrency 10 run at most 3 of the queue's jobs at once",
  async ({ target, options }) => {
    const g = gated("gated");
    const queue = new JobQueue(target, options);
    await queue.configureQueue("limited", { concurrency: 3 });
    const ids = await queue.submitMany(
      Array.from({ length: 12 }, () => new Job({ task: g.task, params: {}, queue: "limited" })),
    );
    const other = await queue.submit(new Job({ task: g.task, params: { key: "free" } }));
    const workers = [1, 2].map(() =>
      new Worker(target, {
        ...options,
        tasks: [g.task],
        concurrency: 10,
        pollInterval: 0.05,
        logger: quiet,
      })
    );
    const runs = workers.map((w) => w.start());
    await until(async () => (await queue.stats({ queue: "limited" })).running === 3);
    await until(async () => (await queue.getStatus(other))?.status === "running");
    assert.equal((await queue.stats({ queue: "limited" })).pending, 9);
    for (let round = 0; round < 4; round++) {
      // All three at the gate (a handler that reaches it after open() waits for the next one).
      await until(() => g.now.byKey.get("") === 3);
      g.open();
      await until(async () => (await queue.stats({ queue: "limited" })).completed >= 3 * round + 3);
    }
    g.free();
    await until(async () => (await queue.stats({ queue: "limited" })).completed === 12);
    assert.equal(g.max.byKey.get(""), 3, "never more than 3 of the limited queue at once");
    for (const w of workers) w.stop();
    await Promise.all(runs);
    assert.equal(ids.length, 12);
    queue.close();
  },
);

backendTest(
  "keyConcurrency: at most one running job per key, and a busy key does not hold back the others",
  async ({ target, options }) => {
    const g = gated("keyed");
    const queue = new JobQueue(target, options);
    await queue.configureQueue("tenants", { keyConcurrency: 1 });
    // Tenant 0's backlog comes first: head-of-line blocking would starve the rest behind it.
    const jobs: Job[] = [];
    for (let i = 0; i < 30; i++) {
      jobs.push(
        new Job({ task: g.task, params: { key: "t0" }, queue: "tenants", concurrencyKey: "t0" }),
      );
    }
    for (let k = 1; k < 5; k++) {
      for (let i = 0; i < 3; i++) {
        jobs.push(
          new Job({
            task: g.task,
            params: { key: `t${k}` },
            queue: "tenants",
            concurrencyKey: `t${k}`,
          }),
        );
      }
    }
    await queue.submitMany(jobs);
    const worker = new Worker(target, {
      ...options,
      tasks: [g.task],
      concurrency: 10,
      pollInterval: 0.05,
      logger: quiet,
    });
    const run = worker.start();
    await until(() => g.now.all === 5);
    assert.deepEqual([...g.now.byKey.values()], [1, 1, 1, 1, 1], "all five keys run at once");
    g.free();
    await until(async () => (await queue.stats({ queue: "tenants" })).completed === 42);
    for (const [key, n] of g.max.byKey) assert.equal(n, 1, `key ${key} ran one at a time`);
    worker.stop();
    await run;
    queue.close();
  },
);

backendTest(
  "rateLimit: jobs over the limit wait (not failed) until the window moves; why says until when",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    await queue.configureQueue("api", { rateLimit: { max: 2, perSeconds: 10 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await noop.submit(queue, { n: i }, { queue: "api" }));
    const worker = new Worker(target, { ...options, tasks: [noop], clock, logger: quiet });
    assert.equal(await worker.processOne(), true);
    clock.jump(4000);
    assert.equal(await worker.processOne(), true);
    assert.equal(await worker.processOne(), false, "a third start within 10 s waits");
    const answer = await why(queue, ids[2]);
    assert.equal(answer.reason, "limited");
    assert.match(answer.message, /rate limit of 2 starts per 10 s/);
    assert.equal(answer.until, "2026-01-01T12:00:10.000Z", "when the first start leaves");
    assert.equal((await queue.getStatus(ids[2]))?.status, "pending");
    clock.jump(6000); // t = 10 s: the first start (t = 0) leaves the window
    assert.equal(await worker.processOne(), true);
    assert.equal(await worker.processOne(), false, "starts at 4 s and 10 s fill the window");
    clock.jump(4000); // t = 14 s: the start at 4 s leaves
    assert.equal(await worker.processOne(), true);
    assert.equal(await worker.processOne(), false);
    clock.jump(6000); // t = 20 s
    assert.equal(await worker.processOne(), true);
    assert.equal((await queue.stats({ queue: "api" })).completed, 5);
    worker.close();
    queue.close();
  },
);

backendTest(
  "concurrency and key limits are told by why; lifting a limit frees the queue at once",
  async ({ target, options }) => {
    const g = gated("held");
    const queue = new JobQueue(target, options);
    await queue.configureQueue("one", { concurrency: 1 });
    const a = await queue.submit(new Job({ task: g.task, params: {}, queue: "one" }));
    const b = await queue.submit(new Job({ task: g.task, params: {}, queue: "one" }));
    const worker = new Worker(target, {
      ...options,
      tasks: [g.task],
      concurrency: 4,
      pollInterval: 0.05,
      logger: quiet,
    });
    const run = worker.start();
    await until(async () => (await queue.getStatus(a))?.status === "running");
    const answer = await why(queue, b);
    assert.equal(answer.reason, "limited");
    assert.match(answer.message, /concurrency limit of 1 \(1 of its jobs running\)/);
    await queue.configureQueue("one", { concurrency: null });
    await until(async () => (await queue.getStatus(b))?.status === "running");
    g.free();
    await until(async () => (await queue.stats({ queue: "one" })).completed === 2);
    worker.stop();
    await run;
    queue.close();
  },
);

backendTest(
  "a job's concurrencyKey is stored, shown in its status, and validated like a unique key",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const id = await queue.submit(
      new Job({ task: noop, params: {}, queue: "q", concurrencyKey: "tenant:7" }),
    );
    assert.equal((await queue.getStatus(id))?.concurrencyKey, "tenant:7");
    assert.equal((await queue.listJobs({ queue: "q" }))[0].concurrencyKey, "tenant:7");
    assert.throws(
      () => new Job({ task: noop, params: {}, concurrencyKey: "" }),
      /concurrencyKey must be a string of 1 to 1000 characters/,
    );
    queue.close();
  },
);

backendTest(
  "rateLimit holds when claims' times arrive out of order (a claim read its time before another's)",
  async ({ target, options }) => {
    const start = Date.parse("2026-01-01T12:00:00Z");
    const early = new FakeClock(start);
    const late = new FakeClock(start + 10_500);
    const queue = new JobQueue(target, { ...options, clock: early });
    await queue.configureQueue("api", { rateLimit: { max: 2, perSeconds: 10 } });
    for (let i = 0; i < 3; i++) await noop.submit(queue, { n: i }, { queue: "api" });
    const other = task("other", () => null);
    const a = new Worker(target, { ...options, tasks: [noop], clock: early, logger: quiet });
    const b = new Worker(target, { ...options, tasks: [other], clock: late, logger: quiet });
    assert.equal(await a.processOne(), true); // a start at 0 s
    early.jump(1000);
    assert.equal(await a.processOne(), true); // and at 1 s
    // A worker whose clock reads 10.5 s claims from the queue (nothing of its task is there):
    // the start at 0 s must still count for a claim made at 2 s.
    assert.equal(await b.processOne(), false);
    early.jump(1000);
    assert.equal(await a.processOne(), false, "a third start within 10 s of the first");
    early.jump(8000); // 10 s: the first start leaves the window
    assert.equal(await a.processOne(), true);
    a.close();
    b.close();
    queue.close();
  },
);
