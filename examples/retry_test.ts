/**
 * An example test of an application's retry logic with GigQ's testing kit:
 * a task that sends a welcome email through a flaky mail service retries an
 * hour later and times out after 30 seconds. A {@linkcode VirtualClock}
 * moves across the hour and the timeout at once: the whole test takes
 * milliseconds, not two hours. Run it with `deno test -A examples/retry_test.ts` (the test
 * suite runs it too).
 *
 * @module
 */
import assert from "node:assert/strict";
import { JobQueue, task, Worker } from "../mod.ts";
import { drain, VirtualClock } from "../testing.ts";

/** The application's mail service, as the test sets it up: each call takes the next behaviour. */
type Behaviour = "down" | "hang" | "ok";

/** The application's task: send a welcome email, retried an hour later, 30 s per attempt. */
function welcomeTask(service: Behaviour[], sent: string[]) {
  return task("welcome", async (p: { to: string }, ctx) => {
    const next = service.shift() ?? "ok";
    if (next === "down") throw new Error("mail service unavailable");
    // A hung call: waits until the attempt's timeout aborts it.
    if (next === "hang") {
      await new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      );
    }
    sent.push(p.to);
    return `sent to ${p.to}`;
  }, { maxAttempts: 3, retryDelay: 3600, timeout: 30 });
}

Deno.test("a welcome email is retried an hour after the mail service fails, and after a hung call times out", async () => {
  const clock = new VirtualClock("2026-03-01T09:00:00Z");
  const sent: string[] = [];
  const welcome = welcomeTask(["down", "hang", "ok"], sent);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobs.db`;
  const queue = new JobQueue(path, { clock });
  // Nothing to watch in a test, and a long poll: the worker polls on the virtual clock too.
  const worker = new Worker(path, { tasks: [welcome], clock, watch: false, pollInterval: 600 });
  const running = worker.start();
  try {
    const id = await welcome.submit(queue, { to: "ada@example.com" });

    await clock.advance(0); // attempt 1: the service is down
    let job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 1);
    assert.equal(job?.error, "mail service unavailable");

    await clock.advance(3599); // nothing happens before the hour is up
    assert.equal((await queue.getStatus(id))?.attempts, 1);

    await clock.advance(1); // attempt 2 starts, and hangs
    assert.equal((await queue.getStatus(id))?.status, "running");
    await clock.advance(30); // ... until its 30 s timeout
    job = await queue.getStatus(id);
    assert.equal(job?.status, "pending");
    assert.equal(job?.attempts, 2);
    assert.match(job?.error ?? "", /timed out after 30 seconds/);

    await clock.advance(3600); // attempt 3, an hour after the timeout, sends it
    job = await queue.getStatus(id);
    assert.equal(job?.status, "completed");
    assert.equal(job?.result, "sent to ada@example.com");
    assert.deepEqual(sent, ["ada@example.com"]);
    assert.equal(clock.now() - Date.parse("2026-03-01T09:00:00Z"), (3600 + 30 + 3600) * 1000);
  } finally {
    worker.stop();
    await running;
    worker.close();
    queue.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain runs what is ready and says how each attempt left its job", async () => {
  const clock = new VirtualClock("2026-03-01T09:00:00Z");
  const sent: string[] = [];
  const welcome = welcomeTask(["down"], sent);
  const queue = new JobQueue(":memory:", { clock });
  try {
    const id = await welcome.submit(queue, { to: "grace@example.com" });
    const first = await drain(queue, { tasks: [welcome] });
    assert.deepEqual(first.map((a) => [a.id, a.attempt, a.status]), [[id, 1, "pending"]]);
    // The retry is an hour away: nothing is ready until the clock gets there.
    assert.deepEqual(await drain(queue, { tasks: [welcome] }), []);
    await clock.advance(3600);
    const second = await drain(queue, { tasks: [welcome] });
    assert.deepEqual(second.map((a) => [a.attempt, a.status, a.result]), [
      [2, "completed", "sent to grace@example.com"],
    ]);
  } finally {
    queue.close();
  }
});
