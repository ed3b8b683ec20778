/**
 * A testing kit for code that uses GigQ: a {@linkcode VirtualClock} to hand
 * to a queue and its worker, whose `advance(seconds)` fires the retries,
 * delays, timeouts, lease expiries and schedules due meanwhile without
 * sleeping, and {@linkcode drain}, which runs every ready job and says what
 * ran.
 *
 * @example Test a task's retry logic across an hour of backoff
 * ```ts
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 * import { VirtualClock } from "@gigq/gigq/testing";
 *
 * let calls = 0;
 * const flaky = task("flaky", () => {
 *   if (++calls === 1) throw new Error("service unavailable");
 *   return "ok";
 * }, { maxAttempts: 2, retryDelay: 3600 });
 *
 * const clock = new VirtualClock();
 * const queue = new JobQueue(":memory:", { clock });
 * const worker = new Worker(":memory:", { tasks: [flaky], clock });
 * const id = await flaky.submit(queue, {});
 * const running = worker.start();
 * await clock.advance(0); // the first attempt fails
 * await clock.advance(3600); // the retry, an hour later, completes
 * console.assert((await queue.getStatus(id))?.status === "completed" && calls === 2);
 * worker.stop();
 * await running;
 * worker.close();
 * queue.close();
 * ```
 *
 * @module
 */
export { VirtualClock } from "./src/testing/virtual_clock.ts";
export { drain, type DrainedAttempt, type DrainOptions } from "./src/testing/drain.ts";
