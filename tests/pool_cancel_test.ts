/** A pool ends the handler of a cancelled running job that ignores its abort, on every backend. */
import assert from "node:assert/strict";
import { JobQueue, WorkerPool } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { until } from "./_helpers.ts";
import { deaf, noop } from "./_tasks.ts";

const tasks = [new URL("./_tasks.ts", import.meta.url)];

backendTest(
  "a pool terminates the Web Worker whose handler ignores a cancel, and goes on",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const stuck = await deaf.submit(queue, {});
    const lines: string[] = [];
    const pool = new WorkerPool(target, {
      ...options,
      tasks,
      workers: 1,
      timeoutGrace: 0.3,
      logger: (level, message) => lines.push(`${level}: ${message}`),
    });
    const done = pool.start();
    try {
      await until(async () => (await queue.getStatus(stuck))?.status === "running", 20_000);
      const first = pool.workerIds[0];
      assert.equal(await queue.cancel(stuck), true);
      await until(
        () => lines.some((l) => /ignoring its abort signal; terminated it/.test(l)),
        20_000,
      );
      assert.ok(
        lines.some((l) =>
          /still runs the handler of job \d+ more than 0.3 s after it was cancelled/.test(l)
        ),
        lines.join("\n"),
      );
      await until(() => pool.workerIds.length === 1 && pool.workerIds[0] !== first, 20_000);
      const next = await noop.submit(queue, { n: 7 });
      const job = await queue.waitFor(next, { timeout: 30 });
      assert.equal(job.result, 7, "the replacement runs jobs");
      const cancelled = await queue.getStatus(stuck);
      assert.equal(cancelled?.status, "cancelled");
      assert.deepEqual(cancelled?.executions.map((e) => e.status), ["cancelled"]);
    } finally {
      await pool.stop();
      await done;
      queue.close();
    }
  },
);
