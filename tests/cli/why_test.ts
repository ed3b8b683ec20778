import assert from "node:assert/strict";
import {
  getConnection,
  Job,
  JobNotFoundError,
  JobQueue,
  type Task,
  task,
  why,
  Worker,
} from "../../mod.ts";
import { formatTime } from "../../src/cli/_format.ts";
import { driverTest, FakeClock, until } from "../_helpers.ts";

const quiet = () => {};
const echo = task("echo", (p: unknown) => p);
const boom = task("boom", () => {
  throw new Error("kaboom\n    at somewhere");
}, { maxAttempts: 1 });
const flaky = task("flaky", () => {
  throw new Error("not yet");
}, { maxAttempts: 3, retryDelay: 60 });
const hang = task(
  "hang",
  (_p: unknown, ctx) =>
    new Promise((_resolve, reject) => {
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
    }),
  { maxAttempts: 1, timeout: 5 },
);

function setup(path: string, driver: "node" | "ffi") {
  const clock = new FakeClock();
  const queue = new JobQueue(path, { driver, clock });
  const worker = (tasks: Task[]) => new Worker(path, { tasks, driver, clock, logger: quiet });
  return { clock, queue, worker };
}

driverTest(
  "why: a job whose parent has not completed is blocked by it",
  async ({ path, driver }) => {
    const { clock, queue } = setup(path, driver);
    const parent = new Job({ task: echo, name: "build" });
    const other = new Job({ task: echo, name: "lint" });
    const child = new Job({ task: echo, name: "deploy", dependencies: [parent, other] });
    await queue.submitMany([parent, other, child]);
    const answer = await why(queue, child.id, { now: clock.now() });
    assert.equal(answer.reason, "blocked");
    assert.deepEqual(answer.parent, { id: parent.id, name: "build", status: "pending" });
    assert.equal(
      answer.message,
      `pending: blocked by parent ${parent.id} ("build"), which is pending ` +
        `(and 1 more unfinished parent)`,
    );
    queue.close();
  },
);

driverTest("why: a parent that completed no longer blocks", async ({ path, driver }) => {
  const { clock, queue, worker } = setup(path, driver);
  const parent = new Job({ task: echo, name: "build" });
  const child = new Job({ task: echo, name: "deploy", dependencies: [parent] });
  await queue.submitMany([parent, child]);
  const w = worker([echo]);
  assert.equal(await w.processOne(), true); // runs the parent only
  const answer = await why(queue, child.id, { now: clock.now() });
  assert.equal(answer.reason, "ready");
  assert.equal(answer.parent, null);
  w.close();
  queue.close();
});

driverTest("why: a delayed job is waiting until its start time", async ({ path, driver }) => {
  const { clock, queue } = setup(path, driver);
  const runAt = clock.now() + 90_000;
  const id = await queue.submit(new Job({ task: echo, runAt }));
  const answer = await why(queue, id, { now: clock.now() });
  assert.equal(answer.reason, "waiting");
  assert.equal(answer.until, new Date(runAt).toISOString());
  assert.equal(answer.message, `pending: waiting until ${formatTime(runAt)} (delayed start)`);
  // Once the time has come, it is ready (no worker yet).
  assert.equal((await why(queue, id, { now: runAt + 1 })).reason, "no-worker");
  queue.close();
});

driverTest("why: a failed attempt waits for its retry's backoff", async ({ path, driver }) => {
  const { clock, queue, worker } = setup(path, driver);
  const id = await flaky.submit(queue, {});
  const w = worker([flaky]);
  await w.processOne();
  const answer = await why(queue, id, { now: clock.now() });
  assert.equal(answer.reason, "waiting");
  assert.equal(answer.until, new Date(clock.now() + 60_000).toISOString());
  assert.equal(
    answer.message,
    `pending: waiting until ${formatTime(clock.now() + 60_000)} to retry ` +
      `(attempt 1 of 3 failed: not yet)`,
  );
  w.close();
  queue.close();
});

driverTest(
  "why: a job cancelled because its parent failed names that parent",
  async ({ path, driver }) => {
    const { clock, queue, worker } = setup(path, driver);
    const parent = new Job({ task: boom, name: "fetch" });
    const child = new Job({ task: echo, name: "parse", dependencies: [parent] });
    const grandchild = new Job({ task: echo, name: "store", dependencies: [child] });
    await queue.submitMany([parent, child, grandchild]);
    const w = worker([boom, echo]);
    await w.processOne();
    for (const id of [child.id, grandchild.id]) {
      const answer = await why(queue, id, { now: clock.now() });
      assert.equal(answer.reason, "cancelled-by-parent");
      assert.deepEqual(answer.parent, { id: parent.id, name: "fetch", status: "failed" });
      assert.equal(answer.message, `cancelled because parent ${parent.id} ("fetch") failed`);
    }
    w.close();
    queue.close();
  },
);

