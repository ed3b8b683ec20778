/** ctx.progress() on every backend: seen while running, kept at the end, cleared on retry. */
import assert from "node:assert/strict";
import { JobQueue, task, why, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock, settle, until } from "./_helpers.ts";

backendTest(
  "ctx.progress is visible while the job runs, kept when it completes, and cleared by a retry",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    let release!: () => void;
    let attempt = 0;
    const steps = task("steps", async (_p: unknown, ctx) => {
      attempt = ctx.attempt;
      ctx.progress(40);
      if (ctx.attempt === 1) {
        await new Promise<void>((r) => release = r);
        throw new Error("first try fails");
      }
      ctx.progress({ done: 5, of: 5 });
      return "ok";
    }, { maxAttempts: 2 });
    const id = await steps.submit(queue, {});
    const worker = new Worker(target, { ...options, tasks: [steps], clock, logger: () => {} });
    const one = worker.processOne();
    await until(async () => (await queue.getStatus(id))?.progress === 40);
    assert.match((await why(queue, id, { now: clock.now() })).message, /progress 40\)$/);
    release();
    assert.equal(await one, true);
    const retried = await queue.getStatus(id);
    assert.equal(retried?.status, "pending");
    assert.equal(retried?.progress, null, "a retry clears it");
    assert.equal(await worker.processOne(), true);
    await settle();
    assert.equal(attempt, 2);
    const done = await queue.getStatus(id);
    assert.equal(done?.status, "completed");
    assert.deepEqual(
      done?.progress,
      { done: 5, of: 5 },
      "the last value, written with the outcome",
    );
    worker.close();
    queue.close();
  },
);

backendTest(
  "a job released by its worker's stop starts again without its old progress",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const halfway = task("halfway", (_p: unknown, ctx) => {
      ctx.progress(50);
      return new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      );
    });
    const id = await halfway.submit(queue, {});
    const worker = new Worker(target, {
      ...options,
      tasks: [halfway],
      logger: () => {},
      pollInterval: 0.05,
    });
    const done = worker.start();
    await until(async () => (await queue.getStatus(id))?.progress === 50);
    worker.stop({ grace: 0 });
    await done;
    worker.close();
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "pending", "released, not failed");
    assert.equal(job?.progress, null);
    queue.close();
  },
);
