/** Named queues, pause and resume, and unique keys, on every backend. */
import assert from "node:assert/strict";
import { closeConnections, copyQueue, Job, JobQueue, task, why, Worker } from "../mod.ts";
import { backendTest } from "./_backends.ts";
import { FakeClock, until } from "./_helpers.ts";
import { noop, sum } from "./_tasks.ts";

const quiet = () => {};
const mail = task("mail", (p: { to: string }) => `sent to ${p.to}`, { queue: "emails" });

backendTest(
  "a job waits in the queue it names, its task's, or 'default'; lists and stats filter by queue",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const a = await noop.submit(queue, { n: 1 });
    const b = await mail.submit(queue, { to: "ada" });
    const c = await noop.submit(queue, { n: 2 }, { queue: "reports" });
    const d = await mail.submit(queue, { to: "bob" }, { queue: "bulk-emails" });
    assert.deepEqual(
      await Promise.all([a, b, c, d].map(async (id) => (await queue.getStatus(id))?.queue)),
      ["default", "emails", "reports", "bulk-emails"],
    );
    assert.deepEqual((await queue.listJobs({ queue: "emails" })).map((j) => j.id), [b]);
    assert.deepEqual(
      (await queue.listJobs({ queue: "default", status: "pending" })).map((j) => j.id),
      [a],
    );
    assert.deepEqual(await queue.listJobs({ queue: "default", status: "failed" }), []);
    assert.equal((await queue.stats({ queue: "reports" })).pending, 1);
    assert.equal((await queue.stats({ queue: "nowhere" })).total, 0);
    assert.equal((await queue.stats()).total, 4);
    assert.deepEqual(
      (await queue.queues()).map((q) => [q.name, q.paused, q.pending]),
      [["bulk-emails", false, 1], ["default", false, 1], ["emails", false, 1], [
        "reports",
        false,
        1,
      ]],
    );
    queue.close();
  },
);

backendTest(
  "a worker claims only from the queues it serves, by priority and age across them",
  async ({ target, options }) => {
    const clock = new FakeClock();
    const queue = new JobQueue(target, { ...options, clock });
    const low = await noop.submit(queue, { n: 1 }, { queue: "a" });
    clock.jump(1000);
    const high = await noop.submit(queue, { n: 2 }, { queue: "b", priority: 5 });
    clock.jump(1000);
    const other = await noop.submit(queue, { n: 3 }, { queue: "c", priority: 9 });
    clock.jump(1000);
    const plain = await noop.submit(queue, { n: 4 });
    const worker = new Worker(target, {
      ...options,
      tasks: [noop],
      queues: ["a", "b"],
      clock,
      logger: quiet,
    });
    assert.equal(await worker.processOne(), true);
    assert.equal((await queue.getStatus(high))?.status, "completed");
    assert.equal(await worker.processOne(), true);
    assert.equal((await queue.getStatus(low))?.status, "completed");
    assert.equal(await worker.processOne(), false, "c and default are not its queues");
    worker.close();
    const everyQueue = new Worker(target, { ...options, tasks: [noop], clock, logger: quiet });
    assert.equal(await everyQueue.processOne(), true);
    assert.equal((await queue.getStatus(other))?.status, "completed", "priority 9 first");
    assert.equal(await everyQueue.processOne(), true);
    assert.equal((await queue.getStatus(plain))?.status, "completed");
    everyQueue.close();
    queue.close();
  },
);

backendTest(
  "a paused queue is claimed by no worker until resumed, and the pause is stored",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await queue.pause("emails");
    await queue.pause("never-used"); // allowed: it holds for jobs added later
    const held = await mail.submit(queue, { to: "ada" });
    const free = await noop.submit(queue, { n: 1 });
    const worker = new Worker(target, { ...options, tasks: [noop, mail], logger: quiet });
    assert.equal(await worker.processOne(), true);
    assert.equal((await queue.getStatus(free))?.status, "completed");
    assert.equal(await worker.processOne(), false, "the paused queue's job is not claimed");
    const answer = await why(queue, held);
    assert.equal(answer.reason, "paused");
    assert.equal(
      answer.message,
      'paused: queue "emails" is paused (no worker claims its jobs until it is resumed)',
    );
    // A worker serving that queue by name does not claim it either.
    const named = new Worker(target, {
      ...options,
      tasks: [mail],
      queues: ["emails"],
      logger: quiet,
    });
    assert.equal(await named.processOne(), false);
    named.close();
    worker.close();
    queue.close();
    // The pause outlives every connection.
    closeConnections();
    const again = new JobQueue(target, options);
    const listed = await again.queues();
    assert.deepEqual(
      listed.map((q) => [q.name, q.paused, q.pending, q.completed]),
      [["default", false, 0, 1], ["emails", true, 1, 0], ["never-used", true, 0, 0]],
    );
    const later = new Worker(target, { ...options, tasks: [mail], logger: quiet });
    assert.equal(await later.processOne(), false);
    await again.resume("emails");
    await again.resume("emails"); // resuming twice changes nothing
    assert.equal(await later.processOne(), true);
    assert.equal(await again.getResult(held), "sent to ada");
    assert.equal((await why(again, held)).reason, "completed");
    later.close();
    again.close();
  },
);

