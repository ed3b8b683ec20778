/** queue.waitFor: woken by the job's end, not by polling; on every backend. */
import assert from "node:assert/strict";
import { Job, JobNotFoundError, JobQueue, task, WaitTimeoutError, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock } from "./_helpers.ts";
import { noop } from "./_tasks.ts";

const quiet = () => {};
const fail = task("fail", () => {
  throw new Error("no");
}, { maxAttempts: 1 });

/** Resolves to "pending" if `p` has not settled within `ms` of real time. */
function within<T>(p: Promise<T>, ms: number): Promise<T | "pending"> {
  return Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);
}

backendTest(
  "waitFor resolves with the job once a worker ends it, woken by the end (the clock stands still)",
  async ({ target, options }) => {
    const clock = new FakeClock(); // never ticked: the once-a-second read never comes
    const queue = new JobQueue(target, { ...options, clock });
    const ok = await noop.submit(queue, { n: 42 });
    const bad = await fail.submit(queue, {});
    const waits = [queue.waitFor(ok), queue.waitFor(bad, { timeout: 60 })];
    // Both waits are in place (their first read done) before the jobs end.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await within(waits[0], 0), "pending");
    const worker = new Worker(target, { ...options, tasks: [noop, fail], clock, logger: quiet });
    assert.equal(await worker.processOne(), true);
    assert.equal(await worker.processOne(), true);
    worker.close();
    const [done, failed] = await within(Promise.all(waits), 10_000) as Awaited<typeof waits[0]>[];
    assert.equal(done.status, "completed");
    assert.equal(done.result, 42);
    assert.equal(done.executions.length, 1);
    assert.equal(failed.status, "failed");
    assert.equal(failed.error, "no");
    // An ended job resolves at once.
    assert.equal((await queue.waitFor(ok, { timeout: 0 })).status, "completed");
    queue.close();
  },
);

backendTest(
  "waitFor resolves when the job is cancelled, and a timeout rejects naming the job and status",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const id = await noop.submit(queue, { n: 1 });
    const timedOut = queue.waitFor(id, { timeout: 5 });
    const rejected = assert.rejects(timedOut, (e: Error) => {
      assert.ok(e instanceof WaitTimeoutError);
      assert.equal(e.jobId, id);
      assert.equal(e.status, "pending");
      assert.equal(e.timeout, 5);
      assert.match(e.message, new RegExp(`job ${id} after 5 seconds: it is still pending`));
      return true;
    });
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 6; i++) await clock.tick(1000);
    await rejected;
    const wait = queue.waitFor(id);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await queue.cancel(id), true);
    const job = await within(wait, 10_000);
    assert.notEqual(job, "pending");
    assert.equal((job as { status: string }).status, "cancelled");
    queue.close();
  },
);

backendTest(
  "waitFor refuses an unknown id and a bad timeout",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await assert.rejects(queue.waitFor("nope"), JobNotFoundError);
    const id = await noop.submit(queue, { n: 1 });
    for (const timeout of [-1, Number.NaN, "5", 1e12]) {
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        queue.waitFor(id, { timeout: timeout as any }),
        (e: Error) =>
          e instanceof RangeError && /timeout must be a number of seconds/.test(e.message),
      );
    }
    // deno-lint-ignore no-explicit-any
    await assert.rejects(queue.waitFor(id, { wait: 1 } as any), TypeError);
    queue.close();
  },
);

backendTest(
  "waitFor on a dependent resolves when its parent's failure cancels it",
  async ({ target, options }) => {
    const clock = new FakeClock(); // never ticked: woken by the end, not the poll
    const queue = new JobQueue(target, { ...options, clock });
    const parent = await fail.submit(queue, {});
    const child = await queue.submit(new Job({ task: "noop", dependencies: [parent] }));
    const wait = queue.waitFor(child);
    await new Promise((r) => setTimeout(r, 100));
    const worker = new Worker(target, { ...options, tasks: [noop, fail], clock, logger: quiet });
    assert.equal(await worker.processOne(), true);
    worker.close();
    const job = await within(wait, 10_000);
    assert.notEqual(job, "pending");
    assert.equal((job as { status: string }).status, "cancelled");
    assert.equal((job as { error: string }).error, `Cancelled: dependency ${parent} failed`);
    queue.close();
  },
);
