/**
 * copyQueue() and `gigq copy`: a queue with jobs in every state moved
 * between SQLite files and PostgreSQL schemas comes out the same (a running
 * job as an abandoned attempt); a refused copy writes nothing.
 */
import assert from "node:assert/strict";
import { closeConnections, copyQueue, Job, type JobDetails, JobQueue } from "../mod.ts";
import { cascadeMessage, type Claimed, type Outcome } from "../src/_backend.ts";
import { closing } from "../src/_closers.ts";
import { queueInternals } from "../src/_queue_backend.ts";
import { abandonedMessage } from "../src/copy.ts";
import { POSTGRES_URL, postgresSchema } from "./_backends.ts";
import { cli } from "./cli/_cli.ts";
import { FakeClock, tempDb } from "./_helpers.ts";

const WORKER = "worker-a";

/** The queue's backend, to claim and end attempts at exact times (no handler runs). */
async function backendOf(queue: JobQueue) {
  return await queueInternals("test", queue).backend();
}

/** Claims the ready job of `task` as worker-a, with a 30 s lease. */
async function claim(queue: JobQueue, task: string, now: number): Promise<Claimed> {
  const [job] = await (await backendOf(queue)).step({
    claimer: { workerId: WORKER, owner: "owner-a", tasks: [task], leaseMs: 30_000, graceMs: 5000 },
    outcomes: [],
    limit: 1,
    now,
  });
  assert.ok(job, `a ${task} job was claimed`);
  return job;
}

/** Records how a claimed attempt ended. */
async function end(queue: JobQueue, outcome: Outcome): Promise<void> {
  await (await backendOf(queue)).step({
    claimer: { workerId: WORKER, owner: "owner-a", tasks: [], leaseMs: 30_000, graceMs: 5000 },
    outcomes: [outcome],
    limit: 0,
    now: outcome.at,
  });
}

interface Filled {
  ids: Record<string, string>;
  /** Jobs a copy changes: the running ones and the child of the one on its last attempt. */
  changed: Set<string>;
}

/**
 * Fills `queue` with a job in every state: completed (with a result),
 * failed after a retry, cancelled by a user and by a cascade (two levels),
 * timed out, delayed, released by a stopping worker, a workflow (a
 * completed parent with a ready child, a pending parent with a blocked
 * child), and two running jobs (one on its last attempt, with a child).
 */
async function fill(queue: JobQueue, clock: FakeClock): Promise<Filled> {
  const ids: Record<string, string> = {};
  const submit = async (key: string, init: ConstructorParameters<typeof Job>[0]) => {
    ids[key] = await queue.submit(new Job(init));
    clock.jump(7);
  };
  await submit("done", { task: "t_done", params: { a: [1, "two", null] }, priority: 3 });
  let c = await claim(queue, "t_done", clock.now());
  clock.jump(1500);
  await end(queue, { kind: "completed", job: c, result: '{"ok":true,"n":1.5}', at: clock.now() });

  await submit("failed", { task: "t_fail", maxAttempts: 2, description: "fails twice" });
  for (let i = 1; i <= 2; i++) {
    c = await claim(queue, "t_fail", clock.now());
    clock.jump(200);
    const error = `Error: attempt ${i} broke`;
    await end(queue, {
      kind: "failed",
      job: c,
      error,
      detail: `${error}\n    at handler (tasks.ts:1:1)`,
      permanent: false,
      at: clock.now(),
    });
  }

  await submit("root", { task: "t_root", maxAttempts: 1 });
  await submit("child", { task: "t_child", dependencies: [ids.root] });
  await submit("grandchild", { task: "t_child", dependencies: [ids.child], module: "./x.ts#c" });
  c = await claim(queue, "t_root", clock.now());
  await end(queue, {
    kind: "failed",
    job: c,
    error: "boom",
    detail: "boom",
    permanent: true,
    at: clock.now(),
  });

  await submit("cancelled", { task: "t_cancel" });
  assert.equal(await queue.cancel(ids.cancelled), true);

  await submit("timeout", { task: "t_timeout", maxAttempts: 1, timeout: 2 });
  c = await claim(queue, "t_timeout", clock.now());
  clock.jump(2000);
  await end(queue, {
    kind: "timeout",
    job: c,
    error: "Job timed out after 2 seconds",
    detail: "Job timed out after 2 seconds",
    permanent: false,
    at: clock.now(),
  });

  await submit("later", { task: "t_later", runAt: clock.now() + 3_600_000 });

  await submit("released", { task: "t_release" });
  c = await claim(queue, "t_release", clock.now());
  await end(queue, {
    kind: "released",
    job: c,
    reason: "Released: worker stopped",
    at: clock.now(),
  });

  await submit("parent", { task: "t_parent" });
  c = await claim(queue, "t_parent", clock.now());
  await end(queue, { kind: "completed", job: c, result: "5", at: clock.now() });
  const waiting = new Job({ task: "t_wait" });
  const both = new Job({ task: "t_ready", dependencies: [ids.parent, waiting], retryDelay: 4 });
  [ids.waiting, ids.ready] = await queue.submitMany([waiting, both]);
  clock.jump(7);
  await submit("blocked", { task: "t_blocked", dependencies: [ids.waiting] });
  await submit("readyChild", { task: "t_ready_child", dependencies: [ids.parent] });

  await submit("running", { task: "t_run", maxAttempts: 3, retryDelay: 10 });
  await claim(queue, "t_run", clock.now());
  await submit("last", { task: "t_last", maxAttempts: 1 });
  await submit("lastChild", { task: "t_last_child", dependencies: [ids.last] });
  await claim(queue, "t_last", clock.now());
  clock.jump(1000);
  return { ids, changed: new Set([ids.running, ids.last, ids.lastChild]) };
}

