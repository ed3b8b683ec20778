/**
 * The contention suite: producer processes submitting and worker processes
 * processing on one file at the same time. No "database is locked" (or any
 * SQLITE_BUSY) may reach a caller: producers count every error they catch,
 * workers log theirs to stderr, which is searched for "locked" and "busy".
 * No job may be lost: every id a producer printed must exist and end
 * completed, and the file must hold no other job. The worst event-loop stall
 * of each producer is reported.
 *
 * Full size (`deno task contention`): 8 producers, 4 workers, 30 s.
 * Options: --producers N, --workers N, --seconds S, --driver node|ffi,
 * --no-watch (workers only poll instead of watching the WAL, the default).
 */
import { parseArgs } from "node:util";
import { JobQueue } from "../../mod.ts";
import { WAL_SIZE_LIMIT } from "../../src/sqlite/connection.ts";
import {
  busyLines,
  type Child,
  exited,
  inspect,
  integrity,
  killChildrenOnSignal,
  mib,
  scalar,
  script,
  signal,
  sleep,
  spawnDeno,
} from "./_common.ts";

/** What a contention run is asked to do. */
export interface ContentionOptions {
  path: string;
  producers: number;
  workers: number;
  seconds: number;
  driver: "node" | "ffi";
  watch: boolean;
  /** Gives up (and fails) when the queue has not drained this long after the producers stop. */
  drainLimitMs: number;
  log: (line: string) => void;
}

/** What a contention run measured. */
export interface ContentionReport {
  producers: number;
  workers: number;
  seconds: number;
  submitted: number;
  /** Submit calls (a submitMany counts once). */
  calls: number;
  /** Errors any producer caught. */
  producerErrors: string[];
  /** Lines of producer or worker output that mention a locked or busy database. */
  busyErrors: string[];
  /** Other lines the workers wrote to stderr. */
  workerErrors: string[];
  /** Printed ids missing from the file or not completed. */
  lost: number;
  /** Jobs in the file that no producer printed. */
  unexpected: number;
  /** Jobs with more than one completed execution. */
  doubleCompletions: number;
  integrity: string;
  /** The worst lateness of a producer's 10 ms timer, per producer (ms). */
  stallsMs: number[];
  /** The 99th percentile of that lateness, per producer (ms). */
  p99StallsMs: number[];
  /** The largest the WAL file grew to while producers and workers ran (bytes). */
  maxWalBytes: number;
  /**
   * The WAL's size once the workers, idle after the drain, had cut it back to
   * at most WAL_SIZE_LIMIT (bytes), and how long after the drain that took (s).
   */
  walAfterDrain: { bytes: number; seconds: number };
  /**
   * The same for a bystander process that only runs the timer: what the
   * machine's scheduling alone costs (on 2 cores, 12 busy processes take turns).
   */
  bystanderStallMs: number;
  /** The slowest submit call of any producer (ms). */
  slowestCallMs: number;
  /** Seconds from the producers' end until every job was completed. */
  drainSeconds: number;
}

