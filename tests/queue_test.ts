import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  closeConnections,
  getConnection,
  Job,
  JobNotFoundError,
  JobQueue,
  JobStatus,
  NoQueueError,
  QueueClosedError,
  ReadOnlyQueueError,
  task,
  Worker,
} from "../mod.ts";
import { dbHash, driverTest, FakeClock, fileHash, until } from "./_helpers.ts";
import { backendTest } from "./_backends.ts";
import { makeDirReadOnly } from "./_read_only.ts";
import { withJobId } from "../src/job.ts";

const echo = task("echo", (p: unknown) => p);
const boom = task("boom", () => {
  throw new Error("kaboom");
}, { maxAttempts: 1 });

backendTest(
  "JobQueue.submit() stores a pending job that getStatus() reports in full",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const id = await queue.submit(
      new Job({
        task: echo,
        name: "first",
        params: { a: 1, s: "ü" },
        priority: 7,
        maxAttempts: 4,
        timeout: 12.5,
        retryDelay: 3,
        backoff: "exponential",
        description: "desc",
      }),
    );
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const job = await queue.getStatus(id);
    const created = new Date(clock.now()).toISOString();
    assert.deepEqual(job, {
      id,
      name: "first",
      task: "echo",
      module: null,
      status: "pending",
      params: { a: 1, s: "ü" },
      dependencies: [],
      priority: 7,
      attempts: 0,
      maxAttempts: 4,
      timeout: 12.5,
      retryDelay: 3,
      backoff: "exponential",
      description: "desc",
      result: null,
      error: null,
      workerId: null,
      createdAt: created,
      updatedAt: created,
      startedAt: null,
      completedAt: null,
      runAt: created,
      leaseUntil: null,
      cancelledBy: null,
      queue: "default",
      uniqueKey: null,
      concurrencyKey: null,
      progress: null,
      maxRetryDelay: 86_400,
      executions: [],
      children: [],
    });
    queue.close();
  },
);

backendTest(
  "task defaults apply to jobs; per-job options override them",
  async ({ path, driver }) => {
    const t = task("t", () => 1, { priority: 3, maxAttempts: 9, timeout: 5, description: "d" });
    const queue = new JobQueue(path, { driver });
    const a = await queue.getStatus(await t.submit(queue, {}));
    assert.equal(a?.priority, 3);
    assert.equal(a?.maxAttempts, 9);
    assert.equal(a?.timeout, 5);
    assert.equal(a?.description, "d");
    assert.equal(a?.name, "t");
    const b = await queue.getStatus(await t.submit(queue, {}, { priority: -1, name: "other" }));
    assert.equal(b?.priority, -1);
    assert.equal(b?.maxAttempts, 9);
    assert.equal(b?.name, "other");
    queue.close();
  },
);

backendTest(
  "getStatus() is undefined and getResult() throws JobNotFoundError for an unknown id",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    assert.equal(await queue.getStatus("nope"), undefined);
    await assert.rejects(
      () => queue.getResult("nope"),
      (e: Error) =>
        e instanceof JobNotFoundError && e.jobId === "nope" && e.message.includes('"nope"'),
    );
    queue.close();
  },
);

backendTest(
  "getResult() is undefined until completed, then the value (including null and 0)",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const zero = await echo.submit(queue, 0);
    const nil = await echo.submit(queue, null);
    assert.equal(await queue.getResult(zero), undefined);
    const worker = new Worker(path, { tasks: [echo], driver });
    while (await worker.processOne()) { /* drain */ }
    assert.equal(await queue.getResult(zero), 0);
    assert.equal(await queue.getResult(nil), null);
    worker.close();
    queue.close();
  },
);

backendTest(
  "listJobs() lists newest first, filters by status, honours limit",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await echo.submit(queue, { i }));
    assert.deepEqual((await queue.listJobs()).map((j) => j.id), ids.toReversed());
    assert.deepEqual(
      (await queue.listJobs({ limit: 2 })).map((j) => j.id),
      ids.toReversed().slice(0, 2),
    );
    assert.deepEqual(await queue.listJobs({ limit: 0 }), []);
    assert.equal(await queue.cancel(ids[1]), true);
    const cancelled = await queue.listJobs({ status: JobStatus.CANCELLED });
    assert.deepEqual(cancelled.map((j) => j.id), [ids[1]]);
    assert.equal((await queue.listJobs({ status: "pending" })).length, 4);
    assert.equal("executions" in cancelled[0], false);
    queue.close();
  },
);

backendTest(
  "listJobs() refuses an unknown status and a bad limit with the value named",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => queue.listJobs({ status: "done" as any }),
      (e: Error) =>
        e instanceof RangeError && e.message.includes('"done"') && e.message.includes("pending"),
    );
    await assert.rejects(
      () => queue.listJobs({ limit: -1 }),
      (e: Error) => e instanceof RangeError && e.message.includes("-1"),
    );
    await assert.rejects(
      () => queue.listJobs({ limit: 1.5 }),
      (e: Error) => e instanceof RangeError && e.message.includes("1.5"),
    );
    queue.close();
  },
);

