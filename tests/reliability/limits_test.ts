/**
 * Queue limits across processes, on every backend (the handlers record when
 * they run; the database records each claim):
 * - concurrency 3, 2 worker processes × concurrency 10: at most 3 run at once;
 * - keyConcurrency 1 with 5 keys: at most 1 per key, and the five run side by side;
 * - a rate of 20 a second, 4 worker processes over 5 s: at most 20 claims in any 1 s.
 */
import assert from "node:assert/strict";
import { Job, JobQueue } from "../../mod.ts";
import { backendTest } from "../_backends.ts";
import { held } from "./_limit_tasks.ts";

const REPO = new URL("../..", import.meta.url).pathname;

interface Run {
  key: string;
  start: number;
  end: number;
}

/** The most runs in progress at one moment (an end before a start at the same instant). */
function maxOverlap(runs: readonly Run[]): number {
  const events = runs.flatMap((r) => [[r.start, 1], [r.end, -1]]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, now += d);
  return max;
}

/** Starts `n` worker processes on `target`, runs `body`, then stops them. */
async function withWorkers(
  target: string,
  driver: string | undefined,
  n: number,
  log: string,
  body: () => Promise<void>,
): Promise<void> {
  const workers = Array.from({ length: n }, (_, i) =>
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
        `${REPO}tests/reliability/_limit_tasks.ts`,
        "--concurrency",
        "10",
        "--polling-interval",
        "0.1",
        "--worker-id",
        `w${i}`,
      ],
      env: { GIGQ_LIMIT_LOG: log },
      stdout: "null",
      stderr: "piped",
    }).spawn());
  try {
    await body();
  } finally {
    for (const w of workers) {
      try {
        w.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    for (const w of workers) {
      const out = await w.output();
      if (!out.success && out.signal !== "SIGTERM" && out.code !== 0) {
        console.error(new TextDecoder().decode(out.stderr));
      }
    }
  }
}

async function completed(queue: JobQueue, n: number, name: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while ((await queue.stats({ queue: name })).completed < n) {
    if (Date.now() > deadline) {
      throw new Error(`only ${(await queue.stats({ queue: name })).completed} of ${n} completed`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readRuns(log: string): Run[] {
  return Deno.readTextFileSync(log).trim().split("\n").map((l) => JSON.parse(l));
}

backendTest(
  "concurrency 3 holds across 2 worker processes of concurrency 10",
  async ({ target, driver, dir }) => {
    const log = `${dir}/runs.jsonl`;
    const queue = new JobQueue(target, driver ? { driver } : {});
    await queue.configureQueue("limited", { concurrency: 3 });
    await queue.submitMany(
      Array.from(
        { length: 60 },
        () => new Job({ task: held, params: { ms: 40 }, queue: "limited" }),
      ),
    );
    await withWorkers(target, driver, 2, log, () => completed(queue, 60, "limited"));
    const runs = readRuns(log);
    assert.equal(runs.length, 60, "each job ran once");
    assert.equal(maxOverlap(runs), 3, "at most 3 at once, and 3 reached");
    queue.close();
  },
);

backendTest(
  "keyConcurrency 1 with 5 keys across 2 worker processes: one per key, five side by side",
  async ({ target, driver, dir }) => {
    const log = `${dir}/runs.jsonl`;
    const queue = new JobQueue(target, driver ? { driver } : {});
    await queue.configureQueue("tenants", { keyConcurrency: 1 });
    const jobs: Job[] = [];
    for (let i = 0; i < 10; i++) {
      for (let k = 0; k < 5; k++) {
        jobs.push(
          new Job({
            task: held,
            params: { key: `t${k}`, ms: 40 },
            queue: "tenants",
            concurrencyKey: `t${k}`,
          }),
        );
      }
    }
    await queue.submitMany(jobs);
    await withWorkers(target, driver, 2, log, () => completed(queue, 50, "tenants"));
    const runs = readRuns(log);
    assert.equal(runs.length, 50);
    for (let k = 0; k < 5; k++) {
      assert.equal(maxOverlap(runs.filter((r) => r.key === `t${k}`)), 1, `key t${k} one at a time`);
    }
    assert.equal(maxOverlap(runs), 5, "all five keys ran at once");
    queue.close();
  },
);

backendTest(
  "a rate of 20 a second holds across 4 worker processes: at most 20 claims in any 1 s window",
  async ({ target, driver, dir }) => {
    const log = `${dir}/runs.jsonl`;
    const queue = new JobQueue(target, driver ? { driver } : {});
    await queue.configureQueue("api", { rateLimit: { max: 20, perSeconds: 1 } });
    await queue.submitMany(
      Array.from({ length: 100 }, () => new Job({ task: held, params: { ms: 1 }, queue: "api" })),
    );
    await withWorkers(target, driver, 4, log, () => completed(queue, 100, "api"));
    const jobs = await queue.listJobs({ queue: "api", limit: 1000 });
    assert.equal(jobs.length, 100);
    assert.ok(jobs.every((j) => j.attempts === 1), "each claimed once");
    const starts = jobs.map((j) => Date.parse(j.startedAt!)).sort((a, b) => a - b);
    let worst = 0;
    for (let i = 0, j = 0; i < starts.length; i++) {
      while (starts[j] < starts[i] - 999) j++;
      worst = Math.max(worst, i - j + 1);
    }
    assert.ok(worst <= 20, `${worst} claims within one second`);
    assert.equal(worst, 20, "the limit was reached (the test could fail)");
    assert.ok(starts.at(-1)! - starts[0] >= 4000, "100 jobs at 20 a second take at least 4 s");
    queue.close();
  },
);