driverTest("why: a job cancelled by a user says so", async ({ path, driver }) => {
  const { clock, queue } = setup(path, driver);
  const id = await echo.submit(queue, {});
  assert.equal(await queue.cancel(id), true);
  const answer = await why(queue, id, { now: clock.now() });
  assert.equal(answer.reason, "cancelled");
  assert.equal(answer.message, `cancelled by a user at ${formatTime(clock.now())}`);
  queue.close();
});

driverTest(
  "why: a running job names its worker and lease, and notices an expired lease",
  async ({ path, driver }) => {
    const { clock, queue } = setup(path, driver);
    let finish!: () => void;
    const slow = task("slow", () => new Promise<void>((r) => finish = r));
    const id = await slow.submit(queue, {});
    const w = new Worker(path, {
      tasks: [slow],
      driver,
      clock,
      logger: quiet,
      workerId: "w-1",
    });
    const done = w.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const lease = clock.now() + 30_000;
    let answer = await why(queue, id, { now: clock.now() });
    assert.equal(answer.reason, "running");
    assert.equal(answer.workerId, "w-1");
    assert.equal(answer.until, new Date(lease).toISOString());
    assert.equal(answer.message, `running on worker w-1 (lease until ${formatTime(lease)})`);
    answer = await why(queue, id, { now: lease + 1 });
    assert.equal(answer.reason, "running");
    assert.match(answer.message, /^running on worker w-1, but its lease expired at /);
    finish();
    await done;
    w.close();
    queue.close();
  },
);

driverTest("why: a ready job on a file no worker ever ran on", async ({ path, driver }) => {
  const { clock, queue } = setup(path, driver);
  const id = await echo.submit(queue, {});
  const answer = await why(queue, id, { now: clock.now() });
  assert.equal(answer.reason, "no-worker");
  assert.equal(answer.lastWorkerSeen, null);
  assert.equal(answer.message, "pending: ready, but no worker has ever run on this database");
  queue.close();
});

driverTest(
  "why: a ready job with a live worker, then with workers gone quiet",
  async ({ path, driver }) => {
    const { clock, queue, worker } = setup(path, driver);
    // A worker registers (seen now) and finds nothing to do.
    const w = worker([echo]);
    assert.equal(await w.processOne(), false);
    const seen = clock.now();
    w.close();
    const id = await echo.submit(queue, {});

    let answer = await why(queue, id, { now: seen + 5_000 });
    assert.equal(answer.reason, "ready");
    assert.equal(answer.lastWorkerSeen, new Date(seen).toISOString());
    assert.equal(
      answer.message,
      "pending: ready and waiting for a free worker (one was seen 5 s ago)",
    );

    answer = await why(queue, id, { now: seen + 120_000 });
    assert.equal(answer.reason, "no-worker");
    assert.equal(answer.lastWorkerSeen, new Date(seen).toISOString());
    assert.equal(
      answer.message,
      `pending: ready, but no worker has been seen for 120 s (last at ${formatTime(seen)})`,
    );
    // staleAfter moves the line.
    assert.equal((await why(queue, id, { now: seen + 120_000, staleAfter: 300 })).reason, "ready");
    queue.close();
  },
);