backendTest(
  "stats() counts every status in a fixed order, with the total",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    assert.deepEqual(await queue.stats(), {
      pending: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      timeout: 0,
      total: 0,
    });
    await echo.submit(queue, 1);
    const c = await echo.submit(queue, 2);
    await boom.submit(queue, {});
    await queue.cancel(c);
    const worker = new Worker(path, { tasks: [echo, boom], driver });
    while (await worker.processOne()) { /* drain */ }
    const stats = await queue.stats();
    assert.deepEqual(Object.keys(stats), [
      "pending",
      "running",
      "completed",
      "failed",
      "cancelled",
      "timeout",
      "total",
    ]);
    assert.deepEqual(stats, {
      pending: 0,
      running: 0,
      completed: 1,
      failed: 1,
      cancelled: 1,
      timeout: 0,
      total: 3,
    });
    worker.close();
    queue.close();
  },
);

driverTest(
  "stats() and listJobs() agree with a plain count for jobs in every state",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    let started = 0;
    const hang = task("hang", () => new Promise(() => started++), { timeout: 1, maxAttempts: 1 });
    const ready = echo.toJob("ready");
    const later = echo.toJob("later", { runAt: clock.now() + 60_000 });
    const blocked = echo.toJob("blocked", { dependencies: [ready] });
    const blockedLater = echo.toJob("blocked later", {
      dependencies: [ready],
      runAt: clock.now() + 60_000,
    });
    await queue.submit(ready);
    await queue.submitMany([later, blocked, blockedLater]);
    // One of each ended state, and one running.
    const [timedOut, failed, done, cancelled, running] = await queue.submitMany([
      hang.toJob({}, { priority: 9 }),
      boom.toJob({}, { priority: 8 }),
      echo.toJob("done", { priority: 7 }),
      echo.toJob("cancelled"),
      hang.toJob({}, { priority: 6, timeout: 3600 }),
    ]);
    await queue.cancel(cancelled);
    const worker = new Worker(path, { tasks: [echo, boom, hang], driver, clock });
    const first = worker.processOne();
    await until(() => started === 1);
    await clock.tick(1_000);
    await first;
    await worker.processOne();
    await worker.processOne();
    void worker.processOne(); // hangs: stays running
    await until(() => started === 2);
    const conn = getConnection(path, { driver });
    const byStatus = (status: string) =>
      conn.prepare("SELECT id FROM gigq_jobs WHERE status = ? ORDER BY seq DESC").values(status)
        .map((r) => r[0]);
    const stats = await queue.stats();
    const expected = { total: 0 } as Record<string, number>;
    for (const status of Object.values(JobStatus)) {
      const ids = byStatus(status);
      expected[status] = ids.length;
      expected.total += ids.length;
      assert.deepEqual((await queue.listJobs({ status })).map((j) => j.id), ids, status);
    }
    assert.deepEqual(stats, expected);
    assert.deepEqual(
      [stats.pending, stats.running, stats.completed, stats.failed, stats.cancelled],
      [4, 1, 1, 1, 1],
    );
    assert.deepEqual(byStatus("timeout"), [timedOut]);
    assert.deepEqual([byStatus("failed"), byStatus("running")], [[failed], [running]]);
    assert.equal((await queue.getStatus(done))?.status, "completed");
    worker.close();
    queue.close();
  },
);

backendTest(
  "cancel() cancels a pending job, not an ended one, and sets completedAt",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const id = await echo.submit(queue, 1);
    assert.equal(await queue.cancel("unknown"), false);
    assert.equal(await queue.cancel(id), true);
    assert.equal(await queue.cancel(id), false);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "cancelled");
    assert.equal(job?.completedAt, new Date(clock.now()).toISOString());
    const done = await echo.submit(queue, 2);
    const worker = new Worker(path, { tasks: [echo], driver, clock });
    await worker.processOne();
    assert.equal(await queue.cancel(done), false);
    assert.equal((await queue.getStatus(done))?.status, "completed");
    worker.close();
    queue.close();
  },
);

