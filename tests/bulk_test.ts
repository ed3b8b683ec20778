/** requeueMany and cancelMany (redrive and bulk cancel), on every backend. */
import assert from "node:assert/strict";
import { Job, JobQueue, task, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock } from "./_helpers.ts";
import { noop } from "./_tasks.ts";

const quiet = () => {};
const bounce = task("bounce", () => {
  throw new Error("mailbox full");
}, { queue: "emails", maxAttempts: 1 });

/** Runs every ready job once with `tasks` (each failing job fails for good: one attempt). */
async function drain(
  target: string,
  options: object,
  clock: FakeClock,
  tasks = [bounce, noop],
): Promise<void> {
  const worker = new Worker(target, { ...options, tasks, clock, logger: quiet });
  while (await worker.processOne()) { /* next */ }
  worker.close();
}

backendTest(
  "requeueMany redrives failed jobs of one queue and name, resets attempts, counts them",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const a = await bounce.submit(queue, {});
    const b = await bounce.submit(queue, {});
    const other = await bounce.submit(queue, {}, { queue: "reports" });
    const renamed = await queue.submit(
      new Job({ task: "bounce", name: "special", queue: "emails", maxAttempts: 1 }),
    );
    const ok = await noop.submit(queue, { n: 1 }, { queue: "emails" });
    await drain(target, options, clock);
    assert.equal((await queue.stats({ queue: "emails" })).failed, 3);

    assert.equal(await queue.requeueMany({ status: "failed", queue: "emails", name: "bounce" }), 2);
    for (const id of [a, b]) {
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "pending");
      assert.equal(job?.attempts, 0);
      assert.equal(job?.error, null);
    }
    assert.equal((await queue.getStatus(other))?.status, "failed", "another queue");
    assert.equal((await queue.getStatus(renamed))?.status, "failed", "another name");
    assert.equal((await queue.getStatus(ok))?.status, "completed", "not failed");
    assert.equal(await queue.requeueMany({ queue: "emails", name: "bounce" }), 0, "none left");
    // The default status set is failed and timeout, in every queue the filter allows.
    assert.equal(await queue.requeueMany({ name: "special" }), 1);
    assert.equal((await queue.getStatus(renamed))?.status, "pending");
    queue.close();
  },
);

backendTest(
  "requeueMany brings back the dependents the failure cancelled, skips a job whose parent " +
    "failed and one whose unique key is held",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const parent = await bounce.submit(queue, {}, { queue: "q" });
    const child = await queue.submit(
      new Job({ task: "noop", queue: "q", dependencies: [parent] }),
    );
    const keyed = await bounce.submit(queue, {}, { queue: "q", uniqueKey: "k" });
    await drain(target, options, clock);
    assert.equal((await queue.getStatus(child))?.status, "cancelled");
    assert.equal((await queue.getStatus(keyed))?.status, "failed");
    const holder = await noop.submit(queue, { n: 1 }, { queue: "q", uniqueKey: "k" });
    assert.notEqual(holder, keyed);

    // The cancelled child is skipped (its parent failed); the keyed job too (key held).
    assert.equal(await queue.requeueMany({ status: "cancelled", queue: "q" }), 0);
    assert.equal(await queue.requeueMany({ status: "failed", queue: "q" }), 1);
    assert.equal((await queue.getStatus(parent))?.status, "pending");
    assert.equal((await queue.getStatus(child))?.status, "pending", "brought back");
    assert.equal((await queue.getStatus(keyed))?.status, "failed", "its key is held");
    assert.equal((await queue.getStatus(holder))?.status, "pending");
    queue.close();
  },
);

backendTest(
  "cancelMany cancels pending jobs of a queue and their dependents, and counts them",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const a = await noop.submit(queue, { n: 1 }, { queue: "emails" });
    const b = await noop.submit(queue, { n: 2 }, { queue: "emails", runAt: clock.now() + 60_000 });
    const dependent = await queue.submit(
      new Job({ task: "noop", queue: "reports", dependencies: [a] }),
    );
    const kept = await noop.submit(queue, { n: 3 }, { queue: "reports" });
    const named = await queue.submit(new Job({ task: "noop", name: "x", queue: "emails" }));
    assert.equal(await queue.cancelMany({ queue: "emails", name: "noop" }), 2);
    assert.equal((await queue.getStatus(a))?.status, "cancelled");
    assert.equal((await queue.getStatus(b))?.status, "cancelled");
    const dep = await queue.getStatus(dependent);
    assert.equal(dep?.status, "cancelled");
    assert.match(dep?.error ?? "", new RegExp(`dependency ${a} was cancelled`));
    assert.equal((await queue.getStatus(kept))?.status, "pending");
    assert.equal((await queue.getStatus(named))?.status, "pending");
    assert.equal(await queue.cancelMany({ status: "pending", queue: "emails" }), 1);
    assert.equal(await queue.cancelMany({ queue: "emails" }), 0);
    // What was cancelled comes back with requeueMany.
    assert.equal(await queue.requeueMany({ status: "cancelled", queue: "emails" }), 3);
    assert.equal((await queue.getStatus(dependent))?.status, "pending");
    queue.close();
  },
);

