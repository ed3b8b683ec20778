import assert from "node:assert/strict";
import { getConnection, Job, JobQueue, task, Worker, Workflow } from "../mod.ts";
import { driverTest, until } from "./_helpers.ts";
import { backendTest } from "./_backends.ts";
import { increment, noop, sum } from "./_tasks.ts";

async function runAll(
  path: string,
  driver: "node" | "ffi" | undefined,
  total: number,
  concurrency = 8,
) {
  const queue = new JobQueue(path, { driver });
  const worker = new Worker(path, {
    tasks: [noop, increment, sum],
    driver,
    concurrency,
    pollInterval: 0.01,
  });
  const done = worker.start();
  await until(async () => (await queue.stats()).completed === total, 1_000_000);
  worker.stop();
  await done;
  worker.close();
  return queue;
}

driverTest(
  "a chain of 1,000 jobs runs in dependency order, each seeing its parent's result",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const jobs: Job[] = [];
    for (let i = 0; i < 1000; i++) {
      jobs.push(increment.toJob({}, { dependencies: i === 0 ? [] : [jobs[i - 1]] }));
    }
    // Submitted in reverse: order in the batch does not matter, dependencies do.
    await queue.submitMany(jobs.toReversed());
    await runAll(path, driver, 1000);
    for (const [i, job] of jobs.entries()) {
      assert.equal(await queue.getResult(job.id), i + 1);
    }
    // Each result is its parent's plus one, so 1..1000 proves the order; one attempt each.
    assert.deepEqual(
      getConnection(path, { driver }).prepare(
        "SELECT count(*), count(DISTINCT job) FROM gigq_executions",
      ).values(),
      [[1000, 1000]],
    );
    queue.close();
  },
);

backendTest(
  "a fan-out of 1 → 1,000 → 1 runs the fan-in last with all 1,000 results in order",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const wf = new Workflow("fan");
    const root = wf.addTask(noop, { params: { n: 0 } });
    const children = Array.from(
      { length: 1000 },
      (_, i) => wf.addTask(increment, { dependsOn: [root], priority: i % 3 }),
    );
    const collect = task("collect", (_p: unknown, ctx) => Object.keys(ctx.parentResults));
    const fanIn = wf.addTask(collect, { dependsOn: children.toReversed() });
    const ids = await wf.submitAll(queue);
    assert.equal(ids.length, 1002);
    const worker = new Worker(path, { tasks: [noop, increment, collect], driver, concurrency: 8 });
    while (await worker.processOne()) { /* drain */ }
    worker.close();
    const keys = await queue.getResult(fanIn.id);
    assert.deepEqual(keys, children.toReversed().map((c) => c.id), "dependency order is kept");
    for (const child of children.slice(0, 10)) assert.equal(await queue.getResult(child.id), 1);
    const fanInRun = await queue.getStatus(fanIn.id);
    for (const child of children) {
      const c = await queue.getStatus(child.id);
      assert.ok(
        c!.completedAt! <= fanInRun!.startedAt!,
        "every child ended before the fan-in began",
      );
    }
    assert.equal(
      (await queue.getStatus(root.id))!.completedAt! <=
        (await queue.getStatus(children[0].id))!.startedAt!,
      true,
    );
    queue.close();
  },
);