backendTest(
  "requeue() resets a failed job's attempts, error and stale fields",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const id = await boom.submit(queue, {});
    const pending = await echo.submit(queue, 1);
    const worker = new Worker(path, { tasks: [boom, echo], driver, clock });
    await worker.processOne();
    let job = await queue.getStatus(id);
    assert.equal(job?.status, "failed");
    assert.equal(job?.attempts, 1);
    assert.equal(await queue.requeue(pending), false);
    assert.equal(await queue.requeue("unknown"), false);
    await clock.tick(1000);
    assert.equal(await queue.requeue(id), true);
    job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 0);
    assert.equal(job?.error, null);
    assert.equal(job?.startedAt, null);
    assert.equal(job?.completedAt, null);
    assert.equal(job?.runAt, new Date(clock.now()).toISOString());
    assert.equal(job?.executions.length, 1, "the earlier attempt stays in the history");
    assert.equal(await queue.requeue(id), false);
    while (await worker.processOne()) { /* drain */ }
    job = await queue.getStatus(id);
    assert.deepEqual(job?.executions.map((e) => [e.run, e.attempt, e.status]), [
      [1, 1, "failed"],
      [2, 1, "failed"],
    ]);
    worker.close();
    queue.close();
  },
);

driverTest(
  "clearCompleted() deletes completed and cancelled jobs and their executions",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const done = await echo.submit(queue, 1);
    const cancelled = await echo.submit(queue, 2);
    const failed = await boom.submit(queue, {});
    await queue.cancel(cancelled);
    const worker = new Worker(path, { tasks: [echo, boom], driver, clock });
    while (await worker.processOne()) { /* drain */ }
    await clock.tick(60_000);
    const pending = await echo.submit(queue, 3);
    assert.equal(await queue.clearCompleted({ before: new Date(clock.now() - 120_000) }), 0);
    assert.equal(await queue.clearCompleted({ before: new Date(clock.now()) }), 2);
    assert.equal(await queue.getStatus(done), undefined);
    assert.equal(await queue.getStatus(cancelled), undefined);
    assert.equal((await queue.getStatus(failed))?.status, "failed");
    assert.equal((await queue.getStatus(pending))?.status, "pending");
    const { getConnection } = await import("../mod.ts");
    const left = getConnection(path, { driver }).prepare("SELECT count(*) FROM gigq_executions")
      .values();
    assert.deepEqual(left, [[1]], "only the failed job's execution is left");
    assert.equal(await queue.clearCompleted(), 0);
    worker.close();
    queue.close();
  },
);

backendTest(
  "clearCompleted() keeps a completed job whose dependent has not run yet",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const parent = echo.toJob("p");
    const child = echo.toJob("c", { dependencies: [parent] });
    await queue.submitMany([parent, child]);
    const worker = new Worker(path, { tasks: [echo], driver });
    await worker.processOne();
    assert.equal((await queue.getStatus(parent.id))?.status, "completed");
    assert.equal(await queue.clearCompleted(), 0);
    await worker.processOne();
    const c = await queue.getStatus(child.id);
    assert.deepEqual(c?.result, "c");
    assert.equal(await queue.clearCompleted(), 2);
    worker.close();
    queue.close();
  },
);

backendTest("clearCompleted() refuses a bad cutoff", async ({ path, driver }) => {
  const queue = new JobQueue(path, { driver });
  await assert.rejects(() => queue.clearCompleted({ before: new Date("nope") }), RangeError);
  await assert.rejects(() => queue.clearCompleted({ before: "yesterday" }), /"yesterday"/);
  queue.close();
});

driverTest(
  "submitMany() is one transaction: a bad job leaves nothing behind",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, "before");
    const before = await dbHash(path);
    const good = echo.toJob(1);
    const orphan = echo.toJob(2, { dependencies: ["missing-id"] });
    await assert.rejects(
      () => queue.submitMany([good, orphan]),
      (e: Error) => e instanceof JobNotFoundError && e.message.includes('"missing-id"'),
    );
    assert.equal(await queue.getStatus(good.id), undefined);
    assert.equal((await queue.stats()).total, 1);
    assert.equal(await dbHash(path), before);
    assert.deepEqual(await queue.submitMany([]), []);
    queue.close();
  },
);

backendTest(
  "submitMany() returns ids in the given order and accepts later jobs as dependencies",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const a = echo.toJob("a");
    const b = echo.toJob("b", { dependencies: [a] });
    const c = echo.toJob("c");
    // b depends on a, which comes later in the list.
    const ids = await queue.submitMany([b, c, a]);
    assert.deepEqual(ids, [b.id, c.id, a.id]);
    assert.deepEqual((await queue.getStatus(b.id))?.dependencies, [a.id]);
    queue.close();
  },
);