/** Runs the contention suite; resolves to its figures (the caller asserts). */
export async function runContention(o: ContentionOptions): Promise<ContentionReport> {
  // Create the schema first, so that the processes do not all race to.
  const queue = new JobQueue(o.path, { driver: o.driver });
  await queue.stats();
  queue.close();

  const workers: Child[] = [];
  for (let i = 0; i < o.workers; i++) {
    const args = [
      "run",
      "--allow-read",
      "--allow-write",
      ...(o.driver === "ffi" ? ["--allow-ffi"] : []),
      script("_worker.ts"),
      "--db",
      o.path,
      "--id",
      `contention-${i}`,
      "--concurrency",
      "4",
      "--poll",
      "0.2",
      "--driver",
      o.driver,
    ];
    if (o.watch) args.push("--watch");
    workers.push(spawnDeno(args));
  }
  const producers: Child[] = [];
  // Measures the event-loop stall of a process that does no GigQ work at all.
  const bystander = spawnDeno([
    "eval",
    `
    let worst = 0, last = performance.now();
    const t = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 10);
      last = now;
    }, 10);
    setTimeout(() => { clearInterval(t); console.log(Math.round(worst)); }, ${o.seconds * 1000});
  `,
  ]);
  try {
    await Promise.all(workers.map((w) => w.waitFor(/^ready /m)));
    for (let i = 0; i < o.producers; i++) {
      producers.push(spawnDeno([
        "run",
        "--allow-read",
        "--allow-write",
        ...(o.driver === "ffi" ? ["--allow-ffi"] : []),
        script("_producer.ts"),
        "--db",
        o.path,
        "--seconds",
        String(o.seconds),
        "--seed",
        String(i + 1),
        "--driver",
        o.driver,
      ]));
    }
    o.log(`contention: ${o.producers} producers and ${o.workers} workers for ${o.seconds} s`);
    const walBytes = () => {
      try {
        return Deno.statSync(`${o.path}-wal`).size;
      } catch {
        return 0; // no WAL at this instant
      }
    };
    let maxWalBytes = 0;
    const walMeter = setInterval(() => maxWalBytes = Math.max(maxWalBytes, walBytes()), 100);
    try {
      for (const p of producers) await exited(p, o.seconds * 1000 + 120_000, "a producer");
    } finally {
      clearInterval(walMeter);
    }
    await exited(bystander, 60_000, "the bystander");
    const bystanderStallMs = Number(bystander.stdout().trim());
    const producersDone = Date.now();

    const ids: string[] = [];
    const stallsMs: number[] = [];
    const p99StallsMs: number[] = [];
    const producerErrors: string[] = [];
    let calls = 0;
    let slowestCallMs = 0;
    for (const p of producers) {
      for (const line of p.stdout().split("\n")) {
        if (line.startsWith("{")) {
          const s = JSON.parse(line).summary;
          stallsMs.push(s.worstStallMs);
          p99StallsMs.push(s.p99StallMs);
          calls += s.calls;
          slowestCallMs = Math.max(slowestCallMs, s.slowestCallMs);
        } else if (line !== "") {
          ids.push(line);
        }
      }
      producerErrors.push(...p.stderr().split("\n").filter((l) => l !== ""));
    }
    if (stallsMs.length !== producers.length) {
      throw new Error(`a producer did not finish: ${producers.map((p) => p.stderr()).join("\n")}`);
    }
    o.log(`contention: ${ids.length} jobs submitted; waiting for the workers to finish them`);

    const left = () =>
      inspect(
        o.path,
        (db) => Number(scalar(db, "SELECT count(*) FROM gigq_jobs WHERE status <> 'completed'")),
      );
    while (left() > 0) {
      if (Date.now() - producersDone > o.drainLimitMs) {
        throw new Error(`contention: ${left()} jobs still not completed after the drain limit`);
      }
      await sleep(100);
    }
    const drainSeconds = (Date.now() - producersDone) / 1000;
    // Idle workers still write (heartbeats); once a checkpoint has caught up,
    // the next write restarts the WAL and cuts the file back to the limit.
    const drained = Date.now();
    while (walBytes() > WAL_SIZE_LIMIT) {
      if (Date.now() - drained > o.drainLimitMs) {
        throw new Error(`contention: the WAL is still ${walBytes()} bytes after the drain limit`);
      }
      await sleep(100);
    }
    const walAfterDrain = {
      bytes: walBytes(),
      seconds: Math.round((Date.now() - drained) / 100) / 10,
    };
    for (const w of workers) signal(w, "SIGTERM");
    for (const w of workers) await exited(w, 60_000, "a worker");

    const workerLines = workers.flatMap((w) => w.stderr().split("\n").filter((l) => l !== ""));
    const figures = inspect(o.path, (db) => {
      const find = db.prepare("SELECT status FROM gigq_jobs WHERE id = ?");
      let lost = 0;
      for (const id of ids) {
        const row = find.get(id) as { status: string } | undefined;
        if (row?.status !== "completed") lost++;
      }
      return {
        lost,
        unexpected: Number(scalar(db, "SELECT count(*) FROM gigq_jobs")) - new Set(ids).size,
        doubleCompletions: Number(scalar(
          db,
          `SELECT count(*) FROM (SELECT job FROM gigq_executions WHERE status = 'completed'
            GROUP BY job HAVING count(*) > 1)`,
        )),
        integrity: integrity(db),
      };
    });
    return {
      producers: o.producers,
      workers: o.workers,
      seconds: o.seconds,
      submitted: ids.length,
      calls,
      producerErrors,
      busyErrors: [...busyLines(producerErrors.join("\n")), ...busyLines(workerLines.join("\n"))],
      workerErrors: workerLines.filter((l) => !busyLines(l).length),
      ...figures,
      stallsMs,
      p99StallsMs,
      maxWalBytes,
      walAfterDrain,
      bystanderStallMs,
      slowestCallMs,
      drainSeconds: Math.round(drainSeconds * 10) / 10,
    };
  } finally {
    for (const c of [...producers, ...workers, bystander]) signal(c, "SIGKILL");
    await Promise.all([...producers, ...workers, bystander].map((c) => c.done));
  }
}

