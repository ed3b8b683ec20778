/**
 * Unique keys and pause across processes, on every backend:
 * - 8 processes × 1,000 submits of 100 distinct keys make exactly 100 jobs,
 *   and every submit of a key is told the same id;
 * - a paused queue with 1,000 jobs and 2 worker processes running for 5 s
 *   has none claimed; after resume every job completes exactly once.
 */
import assert from "node:assert/strict";
import { JobQueue } from "../../mod.ts";
import { backendTest } from "../_backends.ts";
import { noop } from "../_tasks.ts";

const HERE = new URL(".", import.meta.url).pathname;
const REPO = new URL("../..", import.meta.url).pathname;

async function output(child: Deno.ChildProcess): Promise<string> {
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `a child process failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

backendTest(
  "8 processes × 1,000 submits of 100 unique keys make exactly 100 jobs",
  async ({ target, driver }) => {
    const setup = new JobQueue(target, driver ? { driver } : {});
    await setup.stats(); // the schema, made once before the race
    setup.close();
    const children = Array.from({ length: 8 }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${HERE}_unique_submitter.ts`,
          target,
          driver ?? "",
          "1000",
          "100",
          `${i + 1}`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn());
    const reports = (await Promise.all(children.map(output))).map((t) => JSON.parse(t.trim()));
    const inserted = reports.reduce((n, r) => n + r.inserted, 0);
    const idsByKey = new Map<string, Set<string>>();
    for (const r of reports) {
      for (const [key, ids] of Object.entries(r.ids as Record<string, string[]>)) {
        const set = idsByKey.get(key) ?? new Set();
        for (const id of ids) set.add(id);
        idsByKey.set(key, set);
      }
    }
    const queue = new JobQueue(target, driver ? { driver } : {});
    const stats = await queue.stats();
    const jobs = await queue.listJobs({ limit: 10_000 });
    queue.close();
    assert.equal(stats.total, 100, "one job per key");
    assert.equal(inserted, 100, "exactly one submit of each key was told it inserted");
    assert.equal(idsByKey.size, 100);
    for (const [key, ids] of idsByKey) assert.equal(ids.size, 1, `${key} was given ${[...ids]}`);
    assert.deepEqual(
      new Set(jobs.map((j) => j.uniqueKey)),
      new Set([...idsByKey.keys()]),
    );
  },
);

backendTest(
  "a paused queue's 1,000 jobs are claimed by neither of 2 worker processes in 5 s; after resume each completes once",
  async ({ target, driver }) => {
    const queue = new JobQueue(target, driver ? { driver } : {});
    await queue.pause("held");
    await queue.submitMany(
      Array.from({ length: 1000 }, (_, n) => noop.toJob({ n }, { queue: "held" })),
    );
    const workers = Array.from({ length: 2 }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${REPO}src/cli/main.ts`,
          "--db",
          target,
          ...(driver ? ["--driver", driver] : []),
          "worker",
          "--in-process",
          "--tasks",
          `${REPO}tests/_tasks.ts`,
          "--concurrency",
          "8",
          "--polling-interval",
          "0.2",
          "--worker-id",
          `w${i}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn());
    try {
      // Both workers are up (registered) before the 5 s start.
      const start = Date.now();
      for (;;) {
        const facts = await queue.listJobs({ status: "running", limit: 1 });
        assert.deepEqual(facts, [], "nothing runs while the queue is paused");
        if (Date.now() - start > 5_000) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const paused = await queue.stats({ queue: "held" });
      assert.deepEqual([paused.pending, paused.running, paused.completed], [1000, 0, 0]);
      const untouched = await queue.listJobs({ queue: "held", limit: 2000 });
      assert.ok(
        untouched.every((j) => j.attempts === 0 && j.startedAt === null),
        "none was ever claimed",
      );
      await queue.resume("held");
      const deadline = Date.now() + 60_000;
      while ((await queue.stats({ queue: "held" })).completed < 1000) {
        if (Date.now() > deadline) {
          throw new Error(`only ${(await queue.stats()).completed} completed`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const done = await queue.listJobs({ queue: "held", limit: 2000 });
      assert.equal(done.length, 1000);
      for (const job of done) {
        assert.equal(job.status, "completed");
        assert.equal(job.attempts, 1, `${job.id} ran ${job.attempts} times`);
      }
      for (const id of done.slice(0, 20).map((j) => j.id)) {
        const details = await queue.getStatus(id);
        assert.equal(details?.executions.length, 1, "one attempt each");
      }
    } finally {
      for (const w of workers) {
        try {
          w.kill("SIGTERM");
        } catch { /* ended */ }
      }
      for (const w of workers) {
        await w.stderr.cancel();
        await w.status;
      }
      queue.close();
    }
  },
);
