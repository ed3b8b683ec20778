/**
 * The contention suite at CI size: 8 producer processes and 4 worker
 * processes on one file for 8 s (the full size is `deno task contention`; see
 * contention.ts).
 */
import assert from "node:assert/strict";
import { closeConnections, Job, JobQueue } from "../../mod.ts";
import { tempDb } from "../_helpers.ts";
import { contentionProblems, contentionSummary, runContention } from "./contention.ts";
import { exited, inspect, integrity, scalar, script, signal, sleep, spawnDeno } from "./_common.ts";

async function contention(watch: boolean): Promise<void> {
  const db = await tempDb("contention.db");
  try {
    const report = await runContention({
      path: db.path,
      producers: 8,
      workers: 4,
      seconds: 8,
      driver: "node",
      watch,
      drainLimitMs: 120_000, // only catches a hang
      log: () => {},
    });
    console.log(contentionSummary(report));
    assert.deepEqual(contentionProblems(report), [], contentionSummary(report));
  } finally {
    await db.cleanup();
  }
}

Deno.test(
  "contention suite: 8 producers and 4 workers on one file for 8 s: no busy error reaches a caller, no job lost",
  // The workers run with their defaults, watching for other processes' commits.
  () => contention(true),
);

Deno.test({
  // Regression: the idle watch once used Deno.watchFs on the database's
  // directory, whose thread opens and closes each file it reports; closing a
  // descriptor of the database dropped this process's SQLite locks, and
  // another process then deleted the WAL under the live worker (lost jobs, a
  // corrupt index). The watch now reads PRAGMA data_version instead.
  name:
    "a watching worker keeps its SQLite locks: other processes' submits are seen, nothing is lost",
  fn: async () => {
    const db = await tempDb("watch.db");
    const queue = new JobQueue(db.path);
    await queue.stats();
    queue.close();
    closeConnections();
    const worker = spawnDeno([
      "run",
      "--allow-read",
      "--allow-write",
      script("_worker.ts"),
      "--db",
      db.path,
      "--poll",
      "0.1",
      "--watch",
    ]);
    try {
      await worker.waitFor(/^ready /m);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        // A short-lived producer: open, submit, close (as `gigq submit` does).
        const q = new JobQueue(db.path);
        const id = await q.submit(new Job({ task: "noop", params: { n: i } }));
        q.close();
        closeConnections();
        ids.push(id);
        const end = Date.now() + 10_000; // the worker polls every 0.1 s: only a hang takes this
        const status = () =>
          inspect(db.path, (d) => scalar(d, "SELECT status FROM gigq_jobs WHERE id = ?", id));
        while (status() !== "completed" && Date.now() < end) await sleep(50);
        assert.equal(status(), "completed", `job ${i} was never seen completed`);
        const wal = await Deno.stat(`${db.path}-wal`).catch(() => undefined);
        assert.ok(wal?.isFile, `after job ${i}, the WAL was deleted under the running worker`);
      }
      signal(worker, "SIGTERM");
      await exited(worker, 30_000, "the worker");
      inspect(db.path, (d) => {
        assert.equal(integrity(d), "ok");
        assert.equal(
          Number(scalar(d, "SELECT count(*) FROM gigq_jobs WHERE status = 'completed'")),
          5,
        );
      });
    } finally {
      signal(worker, "SIGKILL");
      await worker.done;
      await db.cleanup();
    }
  },
});