backendTest(
  "a unique key admits one pending or running job per queue; the key is free once it ends",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const first = noop.toJob({ n: 1 }, { uniqueKey: "invoice:42" });
    assert.deepEqual(await queue.trySubmit(first), { id: first.id, inserted: true });
    const second = noop.toJob({ n: 2 }, { uniqueKey: "invoice:42" });
    assert.deepEqual(await queue.trySubmit(second), { id: first.id, inserted: false });
    assert.equal(await queue.submit(noop.toJob({ n: 3 }, { uniqueKey: "invoice:42" })), first.id);
    assert.equal(await queue.getStatus(second.id), undefined, "nothing was inserted");
    // Another queue's key space is its own.
    const elsewhere = noop.toJob({ n: 4 }, { uniqueKey: "invoice:42", queue: "other" });
    assert.equal(await queue.submit(elsewhere), elsewhere.id);
    assert.equal((await queue.getStatus(first.id))?.uniqueKey, "invoice:42");
    assert.equal((await queue.stats()).total, 2);
    const worker = new Worker(target, {
      ...options,
      tasks: [noop],
      queues: ["default"],
      logger: quiet,
    });
    assert.equal(await worker.processOne(), true);
    worker.close();
    // Completed: the key is free, and a new job takes it.
    const third = noop.toJob({ n: 5 }, { uniqueKey: "invoice:42" });
    assert.deepEqual(await queue.trySubmit(third), { id: third.id, inserted: true });
    assert.equal((await queue.stats({ queue: "default" })).total, 2);
    queue.close();
  },
);

backendTest(
  "submitMany and workflows honour unique keys: a child of a left-out job depends on the holder",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const holder = noop.toJob({ n: 10 }, { uniqueKey: "daily" });
    await queue.submit(holder);
    const again = noop.toJob({ n: 20 }, { uniqueKey: "daily" });
    const child = sum.toJob({}, { dependencies: [again] });
    const twin = noop.toJob({ n: 30 }, { uniqueKey: "fresh" });
    const twin2 = noop.toJob({ n: 40 }, { uniqueKey: "fresh" });
    const results = await queue.trySubmitMany([child, again, twin, twin2]);
    assert.deepEqual(results, [
      { id: child.id, inserted: true },
      { id: holder.id, inserted: false },
      { id: twin.id, inserted: true },
      { id: twin.id, inserted: false },
    ]);
    assert.deepEqual((await queue.getStatus(child.id))?.dependencies, [holder.id]);
    const worker = new Worker(target, { ...options, tasks: [noop, sum], logger: quiet });
    while (await worker.processOne());
    worker.close();
    assert.equal(await queue.getResult(child.id), 10, "the child got the holder's result");
    assert.equal((await queue.stats()).total, 3);
    queue.close();
  },
);

backendTest(
  "a job whose key another pending job holds is not requeued, and says why",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const first = noop.toJob({}, { uniqueKey: "k" });
    await queue.submit(first);
    assert.equal(await queue.cancel(first.id), true);
    const second = noop.toJob({}, { uniqueKey: "k" });
    assert.equal(await queue.submit(second), second.id, "the cancelled job freed the key");
    await assert.rejects(
      queue.requeue(first.id),
      new RegExp(`Cannot requeue job ${first.id}: its unique key "k" is held by job ${second.id}`),
    );
    assert.equal((await queue.getStatus(first.id))?.status, "cancelled", "nothing was changed");
    assert.equal(await queue.cancel(second.id), true);
    assert.equal(await queue.requeue(first.id), true, "free again: requeued");
    assert.equal((await queue.getStatus(first.id))?.status, "pending");
    queue.close();
  },
);