backendTest(
  "submitMany() stores each job's own options, whether the batch's jobs differ or share them",
  async ({ path, driver }) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const queue = new JobQueue(path, { driver, clock });
    const other = task("other", () => {});
    const mixed = [
      echo.toJob({ n: 1 }, { priority: 5, queue: "mail", timeout: 7, description: "first" }),
      other.toJob({ n: 2 }, {
        maxAttempts: 9,
        retryDelay: 2.5,
        backoff: "fixed",
        maxRetryDelay: 40,
        runAt: clock.now() + 60_000,
      }),
      new Job({ task: "by-name", name: "third", params: [3], concurrencyKey: "tenant-1" }),
    ];
    const alike = Array.from(
      { length: 3 },
      (_, i) => echo.toJob({ i }, { runAt: i === 1 ? clock.now() + 5_000 : undefined }),
    );
    assert.deepEqual(await queue.submitMany(mixed), mixed.map((j) => j.id));
    assert.deepEqual(await queue.submitMany(alike), alike.map((j) => j.id));
    for (const job of [...mixed, ...alike]) {
      const got = (await queue.getStatus(job.id))!;
      assert.deepEqual(
        {
          name: got.name,
          task: got.task,
          params: got.params,
          status: got.status,
          priority: got.priority,
          maxAttempts: got.maxAttempts,
          timeout: got.timeout,
          retryDelay: got.retryDelay,
          backoff: got.backoff,
          maxRetryDelay: got.maxRetryDelay,
          description: got.description,
          queue: got.queue,
          concurrencyKey: got.concurrencyKey,
          runAt: Date.parse(got.runAt),
        },
        {
          name: job.name,
          task: job.task,
          params: job.params,
          status: "pending",
          priority: job.priority,
          maxAttempts: job.maxAttempts,
          timeout: job.timeout,
          retryDelay: job.retryDelay,
          backoff: job.backoff,
          maxRetryDelay: job.maxRetryDelay,
          description: job.description,
          queue: job.queue,
          concurrencyKey: job.concurrencyKey ?? null,
          runAt: job.runAt ?? clock.now(),
        },
        job.name,
      );
    }
    // Oldest first among equals: the alike batch's due jobs in the order given.
    const listed = await queue.listJobs({ queue: "default", limit: 10 });
    assert.deepEqual(
      listed.map((j) => j.id).reverse(),
      [mixed[1].id, mixed[2].id, ...alike.map((j) => j.id)],
    );
    queue.close();
  },
);

backendTest(
  "submitMany() refuses a dependency cycle and a job given twice",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const a = echo.toJob("a");
    const b = echo.toJob("b", { dependencies: [a] });
    const cyclic = new Job({ task: echo, name: "c", dependencies: [b] });
    // Make a depend on c by building a fresh a' that the cycle runs through.
    const a2 = new Job({ task: echo, name: "a2", dependencies: [] });
    const x = new Job({ task: echo, name: "x", dependencies: [a2] });
    await assert.rejects(() => queue.submitMany([a, a]), /appears twice/);
    // A real cycle needs a job that depends on a later one which depends back.
    const ring1 = new Job({ task: echo, name: "ring1", dependencies: [x.id] });
    const fakeX = Object.assign(Object.create(Job.prototype), x, { dependencies: [ring1.id] });
    await assert.rejects(
      () => queue.submitMany([ring1, fakeX]),
      (e: Error) =>
        e instanceof RangeError && /cycle/.test(e.message) && e.message.includes('"ring1"'),
    );
    assert.equal((await queue.stats()).total, 0);
    void cyclic;
    queue.close();
  },
);

backendTest(
  "submitMany() refuses two jobs given the same id (withJobId) in one batch, adding none",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const id = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";
    const first = withJobId(id, { task: "echo", name: "first" });
    const second = withJobId(id, { task: "echo", name: "second" });
    await assert.rejects(
      () => queue.submitMany([first, echo.toJob("other"), second]),
      (e: Error) => e instanceof RangeError && /"second".*appears twice/.test(e.message),
    );
    assert.equal((await queue.stats()).total, 0);
    // Apart, the second is the duplicate of the first.
    assert.deepEqual(await queue.submitMany([first]), [id]);
    await assert.rejects(() => queue.submitMany([second]), /already/);
    assert.equal((await queue.stats()).total, 1);
    queue.close();
  },
);

backendTest(
  "a dependency on a job id that does not exist is refused at submit",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await assert.rejects(
      () => echo.submit(queue, 1, { dependencies: ["no-such-job"] }),
      (e: Error) => e instanceof JobNotFoundError && e.jobId === "no-such-job",
    );
    assert.equal((await queue.stats()).total, 0);
    queue.close();
  },
);

backendTest("submitting the same Job twice is refused", async ({ path, driver }) => {
  const queue = new JobQueue(path, { driver });
  const job = echo.toJob(1);
  await queue.submit(job);
  await assert.rejects(
    () => queue.submit(job),
    (e: Error) =>
      e instanceof RangeError && e.message.includes(job.id) && /already/.test(e.message),
  );
  assert.equal((await queue.stats()).total, 1);
  queue.close();
});