/** The figures that must be zero, by name. */
export function contentionProblems(r: ContentionReport): string[] {
  const problems: string[] = [];
  if (r.submitted === 0) problems.push("nothing was submitted");
  if (r.busyErrors.length > 0) problems.push(`busy/locked errors: ${r.busyErrors.join(" | ")}`);
  if (r.producerErrors.length > 0) {
    problems.push(`producer errors: ${r.producerErrors.slice(0, 10).join(" | ")}`);
  }
  if (r.workerErrors.length > 0) {
    problems.push(`worker errors: ${r.workerErrors.slice(0, 10).join(" | ")}`);
  }
  if (r.lost !== 0) problems.push(`lost = ${r.lost}`);
  if (r.unexpected !== 0) problems.push(`unexpected jobs = ${r.unexpected}`);
  if (r.doubleCompletions !== 0) problems.push(`double completions = ${r.doubleCompletions}`);
  if (r.integrity !== "ok") problems.push(`integrity_check: ${r.integrity}`);
  return problems;
}

/** One line of figures. */
export function contentionSummary(r: ContentionReport): string {
  return `contention: ${r.producers} producers + ${r.workers} workers for ${r.seconds} s: ` +
    `${r.submitted} jobs in ${r.calls} submit calls, busy errors ${r.busyErrors.length}, ` +
    `producer errors ${r.producerErrors.length}, worker errors ${r.workerErrors.length}, ` +
    `lost ${r.lost}, unexpected ${r.unexpected}, double completions ${r.doubleCompletions}, ` +
    `integrity ${r.integrity}, worst producer stall ${Math.max(...r.stallsMs)} ms ` +
    `(per producer: ${r.stallsMs.join(", ")}; a bystander process without GigQ: ` +
    `${r.bystanderStallMs} ms), p99 stall ${Math.max(...r.p99StallsMs)} ms, ` +
    `slowest submit ${r.slowestCallMs} ms, WAL up to ${mib(r.maxWalBytes)} MiB ` +
    `(${mib(r.walAfterDrain.bytes)} MiB ${r.walAfterDrain.seconds} s after the drain), ` +
    `drained ${r.drainSeconds} s after the producers stopped`;
}

if (import.meta.main) {
  const a = parseArgs({
    args: Deno.args,
    options: {
      producers: { type: "string", default: "8" },
      workers: { type: "string", default: "4" },
      seconds: { type: "string", default: "30" },
      driver: { type: "string", default: "node" },
      "no-watch": { type: "boolean", default: false },
    },
  }).values;
  const dir = await Deno.makeTempDir({ prefix: "gigq-contention-" });
  killChildrenOnSignal(dir);
  try {
    const report = await runContention({
      path: `${dir}/contention.db`,
      producers: Number(a.producers),
      workers: Number(a.workers),
      seconds: Number(a.seconds),
      driver: a.driver as "node" | "ffi",
      watch: !a["no-watch"],
      drainLimitMs: 600_000,
      log: (line) => console.log(line),
    });
    console.log(contentionSummary(report));
    const problems = contentionProblems(report);
    if (problems.length > 0) {
      console.error(`FAILED: ${problems.join("; ")}`);
      Deno.exit(1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