backendTest(
  "bad queue names and keys are TypeErrors naming them, and nothing is written",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    for (const bad of ["", "   ", "x".repeat(129), "a\0b", 7]) {
      assert.throws(() => new Job({ task: "t", queue: bad as string }), TypeError);
      assert.throws(() => task("t", () => 1, { queue: bad as string }), TypeError);
      await assert.rejects(queue.pause(bad as string), TypeError);
      await assert.rejects(queue.resume(bad as string), TypeError);
      await assert.rejects(queue.listJobs({ queue: bad as string }), TypeError);
      await assert.rejects(queue.stats({ queue: bad as string }), TypeError);
      assert.throws(
        () => new Worker(target, { ...options, tasks: [noop], queues: [bad as string] }),
        TypeError,
      );
    }
    assert.throws(
      () => new Job({ task: "t", queue: "" }),
      /queue must be a queue name of 1 to 128 characters/,
    );
    assert.throws(
      () => new Worker(target, { ...options, tasks: [noop], queues: [] }),
      /queues must be a non-empty array/,
    );
    for (const bad of ["", "k".repeat(1001), "a\0", 3]) {
      assert.throws(() => new Job({ task: "t", uniqueKey: bad as string }), TypeError);
    }
    assert.throws(
      () => new Job({ task: "t", uniqueKey: "" }),
      /uniqueKey must be a string of 1 to 1000 characters/,
    );
    assert.equal(await queue.queues().then((q) => q.length), 0, "nothing was written");
    assert.equal(
      new Job({ task: "t", queue: "q".repeat(128) }).queue.length,
      128,
      "128 is allowed",
    );
    queue.close();
  },
);

backendTest(
  "copyQueue keeps each job's queue and unique key, and a paused queue stays paused",
  async ({ target, options, dir }) => {
    const source = new JobQueue(target, options);
    const keyed = await mail.submit(source, { to: "ada" }, { uniqueKey: "welcome:ada" });
    await noop.submit(source, { n: 1 }, { queue: "reports" });
    await source.pause("emails");
    await source.configureQueue("reports", {
      concurrency: 2,
      rateLimit: { max: 5, perSeconds: 1.5 },
    });
    const tenant = await source.submit(
      new Job({ task: noop, params: {}, queue: "reports", concurrencyKey: "t1" }),
    );
    const copy = new JobQueue(`${dir}/copy.db`);
    await copyQueue(source, copy);
    assert.deepEqual(
      (await copy.queues()).map((q) => [q.name, q.paused, q.pending]),
      [["emails", true, 1], ["reports", false, 2]],
    );
    const [, reports] = await copy.queues();
    assert.deepEqual(reports.settings, (await source.queues())[1].settings);
    assert.equal(reports.settings.rateLimit?.perSeconds, 1.5);
    assert.equal((await copy.getStatus(tenant))?.concurrencyKey, "t1");
    const job = await copy.getStatus(keyed);
    assert.deepEqual([job?.queue, job?.uniqueKey], ["emails", "welcome:ada"]);
    // The key is held there too.
    assert.equal(await copy.submit(mail.toJob({ to: "ada" }, { uniqueKey: "welcome:ada" })), keyed);
    source.close();
    copy.close();
  },
);

backendTest("a worker's first log line names the queues it serves", async ({ target, options }) => {
  const lines: string[] = [];
  const logger = (_level: string, message: string) => lines.push(message);
  for (const queues of [undefined, ["emails"], ["a", "b"]]) {
    const worker = new Worker(target, {
      ...options,
      tasks: [noop],
      queues,
      logger,
      pollInterval: 0.05,
    });
    const before = lines.length;
    const done = worker.start();
    await until(() => lines.slice(before).some((l) => / started \(/.test(l)));
    worker.stop();
    await done;
    worker.close();
  }
  const started = lines.filter((l) => / started \(/.test(l));
  assert.equal(started.length, 3, lines.join("\n"));
  assert.match(started[0], /\(concurrency 1, every queue\)$/);
  assert.match(started[1], /\(concurrency 1, queue "emails"\)$/);
  assert.match(started[2], /\(concurrency 1, queues "a", "b"\)$/);
});