backendTest(
  "submitMany() of a batch holding an already submitted Job refuses it by name and adds none",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const old = new Job({ task: "echo", name: "the old one", params: 0 });
    await queue.submit(old);
    // Large enough that plain jobs go many to a statement, with the old job in the middle.
    for (const at of [0, 70, 149]) {
      const jobs = Array.from({ length: 150 }, (_, i) => echo.toJob(i));
      jobs[at] = old;
      await assert.rejects(
        () => queue.submitMany(jobs),
        (e: Error) =>
          e instanceof RangeError && e.message.includes(old.id) &&
          e.message.includes('"the old one"') && /already submitted/.test(e.message),
      );
      assert.equal((await queue.stats()).total, 1, `old job at ${at}`);
    }
    queue.close();
  },
);

backendTest(
  "submitMany() keeps the batch's order across plain, keyed and named-queue jobs",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const jobs: Job[] = [];
    for (let i = 0; i < 300; i++) {
      jobs.push(
        i % 97 === 5
          ? echo.toJob(i, { uniqueKey: `k${i}` })
          : i % 89 === 7
          ? echo.toJob(i, { concurrencyKey: "c" })
          : echo.toJob(i, { queue: i % 3 === 0 ? "three" : i % 5 === 0 ? "five" : "default" }),
      );
    }
    const ids = await queue.submitMany(jobs);
    assert.deepEqual(ids, jobs.map((j) => j.id));
    // All pending with one priority: a worker claims them in submit order.
    const worker = new Worker(target, {
      ...options,
      tasks: [echo],
      queues: ["default", "three", "five"],
      logger: () => {},
    });
    const order: unknown[] = [];
    worker.addEventListener("completed", (e) => order.push(e.detail.result));
    while (await worker.processOne()) { /* next */ }
    worker.close();
    assert.deepEqual(order, jobs.map((_, i) => i));
    const names = (await queue.queues()).map((q) => q.name).sort();
    assert.deepEqual(names, ["default", "five", "three"]);
    queue.close();
  },
);

driverTest(
  "params must be JSON: a TypeError names the bad key, and nothing is written",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, "seed");
    const before = await dbHash(path);
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, RegExp][] = [
      [{ fn: () => 1 }, /params\.fn is function/],
      [{ s: Symbol("x") }, /params\.s is Symbol\(x\)/],
      [{ big: 10n }, /params\.big is 10n/],
      [{ deep: { n: NaN } }, /params\.deep\.n is NaN/],
      [{ inf: [1, Infinity] }, /params\.inf\[1\] is Infinity/],
      [{ u: undefined }, /params\.u is undefined/],
      [cyclic, /params\.self refers back to itself/],
      [{ d: new Date(0) }, /params\.d is Date/],
      [{ m: new Map() }, /params\.m is a Map/],
      [{ "odd key": new Set() }, /params\["odd key"\] is a Set/],
      [[1, , 3], /params\[1\] is an empty array slot/],
    ];
    for (const [params, message] of cases) {
      await assert.rejects(
        () => echo.submit(queue, params),
        (e: Error) =>
          e instanceof TypeError && message.test(e.message) && /allowed: null/.test(e.message),
        String(message),
      );
    }
    assert.equal(await dbHash(path), before);
    queue.close();
  },
);

backendTest("an oversized payload is refused with the limit named", async ({ path, driver }) => {
  const queue = new JobQueue(path, { driver, maxPayloadBytes: 100 });
  await assert.rejects(
    () => echo.submit(queue, { s: "x".repeat(200) }),
    (e: Error) => e instanceof RangeError && /over the limit of 100 bytes/.test(e.message),
  );
  await echo.submit(queue, { s: "x".repeat(50) });
  await assert.rejects(() => echo.submit(queue, { s: "é".repeat(60) }), /over the limit/);
  queue.close();
});

backendTest("runAt delays a job until its time", async ({ path, driver }) => {
  const clock = new FakeClock();
  const queue = new JobQueue(path, { driver, clock });
  const later = await echo.submit(queue, "later", {
    runAt: new Date(clock.now() + 60_000).toISOString(),
  });
  const worker = new Worker(path, { tasks: [echo], driver, clock });
  assert.equal(await worker.processOne(), false);
  await clock.tick(59_999);
  assert.equal(await worker.processOne(), false);
  await clock.tick(1);
  assert.equal(await worker.processOne(), true);
  assert.equal(await queue.getResult(later), "later");
  worker.close();
  queue.close();
});

backendTest(
  "a closed queue refuses use with QueueClosedError; close is idempotent",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    queue.close();
    queue.close();
    await assert.rejects(() => queue.stats(), QueueClosedError);
  },
);

Deno.test("JobQueue refuses unknown options and a bad driver", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new JobQueue(":memory:", { drivr: "node" } as any),
    (e: Error) => e instanceof TypeError && e.message.includes('"drivr"'),
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new JobQueue(":memory:", { driver: "pg" as any }),
    (e: Error) => e instanceof RangeError && e.message.includes('"pg"'),
  );
});