backendTest(
  "bulk operations span several batches (500 jobs a transaction) and leave other queues alone",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    await queue.submitMany(
      Array.from({ length: 1203 }, (_, n) => noop.toJob({ n }, { queue: "big" })),
    );
    await noop.submit(queue, { n: -1 }, { queue: "small" });
    assert.equal(await queue.cancelMany({ queue: "big" }), 1203);
    assert.equal((await queue.stats({ queue: "big" })).cancelled, 1203);
    assert.equal((await queue.stats({ queue: "small" })).pending, 1);
    assert.equal(await queue.requeueMany({ status: "cancelled" }), 1203);
    assert.equal((await queue.stats({ queue: "big" })).pending, 1203);
    queue.close();
  },
);

backendTest(
  "bulk operations refuse an empty or bad filter, naming it, and change nothing",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const id = await noop.submit(queue, { n: 1 });
    const cases: [() => Promise<number>, ErrorConstructor, RegExp][] = [
      [
        () => queue.cancelMany({}),
        TypeError,
        /at least one filter \(status, queue, name or task\)/,
      ],
      // deno-lint-ignore no-explicit-any
      [() => (queue.cancelMany as any)(), TypeError, /status, queue, name or task/],
      [() => queue.requeueMany({}), TypeError, /at least one filter/],
      [
        // deno-lint-ignore no-explicit-any
        () => queue.requeueMany({ status: "completed" as any }),
        RangeError,
        /status must be one of "failed", "timeout", "cancelled", got "completed"/,
      ],
      [
        // deno-lint-ignore no-explicit-any
        () => queue.cancelMany({ status: "failed" as any }),
        RangeError,
        /status must be one of "pending", "running"/,
      ],
      [() => queue.cancelMany({ queue: "" }), TypeError, /queue must be a queue name/],
      // deno-lint-ignore no-explicit-any
      [() => queue.cancelMany({ name: 7 as any }), TypeError, /name must be a job name/],
      // deno-lint-ignore no-explicit-any
      [() => queue.cancelMany({ task: 7 } as any), TypeError, /task must be a task name/],
      // deno-lint-ignore no-explicit-any
      [() => queue.cancelMany({ colour: "red" } as any), TypeError, /unknown option "colour"/],
    ];
    for (const [call, type, message] of cases) {
      await assert.rejects(call, (e: Error) => {
        assert.ok(e instanceof type, `${e.name}: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
    }
    assert.equal((await queue.getStatus(id))?.status, "pending", "nothing changed");
    queue.close();
  },
);

backendTest(
  "cancelMany while a worker runs: every job ends once, cancelled or completed",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const ids = await queue.submitMany(
      Array.from({ length: 300 }, (_, n) => noop.toJob({ n }, { queue: "race" })),
    );
    const worker = new Worker(target, {
      ...options,
      tasks: [noop],
      concurrency: 8,
      pollInterval: 0.05,
      logger: quiet,
    });
    const loop = worker.start();
    const n = await queue.cancelMany({ queue: "race", status: "pending" });
    while ((await queue.stats({ queue: "race" })).pending > 0) {
      await new Promise((r) => setTimeout(r, 20));
    }
    worker.stop();
    await loop;
    worker.close();
    const stats = await queue.stats({ queue: "race" });
    assert.equal(stats.running, 0);
    assert.equal(stats.cancelled + stats.completed, 300);
    assert.equal(stats.cancelled, n, "the count is the cancelled jobs");
    assert.equal(worker.counts.completed, stats.completed, "no job ran twice or was lost");
    assert.equal(ids.length, 300);
    queue.close();
  },
);

backendTest("cancelMany and requeueMany filter by task name", async ({ target, options }) => {
  const queue = new JobQueue(target, options);
  const a = await noop.submit(queue, { n: 1 });
  const b = await queue.submit(new Job({ task: "other", name: "noop", params: {} }));
  assert.equal(await queue.cancelMany({ task: "other" }), 1);
  assert.equal((await queue.getStatus(a))?.status, "pending");
  assert.equal((await queue.getStatus(b))?.status, "cancelled");
  assert.equal(await queue.requeueMany({ status: "cancelled", task: "noop" }), 0);
  assert.equal(await queue.requeueMany({ status: "cancelled", task: "other" }), 1);
  assert.equal((await queue.getStatus(b))?.status, "pending");
  queue.close();
});
