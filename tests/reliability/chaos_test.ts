/**
 * The crash suite at CI size: 3,000 jobs, 4 worker processes, at least 20
 * SIGKILLs; and on PostgreSQL (when a server answers, as for backendTest)
 * 500 jobs, 2 worker processes, at least 5 SIGKILLs (the full size is
 * `deno task chaos [--db postgres://...]`; see chaos.ts).
 */
import assert from "node:assert/strict";
import { POSTGRES_URL } from "../_backends.ts";
import { tempDb } from "../_helpers.ts";
import { chaosProblems, chaosSummary, dropChaosSchema, runChaos } from "./chaos.ts";
import { freshSchema, seedFrom, withSchema } from "./_common.ts";

const MIN_KILLS = 20;

async function chaos(watch: boolean): Promise<void> {
  const db = await tempDb("chaos.db");
  try {
    const report = await runChaos({
      path: db.path,
      jobs: 3000,
      workers: 4,
      minKills: MIN_KILLS,
      lease: 2,
      concurrency: 4,
      handlerMs: [5, 40],
      driver: "node",
      watch,
      seed: seedFrom("GIGQ_CHAOS_SEED"),
      limitMs: 120_000, // only catches a hang
      log: () => {},
    });
    console.log(chaosSummary(report));
    assert.deepEqual(chaosProblems(report, MIN_KILLS), [], chaosSummary(report));
  } finally {
    await db.cleanup();
  }
}

Deno.test(
  "crash suite: 3,000 jobs, 4 worker processes SIGKILLed 20+ times: each job completed once, side effects repeat only for abandoned attempts",
  // The workers run with their defaults, watching for other processes' commits.
  () => chaos(true),
);

Deno.test({
  name:
    "[postgres] crash suite: 500 jobs, 2 worker processes SIGKILLed 5+ times: each job completed once, side effects repeat only for abandoned attempts",
  ignore: POSTGRES_URL === undefined,
  fn: async () => {
    const target = withSchema(POSTGRES_URL!, freshSchema("gigq_test_chaos"));
    try {
      const report = await runChaos({
        path: target,
        jobs: 500,
        workers: 2,
        minKills: 5,
        lease: 2,
        concurrency: 4,
        handlerMs: [5, 40],
        driver: "node",
        watch: true,
        seed: seedFrom("GIGQ_CHAOS_SEED"),
        limitMs: 120_000, // only catches a hang
        log: () => {},
      });
      console.log(chaosSummary(report));
      assert.deepEqual(chaosProblems(report, 5), [], chaosSummary(report));
      assert.ok(report.killsMidJob > 0, `no kill interrupted a job: ${chaosSummary(report)}`);
    } finally {
      await dropChaosSchema(target);
    }
  },
});

Deno.test({
  // Leases are renewed only for jobs a worker claimed since it started, so a
  // worker restarted under the same id (a systemd unit with GIGQ_WORKER_ID, or
  // --worker-id) does not keep its killed predecessor's job running.
  name: "a worker restarted under the same id does not keep its killed predecessor's job running",
  fn: async () => {
    const db = await tempDb("same-id.db");
    const { JobQueue, Job } = await import("../../mod.ts");
    const { inspect, scalar, script, signal, spawnDeno, exited, sleep } = await import(
      "./_common.ts"
    );
    const worker = () =>
      spawnDeno([
        "run",
        "--allow-read",
        "--allow-write",
        script("_worker.ts"),
        "--db",
        db.path,
        "--id",
        "same",
        "--lease",
        "1",
        "--poll",
        "0.1",
      ]);
    const queue = new JobQueue(db.path);
    const id = await queue.submit(new Job({ task: "effect", params: { ms: 1500 } }));
    queue.close();
    inspect(
      db.path,
      (d) =>
        d.exec(`CREATE TABLE effects (job_id TEXT NOT NULL, run INTEGER, attempt INTEGER NOT NULL,
        worker_id TEXT NOT NULL, at INTEGER NOT NULL)`),
    );
    const status = () =>
      inspect(db.path, (d) => String(scalar(d, "SELECT status FROM gigq_jobs WHERE id = ?", id)));
    const first = worker();
    let second: ReturnType<typeof worker> | undefined;
    try {
      while (status() !== "running") await sleep(20);
      signal(first, "SIGKILL");
      await first.done;
      second = worker();
      const end = Date.now() + 30_000; // the lease is 1 s: only a hang takes this long
      while (status() !== "completed" && Date.now() < end) await sleep(100);
      assert.equal(status(), "completed");
    } finally {
      signal(first, "SIGKILL");
      if (second !== undefined) {
        signal(second, "SIGTERM");
        await exited(second, 30_000, "the second worker");
      }
      await db.cleanup();
    }
  },
});