backendTest(
  "requeue() of a cancelled job whose runAt is still ahead keeps it waiting for that time",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const later = new Date(clock.now() + 3_600_000);
    const id = await echo.submit(queue, {}, { runAt: later });
    assert.equal(await queue.cancel(id), true);
    await clock.tick(60_000);
    assert.equal(await queue.requeue(id), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.runAt, later.toISOString());
    const worker = new Worker(path, { tasks: [echo], driver, clock, logger: () => {} });
    assert.equal(await worker.processOne(), false, "not before its time");
    await clock.tick(3_600_000);
    assert.equal(await worker.processOne(), true);
    assert.equal((await queue.getStatus(id))?.status, "completed");
    worker.close();
    queue.close();
  },
);

backendTest(
  "runAt refuses a day or time that does not exist, and takes back the runAt a job reports",
  async ({ path, driver }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(path, { driver, clock });
    const impossible = [
      "2026-02-30",
      "2026-02-29",
      "2100-02-29T00:00:00Z",
      "2026-00-10",
      "2026-04-31T10:00:00Z",
      "2026-06-31",
      "2026-01-01T24:00:00Z",
      "2026-01-01T23:60:00Z",
      "2026-02-30 10:00",
      "2026-02-29 Mar",
      "2026-01-01 10:00 PM",
      "2026-01-01 (a comment)",
    ];
    for (const text of impossible) {
      for (
        const [way, fn] of [
          ["Job", () => new Job({ task: echo, runAt: text })],
          ["toJob", () => echo.toJob(1, { runAt: text })],
          ["submit", () => echo.submit(queue, 1, { runAt: text })],
        ] as const
      ) {
        await assert.rejects(async () => await fn(), (e: Error) => {
          assert.ok(e instanceof RangeError, `${way} ${text}: ${e.name}: ${e.message}`);
          assert.match(
            e.message,
            /runAt must be a valid Date, ISO 8601 string or epoch milliseconds, got /,
          );
          assert.ok(e.message.includes(JSON.stringify(text)), `${way}: ${e.message}`);
          return true;
        });
      }
      await assert.rejects(
        () => queue.clearCompleted({ before: text }),
        (e: Error) => e instanceof RangeError && e.message.includes(JSON.stringify(text)),
      );
    }
    assert.throws(
      () => echo.toJob(1, { runAt: "2026-02-30" }),
      /got "2026-02-30" \(there is no day 30 in 2026-02\)$/,
    );
    assert.throws(
      () => echo.toJob(1, { runAt: "2026-01-01T24:00:00Z" }),
      /got "2026-01-01T24:00:00Z" \(there is no hour 24\)$/,
    );
    assert.equal((await queue.stats()).total, 0);

    // Real days and times: leap days, offsets, fractions, a space for the T.
    const real: [string, string][] = [
      ["2028-02-29", "2028-02-29T00:00:00.000Z"],
      ["2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000Z"],
      ["2026-12-31T23:59:59.999Z", "2026-12-31T23:59:59.999Z"],
      ["2026-12-01T19:00:00+01:00", "2026-12-01T18:00:00.000Z"],
      ["2026-12-01T19:00:00+0100", "2026-12-01T18:00:00.000Z"],
      ["2026-12-01 18:00Z", "2026-12-01T18:00:00.000Z"],
    ];
    for (const [text, iso] of real) {
      const job = await queue.getStatus(await echo.submit(queue, 1, { runAt: text }));
      assert.equal(job?.runAt, iso, text);
      // The runAt a job reports is accepted back, meaning the same instant.
      const again = await queue.getStatus(await echo.submit(queue, 2, { runAt: job!.runAt }));
      assert.equal(again?.runAt, iso, `${text} given back`);
      const listed = (await queue.listJobs({ limit: 1 }))[0];
      assert.equal(
        (await queue.getStatus(await queue.submit(new Job({ task: echo, runAt: listed.runAt }))))
          ?.runAt,
        iso,
      );
    }
    queue.close();
  },
);