/** Every job as listJobs() and getStatus() report it, newest first. */
async function snapshot(queue: JobQueue): Promise<{ list: unknown[]; details: JobDetails[] }> {
  const list = await queue.listJobs({ limit: 1000 });
  const details: JobDetails[] = [];
  for (const j of list) details.push((await queue.getStatus(j.id))!);
  return { list, details };
}

/** A snapshot without the jobs of `skip`. */
function without(s: { list: unknown[]; details: JobDetails[] }, skip: Set<string>) {
  return {
    list: s.list.filter((j) => !skip.has((j as { id: string }).id)),
    details: s.details.filter((j) => !skip.has(j.id)),
  };
}

/** What the copy made of the running jobs (copied at `now`). */
async function checkAbandoned(queue: JobQueue, f: Filled, now: number): Promise<void> {
  const at = new Date(now).toISOString();
  const run = (await queue.getStatus(f.ids.running))!;
  assert.equal(run.status, "pending");
  assert.equal(run.attempts, 1, "the abandoned attempt counts");
  assert.equal(run.workerId, null);
  assert.equal(run.leaseUntil, null);
  assert.equal(run.error, abandonedMessage(WORKER));
  assert.equal(run.runAt, new Date(now + 10_000).toISOString(), "after its retry delay");
  assert.equal(run.updatedAt, at);
  assert.deepEqual(run.executions.map((e) => [e.attempt, e.run, e.status, e.workerId, e.error]), [
    [1, 1, "timeout", WORKER, abandonedMessage(WORKER)],
  ]);
  assert.equal(run.executions[0].completedAt, at);
  const last = (await queue.getStatus(f.ids.last))!;
  assert.equal(last.status, "timeout", "its last attempt was abandoned");
  assert.equal(last.completedAt, at);
  assert.deepEqual(last.executions.map((e) => e.status), ["timeout"]);
  const child = (await queue.getStatus(f.ids.lastChild))!;
  assert.equal(child.status, "cancelled");
  assert.equal(child.cancelledBy, f.ids.last);
  assert.equal(child.error, cascadeMessage(f.ids.last, "timeout"));
}

/** The copy is a live queue: the ready workflow child is claimed with its parents' results. */
async function checkLive(queue: JobQueue, f: Filled, now: number): Promise<void> {
  const c = await claim(queue, "t_ready_child", now);
  assert.equal(c.id, f.ids.readyChild);
  assert.deepEqual(c.parentResults, { [f.ids.parent]: 5 });
  // The blocked child stays blocked until its parent completes, there too.
  const w = await claim(queue, "t_wait", now);
  await end(queue, { kind: "completed", job: w, result: "1", at: now });
  assert.equal((await claim(queue, "t_blocked", now)).id, f.ids.blocked);
  // A new job comes after every copied one.
  const id = await queue.submit(new Job({ task: "t_new" }));
  assert.equal((await queue.listJobs({ limit: 1 }))[0].id, id);
}

async function cleanup(...dirs: { cleanup(): Promise<void> }[]): Promise<void> {
  closeConnections();
  await closing();
  for (const d of dirs) await d.cleanup();
}

Deno.test("copyQueue: SQLite to SQLite keeps every job, edge and attempt", async () => {
  const a = await tempDb("a.db");
  const b = await tempDb("b.db");
  try {
    const clock = new FakeClock();
    const src = new JobQueue(a.path, { clock });
    const f = await fill(src, clock);
    const before = await snapshot(src);
    const dst = new JobQueue(b.path, { clock });
    const report = await copyQueue(src, dst);
    assert.deepEqual(report, { jobs: 17, edges: 7, attempts: 7, abandoned: 2 });
    assert.deepEqual(await snapshot(src), before, "the source is left as it was");
    const after = await snapshot(dst);
    assert.deepEqual(without(after, f.changed), without(before, f.changed));
    assert.deepEqual(await src.stats(), {
      pending: 7,
      running: 2,
      completed: 2,
      failed: 2,
      cancelled: 3,
      timeout: 1,
      total: 17,
    });
    assert.deepEqual(await dst.stats(), {
      pending: 7,
      running: 0,
      completed: 2,
      failed: 2,
      cancelled: 4,
      timeout: 2,
      total: 17,
    });
    await checkAbandoned(dst, f, clock.now());
    await checkLive(dst, f, clock.now());
    src.close();
    dst.close();
  } finally {
    await cleanup(a, b);
  }
});
