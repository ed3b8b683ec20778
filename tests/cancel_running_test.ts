/** Cancelling a running job: it ends at once, its worker aborts the handler; on every backend. */
import assert from "node:assert/strict";
import { Job, JobCancelledError, JobQueue, task, why, Worker } from "../mod.ts";
import { backendTest, postgresTest } from "./_backends.ts";
import { FakeClock, until } from "./_helpers.ts";
import { awaitAbort } from "./_tasks.ts";

const quiet = () => {};

/** A task that runs until its signal aborts, then finishes late anyway (a result to ignore). */
function holder() {
  const started = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<unknown>();
  const t = task("hold", (_p: unknown, ctx) => {
    started.resolve();
    return new Promise((resolve) => {
      ctx.signal.addEventListener("abort", () => {
        aborted.resolve(ctx.signal.reason);
        setTimeout(() => resolve("finished anyway"), 5);
      });
    });
  }, { timeout: 3600 });
  return { t, started: started.promise, aborted: aborted.promise };
}

backendTest(
  "cancel ends a running job at once; its worker aborts the signal within a second; a late " +
    "finish changes nothing; dependents are cancelled",
  async ({ backend, target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const { t, started, aborted } = holder();
    const id = await t.submit(queue, {});
    const child = await queue.submit(new Job({ task: "hold", dependencies: [id] }));
    const worker = new Worker(target, { ...options, tasks: [t], clock, logger: quiet });
    let reason: unknown;
    aborted.then((r) => reason = r);
    const done = worker.processOne();
    await started;
    assert.equal((await queue.getStatus(id))?.status, "running");
    assert.equal(await queue.cancel(id), true);
    const job = await queue.getStatus(id);
    assert.equal(job?.status, "cancelled", "cancelled in the queue at once");
    assert.equal(job?.error, "Cancelled by a user while it ran");
    assert.equal((await queue.getStatus(child))?.status, "cancelled");
    if (backend !== "postgres") {
      // SQLite: the worker looks once a second (PostgreSQL's NOTIFY may have told it already).
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(reason, undefined, "not noticed before its check");
    }
    await clock.tick(1000);
    const r = await aborted;
    assert.ok(r instanceof JobCancelledError, String(r));
    assert.equal((r as JobCancelledError).jobId, id);
    assert.equal(await done, true);
    await new Promise((r) => setTimeout(r, 20)); // the late finish
    await worker.processOne();
    const after = await queue.getStatus(id);
    assert.equal(after?.status, "cancelled", "the late finish is fenced out");
    assert.equal(after?.result, null);
    assert.deepEqual(after?.executions.map((e) => [e.status, e.attempt, e.error]), [
      ["cancelled", 1, "Cancelled by a user while it ran"],
    ]);
    const answer = await why(queue, id);
    assert.equal(answer.reason, "cancelled");
    assert.match(answer.message, /cancelled by a user/);
    assert.equal(await queue.cancel(id), false, "already ended");
    assert.equal(worker.counts.completed, 0);
    worker.close();
    queue.close();
  },
);

backendTest(
  "a worker loop running jobs notices a cancel, frees the slot and keeps the others running",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const seen: string[] = [];
    const reasons = new Map<string, unknown>();
    const gates = new Map<string, () => void>();
    const t = task("gate", (p: { k: string }, ctx) => {
      seen.push(p.k);
      return new Promise((resolve, reject) => {
        gates.set(p.k, () => resolve(p.k));
        ctx.signal.addEventListener("abort", () => {
          reasons.set(p.k, ctx.signal.reason);
          reject(ctx.signal.reason);
        });
      });
    }, { timeout: 3600 });
    const a = await t.submit(queue, { k: "a" });
    const b = await t.submit(queue, { k: "b" });
    const worker = new Worker(target, {
      ...options,
      tasks: [t],
      clock,
      concurrency: 2,
      logger: quiet,
      watch: false,
    });
    const loop = worker.start();
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen.sort(), ["a", "b"]);
    assert.equal(await queue.cancel(a), true);
    await clock.tick(1000);
    for (let i = 0; i < 200 && !reasons.has("a"); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(reasons.get("a") instanceof JobCancelledError);
    assert.equal(reasons.has("b"), false);
    assert.equal(worker.counts.inFlight, 1);
    gates.get("b")!();
    for (let i = 0; i < 200; i++) {
      if ((await queue.getStatus(b))?.status === "completed") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await queue.getStatus(b))?.status, "completed");
    assert.equal((await queue.getStatus(a))?.status, "cancelled");
    worker.stop();
    await loop;
    worker.close();
    queue.close();
  },
);

postgresTest(
  "on PostgreSQL the worker hears of a cancel by NOTIFY, before its once-a-second look",
  async ({ target, options }) => {
    const clock = new FakeClock(); // never ticked: the look every second never comes
    const queue = new JobQueue(target, { ...options, clock });
    const { t, started, aborted } = holder();
    const id = await t.submit(queue, {});
    const worker = new Worker(target, { ...options, tasks: [t], clock, logger: quiet });
    const done = worker.processOne();
    await started;
    // (A cancel committed before the LISTEN is in place is found by the look that follows it.)
    assert.equal(await queue.cancel(id), true);
    const reason = await Promise.race([
      aborted,
      new Promise((r) => setTimeout(() => r("no notification"), 10_000)),
    ]);
    assert.ok(reason instanceof JobCancelledError, String(reason));
    assert.equal(await done, true);
    worker.close();
    queue.close();
  },
);

backendTest(
  "a worker in another process aborts the signal of a job cancelled here",
  async ({ target, driver, options }) => {
    const queue = new JobQueue(target, options);
    const id = await awaitAbort.submit(queue, {});
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./_cancel_worker.ts", import.meta.url).pathname,
        target,
        driver ?? "",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      await until(async () => (await queue.getStatus(id))?.status === "running", 30_000);
      assert.equal(await queue.cancel(id), true);
      const out = await child.output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(stdout, /aborted: JobCancelledError\ndone/);
      const job = await queue.getStatus(id);
      assert.equal(job?.status, "cancelled", "its late result is fenced out");
      assert.equal(job?.result, null);
    } finally {
      clearTimeout(killer);
      queue.close();
    }
  },
);