driverTest(
  "4 Web Workers, each running a Worker on its own connection, complete 2,000 jobs exactly once",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await queue.stats();
    const url = new URL("./_queue_worker.ts", import.meta.url);
    const pool = Array.from({ length: 4 }, () => new globalThis.Worker(url, { type: "module" }));
    const ask = (w: globalThis.Worker, msg: unknown) =>
      new Promise<Record<string, unknown>>((resolve) => {
        w.onmessage = (e) => resolve(e.data);
        w.postMessage(msg);
      });
    try {
      await Promise.all(
        pool.map((w, i) =>
          ask(w, { op: "start", path, driver, concurrency: 4, workerId: `web-${i}` })
        ),
      );
      // Submitted once every Web Worker runs: one that started early could
      // otherwise finish all 2,000 (~70 ms) before the others have loaded.
      await queue.submitMany(Array.from({ length: 2000 }, (_, n) => noop.toJob({ n })));
      await until(async () => (await queue.stats()).completed === 2000, 10_000_000);
      const replies = await Promise.all(pool.map((w) => ask(w, { op: "stop" })));
      const processed = replies.map((r) => (r.counts as { processed: number }).processed);
      assert.equal(processed.reduce((a, b) => a + b, 0), 2000);
      assert.ok(processed.filter((n) => n > 0).length >= 2, `work was shared: ${processed}`);
      const conn = getConnection(path, { driver });
      assert.deepEqual(
        conn.prepare("SELECT count(*), count(DISTINCT job) FROM gigq_executions").values(),
        [[2000, 2000]],
      );
      assert.deepEqual(
        conn.prepare("SELECT status, count(*) FROM gigq_executions GROUP BY status").values(),
        [["completed", 2000]],
      );
      const stats = await queue.stats();
      assert.equal(stats.running, 0);
      assert.equal(stats.pending, 0);
      assert.equal(stats.completed, 2000);
    } finally {
      for (const w of pool) w.terminate();
      queue.close();
    }
  },
);

Deno.test("Workflow refuses a non-task, and a dependency from outside the workflow", () => {
  const wf = new Workflow("w");
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => wf.addTask((() => 1) as any),
    /expected a task made by task\(\), got function/,
  );
  const stranger = noop.toJob({});
  assert.throws(
    () => wf.addTask(noop, { dependsOn: [stranger] }),
    (e: Error) =>
      e instanceof RangeError &&
      /dependsOn\[0\] \("noop"\) is not in this workflow/.test(e.message),
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(() => wf.addTask(noop, { depends: [] } as any), /unknown option "depends"/);
  assert.throws(() => new Workflow(""), TypeError);
});

Deno.test("Workflow.addJob adds dependencies to the job's own and refuses a job twice", () => {
  const wf = new Workflow("w");
  const a = wf.addTask(noop);
  const existing = noop.toJob({}, { dependencies: ["ext-id"] });
  const added = wf.addJob(existing, { dependsOn: [a] });
  assert.deepEqual(added.dependencies, ["ext-id", a.id]);
  assert.equal(added.id, existing.id);
  assert.ok(added instanceof Job);
  assert.throws(() => wf.addJob(existing), /already in it/);
  assert.equal(wf.jobs.length, 2);
});

backendTest("Workflow.submitAll() is all or nothing", async ({ path, driver }) => {
  const queue = new JobQueue(path, { driver });
  const wf = new Workflow("w");
  wf.addTask(noop);
  wf.addTask(noop, { params: { n: 1n } });
  await assert.rejects(() => wf.submitAll(queue), /params\.n is 1n/);
  assert.equal((await queue.stats()).total, 0);
  assert.deepEqual(await new Workflow("empty").submitAll(queue), []);
  queue.close();
});

backendTest(
  "a job submitted while its dependency runs runs once that completes (or is cancelled when it fails)",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    const gates: (() => void)[] = [];
    const slow = task(
      "slow",
      (p: { fail: boolean }) =>
        new Promise((resolve, reject) =>
          gates.push(() => p.fail ? reject(new Error("no")) : resolve("parent"))
        ),
      { maxAttempts: 1 },
    );
    const child = task("child", (_p: unknown, ctx) => ctx.parentResults);
    const worker = new Worker(path, { tasks: [slow, child], driver, logger: () => {} });
    for (const fail of [false, true]) {
      const parent = await slow.submit(queue, { fail });
      const running = worker.processOne();
      await until(() => gates.length > 0);
      // The parent is running now: its child is submitted meanwhile.
      const kid = await queue.submit(new Job({ task: child, dependencies: [parent] }));
      gates.shift()!();
      assert.equal(await running, true);
      if (fail) {
        assert.equal(await worker.processOne(), false);
        const job = await queue.getStatus(kid);
        assert.equal(job?.status, "cancelled");
        assert.equal(job?.cancelledBy, parent);
      } else {
        assert.equal(await worker.processOne(), true, "the child runs once its parent completed");
        assert.deepEqual(await queue.getResult(kid), { [parent]: "parent" });
      }
    }
    worker.close();
    queue.close();
  },
);