driverTest(
  "transaction(): the application's rows and its jobs commit together, or neither",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const conn = getConnection(path, { driver });
    conn.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)");
    const receipt = task("receipt", (p: { order: number }) => `sent ${p.order}`);

    // Commit: both exist, and the job runs.
    const id = await queue.transaction((tx) => {
      tx.connection.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(1, 9.5);
      return tx.submit(receipt.toJob({ order: 1 }));
    });
    assert.deepEqual(conn.prepare("SELECT id FROM orders").values(), [[1]]);
    const worker = new Worker(path, { tasks: [receipt], driver, logger: () => {} });
    assert.equal(await worker.processOne(), true);
    assert.equal(await queue.getResult(id), "sent 1");

    // Throw: neither the order nor its jobs exist, and no worker has anything to run.
    let lost: string[] = [];
    await assert.rejects(
      queue.transaction((tx) => {
        tx.connection.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(2, 1);
        lost = tx.submitMany([receipt.toJob({ order: 2 }), receipt.toJob({ order: 3 })]);
        throw new Error("payment declined");
      }),
      /payment declined/,
    );
    assert.equal(lost.length, 2);
    assert.deepEqual(conn.prepare("SELECT id FROM orders").values(), [[1]]);
    for (const l of lost) assert.equal(await queue.getStatus(l), undefined);
    assert.equal(await worker.processOne(), false);

    // An async function: refused before it runs, nothing written.
    const before = await dbHash(path);
    await assert.rejects(
      queue.transaction(async (tx) => {
        tx.connection.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(4, 1);
        await Promise.resolve();
        return tx.submit(receipt.toJob({ order: 4 }));
      }),
      (e: Error) => e instanceof TypeError && /async function/.test(e.message),
    );
    // A function that returns a promise is refused too, and rolled back.
    await assert.rejects(
      queue.transaction((tx) => {
        tx.submit(receipt.toJob({ order: 5 }));
        return Promise.resolve(1);
      }),
      (e: Error) => e instanceof TypeError && /returned a promise/.test(e.message),
    );
    assert.deepEqual(conn.prepare("SELECT id FROM orders").values(), [[1]]);
    assert.equal((await queue.stats()).total, 1);
    assert.equal(await dbHash(path), before);

    // The transaction object is dead once it ends.
    let saved: { submit(job: ReturnType<typeof receipt.toJob>): string } | undefined;
    await queue.transaction((tx) => void (saved = tx));
    assert.throws(() => saved!.submit(receipt.toJob({ order: 6 })), /has ended/);
    worker.close();
    queue.close();
  },
);

backendTest(
  "a clock that gives fractions of a millisecond works: times are kept to the millisecond",
  async ({ path, driver }) => {
    // A worker's timers fire at such times (a third of a lease), and a clock may be fractional.
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12) + 0.75);
    const queue = new JobQueue(path, { driver, clock });
    const id = await echo.submit(queue, "x", { runAt: clock.now() + 1000.5 });
    const worker = new Worker(path, { tasks: [echo], driver, clock, lease: 10, logger: () => {} });
    assert.equal(await worker.processOne(), false);
    await clock.tick(3333.3333);
    assert.equal(await worker.processOne(), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "completed");
    assert.equal(job?.createdAt, "2026-01-01T12:00:00.000Z");
    assert.equal(job?.completedAt, "2026-01-01T12:00:03.334Z");
    worker.close();
    queue.close();
  },
);

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

driverTest(
  "new JobQueue(path, { create: false }) refuses a missing, empty, tableless or foreign file with NoQueueError, changing nothing",
  async ({ path, dir, driver }) => {
    const empty = `${dir}/empty.db`;
    await Deno.writeFile(empty, new Uint8Array());
    const tableless = `${dir}/tableless.db`;
    const raw = new DatabaseSync(tableless);
    raw.exec("CREATE TABLE t (a); DROP TABLE t;");
    raw.close();
    const app = `${dir}/app.db`;
    const appDb = new DatabaseSync(app);
    appDb.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    appDb.close();
    const cases = [
      [
        `${dir}/missing.db`,
        "missing",
        /^Cannot open the queue in ".*missing\.db": the file does not exist \(and create is false\)$/,
      ],
      [
        empty,
        "empty",
        /^Cannot open the queue in ".*empty\.db": the database holds no tables \(and create is false\)$/,
      ],
      [tableless, "empty", /holds no tables/],
      [
        app,
        "foreign",
        /^Cannot open the queue in ".*app\.db": the database holds other tables, not GigQ's \(and create is false\)$/,
      ],
    ] as const;
    const before = await Promise.all(cases.map(([p]) => dbHash(p)));
    for (const [p, reason, message] of cases) {
      assert.throws(
        () => new JobQueue(p, { driver, create: false }),
        (e: Error) =>
          e instanceof NoQueueError && e.path === p && e.reason === reason &&
          message.test(e.message),
        p,
      );
    }
    assert.deepEqual(await Promise.all(cases.map(([p]) => dbHash(p))), before);
    assert.deepEqual(names(dir), ["app.db", "empty.db", "tableless.db"]);
    // Through a connection this isolate already has open (which made the file WAL), too.
    getConnection(empty, { driver });
    assert.throws(() => new JobQueue(empty, { driver, create: false }), NoQueueError);
    closeConnections();
    // An existing queue opens, and works.
    const id = await new JobQueue(path, { driver }).submit(new Job({ task: echo }));
    const queue = new JobQueue(path, { driver, create: false });
    assert.equal(queue.readOnly, false);
    assert.equal((await queue.getStatus(id))?.status, "pending");
    assert.equal(await queue.cancel(id), true);
    queue.close();
  },
);