driverTest(
  "why: completed, failed and timed-out jobs say how they ended",
  async ({ path, driver }) => {
    const { clock, queue, worker } = setup(path, driver);
    const done = await echo.submit(queue, {});
    const failed = await boom.submit(queue, {});
    const hung = await hang.submit(queue, {});
    const w = worker([echo, boom, hang]);
    await w.processOne();
    await w.processOne();
    const third = w.processOne();
    await until(async () => (await queue.getStatus(hung))?.status === "running");
    await clock.tick(5_000);
    await third;

    let answer = await why(queue, done, { now: clock.now() });
    assert.equal(answer.reason, "completed");
    assert.match(answer.message, /^completed at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    answer = await why(queue, failed, { now: clock.now() });
    assert.equal(answer.reason, "failed");
    assert.equal(answer.message, "failed after 1 attempt: kaboom");
    answer = await why(queue, hung, { now: clock.now() });
    assert.equal(answer.reason, "timeout");
    assert.equal(
      answer.message,
      "timed out after 1 attempt: Job timed out after 5 seconds",
    );
    w.close();
    queue.close();
  },
);

driverTest(
  "why: an unknown id is a JobNotFoundError; bad options are RangeErrors",
  async ({ path, driver }) => {
    const { queue } = setup(path, driver);
    await assert.rejects(why(queue, "nope"), JobNotFoundError);
    const id = await echo.submit(queue, {});
    await assert.rejects(why(queue, id, { now: NaN }), RangeError);
    await assert.rejects(why(queue, id, { staleAfter: 0 }), RangeError);
    queue.close();
  },
);

Deno.test("why: the answer has the documented shape", async () => {
  const { tempDb } = await import("../_helpers.ts");
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  try {
    const id = await echo.submit(queue, {});
    const answer = await why(queue, id);
    assert.deepEqual(Object.keys(answer), [
      "id",
      "name",
      "status",
      "reason",
      "message",
      "parent",
      "until",
      "workerId",
      "lastWorkerSeen",
      "schedule",
    ]);
  } finally {
    queue.close();
    const { closeConnections } = await import("../../src/sqlite/registry.ts");
    closeConnections();
    await db.cleanup();
  }
});

driverTest("why: a worker that stopped does not count as seen", async ({ path, driver }) => {
  const { clock, queue, worker } = setup(path, driver);
  const w = worker([echo]);
  const done = w.start();
  w.stop();
  await done;
  w.close();
  const id = await echo.submit(queue, 1);
  const answer = await why(queue, id, { now: clock.now() });
  assert.equal(answer.reason, "no-worker");
  queue.close();
});

driverTest(
  "why: a running job whose worker has been silent for longer than its lease says the worker is probably gone",
  async ({ path, driver }) => {
    const { clock, queue } = setup(path, driver);
    let finish!: () => void;
    const slow = task("slow", () => new Promise<void>((r) => finish = r));
    const id = await slow.submit(queue, {});
    const w = new Worker(path, { tasks: [slow], driver, clock, logger: quiet, workerId: "w-1" });
    const done = w.processOne();
    await until(async () => (await queue.getStatus(id))?.status === "running");
    const seen = clock.now(); // it registered and claimed now; the clock stands still
    // A job lease that runs past the worker's silence (as one covering the
    // job's timeout would), written by hand.
    const leaseUntil = seen + 10 * 60_000;
    getConnection(path, { driver }).prepare("UPDATE gigq_jobs SET lease_until = ? WHERE id = ?")
      .run(leaseUntil, id);

    let answer = await why(queue, id, { now: seen + 20_000 });
    assert.equal(answer.message, `running on worker w-1 (lease until ${formatTime(leaseUntil)})`);
    assert.equal(answer.lastWorkerSeen, new Date(seen).toISOString());

    answer = await why(queue, id, { now: seen + 5 * 60_000 });
    assert.equal(answer.reason, "running");
    assert.equal(answer.workerId, "w-1");
    assert.equal(answer.until, new Date(leaseUntil).toISOString());
    assert.equal(answer.lastWorkerSeen, new Date(seen).toISOString());
    assert.equal(
      answer.message,
      `running on worker w-1, but worker w-1 was last seen 5 min ago, longer than its lease ` +
        `(30 s): it is probably gone; the job comes back when its lease expires at ${
          formatTime(leaseUntil)
        }`,
    );
    // A worker with a longer lease renews less often: not gone yet.
    answer = await why(queue, id, { now: seen + 5 * 60_000, lease: 600 });
    assert.equal(answer.message, `running on worker w-1 (lease until ${formatTime(leaseUntil)})`);
    await assert.rejects(why(queue, id, { lease: 0 }), RangeError);
    finish();
    await done;
    w.close();
    queue.close();
  },
);

driverTest(
  "why: a ready job whose task no live worker runs says so and names what they run",
  async ({ path, driver }) => {
    const { clock, queue, worker } = setup(path, driver);
    const other = task("other", () => 1);
    const w = worker([other]);
    assert.equal(await w.processOne(), false);
    const id = await echo.submit(queue, {});
    const answer = await why(queue, id, { now: clock.now() + 1_000 });
    assert.equal(answer.reason, "no-worker");
    assert.equal(
      answer.message,
      'pending: ready, but none of the 1 live worker runs task "echo" (they run: "other"); ' +
        "start a worker with that task",
    );
    w.close();
    queue.close();
  },
);

driverTest(
  "why: without a `now` option it reasons at the queue's clock",
  async ({ path, driver }) => {
    const { clock, queue } = setup(path, driver);
    clock.jump(-10 * 365 * 86_400_000); // years before the real time
    const runAt = clock.now() + 90_000;
    const id = await queue.submit(new Job({ task: echo, runAt }));
    assert.equal((await why(queue, id)).reason, "waiting");
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      why({ path } as any, id),
      (e: Error) => e instanceof TypeError && /expected a JobQueue, got an object/.test(e.message),
    );
    queue.close();
  },
);