Deno.test("JobQueue's create and readOnlyFallback options are checked", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new JobQueue(":memory:", { create: "no" as any }),
    (e: Error) => e instanceof TypeError && /create must be a boolean, got "no"/.test(e.message),
  );
  assert.throws(
    () => new JobQueue(":memory:", { readOnlyFallback: true }),
    (e: Error) => e instanceof RangeError && /readOnlyFallback needs create: false/.test(e.message),
  );
  // A private in-memory database never holds a queue yet.
  assert.throws(() => new JobQueue(":memory:", { create: false }), NoQueueError);
});

driverTest(
  "create: false with readOnlyFallback reads a queue in a read-only directory as it is, and says so",
  async ({ path, dir, driver }) => {
    const seed = new JobQueue(path, { driver });
    const id = await seed.submit(new Job({ task: echo }));
    seed.close();
    closeConnections();
    assert.deepEqual(names(dir), ["jobs.db"], "the last connection removed the WAL");
    const before = await fileHash(path);
    const readOnly = await makeDirReadOnly(dir);
    if (typeof readOnly === "string") {
      console.log(`skipped: ${readOnly}`);
      return;
    }
    try {
      // Without the fallback: SQLite's WAL needs the directory.
      assert.throws(
        () => new JobQueue(path, { driver, create: false }),
        /its directory is read-only/,
      );
      const queue = new JobQueue(path, { driver, create: false, readOnlyFallback: true });
      assert.equal(queue.readOnly, true);
      assert.equal(queue.path, path);
      assert.equal((await queue.getStatus(id))?.status, "pending");
      assert.equal((await queue.stats()).total, 1);
      queue.close();
    } finally {
      closeConnections();
      await readOnly.undo();
    }
    assert.deepEqual(names(dir), ["jobs.db"], "nothing was created");
    assert.equal(await fileHash(path), before, "the file is unchanged");
  },
);

driverTest(
  "create: false refuses a queue in a read-only directory whose WAL holds commits, with ReadOnlyQueueError",
  async ({ path, dir, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.submit(new Job({ task: echo }));
    const copy = `${dir}/copy`;
    await Deno.mkdir(copy);
    await Deno.copyFile(path, `${copy}/jobs.db`);
    await Deno.copyFile(`${path}-wal`, `${copy}/jobs.db-wal`);
    queue.close();
    closeConnections();
    const readOnly = await makeDirReadOnly(copy);
    if (typeof readOnly === "string") {
      console.log(`skipped: ${readOnly}`);
      return;
    }
    try {
      assert.throws(
        () => new JobQueue(`${copy}/jobs.db`, { driver, create: false, readOnlyFallback: true }),
        (e: Error) =>
          e instanceof ReadOnlyQueueError && e.reason === "wal" && e.path === `${copy}/jobs.db` &&
          /^Cannot read ".*jobs\.db": its directory is read-only, and ".*jobs\.db-wal" holds commits/
            .test(e.message),
      );
    } finally {
      closeConnections();
      await readOnly.undo();
    }
    assert.deepEqual(names(copy), ["jobs.db", "jobs.db-wal"], "nothing was created");
  },
);

driverTest(
  "JobQueue.backup(dest) writes a copy that holds every job; a dest that exists or a missing directory is refused, writing nothing",
  async ({ path, dir, driver }) => {
    const queue = new JobQueue(path, { driver });
    const ids = await queue.submitMany([1, 2, 3].map((n) => echo.toJob({ n })));
    const dest = `${dir}/copy.db`;
    await queue.backup(dest);
    assert.deepEqual(names(dir).filter((n) => !n.startsWith("jobs.db")), ["copy.db"]);
    const copy = new JobQueue(dest, { driver, create: false });
    assert.deepEqual((await copy.listJobs()).map((j) => j.id).sort(), [...ids].sort());
    copy.close();
    const before = await fileHash(dest);
    await assert.rejects(
      queue.backup(dest),
      (e: Error) =>
        e instanceof RangeError &&
        e.message === `Cannot back up ${JSON.stringify(path)} to ${JSON.stringify(dest)}: ` +
            `it already exists (a backup never overwrites a file)`,
    );
    assert.equal(await fileHash(dest), before);
    await assert.rejects(
      queue.backup(`${dir}/no/such/copy.db`),
      (e: Error) =>
        e instanceof RangeError && /the directory ".*no\/such" does not exist/.test(e.message),
    );
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      queue.backup(42 as any),
      (e: Error) =>
        e instanceof TypeError && /dest must be a non-empty string, got 42/.test(e.message),
    );
    assert.deepEqual(names(dir).filter((n) => !n.startsWith("jobs.db")), ["copy.db"]);
    queue.close();
  },
);
