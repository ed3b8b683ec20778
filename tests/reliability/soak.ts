/**
 * The soak suite: one worker process runs a long stream of no-op jobs and
 * prints its resident set size (RSS) every so many jobs; it must stay flat.
 * This process feeds the queue in batches through submitMany, keeping a
 * backlog, and clears completed jobs as it goes so the file stays small.
 *
 * Full size (`deno task soak`): 1,000,000 jobs, RSS every 100,000.
 * Options: --jobs N, --every N, --concurrency N, --driver node|ffi.
 */
import { parseArgs } from "node:util";
import { Job, JobQueue } from "../../mod.ts";
import {
  type Child,
  exited,
  killChildrenOnSignal,
  mib,
  script,
  signal,
  sleep,
  spawnDeno,
} from "./_common.ts";

/** What a soak run is asked to do. */
export interface SoakOptions {
  path: string;
  jobs: number;
  /** Print the RSS every this many jobs. */
  every: number;
  concurrency: number;
  driver: "node" | "ffi";
  /** Gives up (and fails) after this long, in ms. */
  limitMs: number;
  log: (line: string) => void;
}

/** One RSS reading of the worker. */
export interface RssReading {
  processed: number;
  rss: number;
  heapUsed: number;
}

/** What a soak run measured. */
export interface SoakReport {
  jobs: number;
  readings: RssReading[];
  seconds: number;
  workerErrors: string[];
}

const BATCH = 5000;
const BACKLOG = 40_000;

/** Runs the soak suite; resolves to the RSS readings (the caller asserts). */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const queue = new JobQueue(o.path, { driver: o.driver });
  await queue.stats();
  let worker: Child | undefined;
  try {
    worker = spawnDeno([
      "run",
      "--allow-read",
      "--allow-write",
      ...(o.driver === "ffi" ? ["--allow-ffi"] : []),
      script("_worker.ts"),
      "--db",
      o.path,
      "--concurrency",
      String(o.concurrency),
      "--poll",
      "0.05",
      "--driver",
      o.driver,
      "--rss-every",
      String(o.every),
      "--stop-after",
      String(o.jobs),
    ]);
    await worker.waitFor(/^ready /m);
    let submitted = 0;
    let printed = 0;
    let sinceClear = 0;
    const walSize = () => {
      try {
        return Deno.statSync(`${o.path}-wal`).size;
      } catch {
        return 0;
      }
    };
    const report = (w: Child) => {
      const lines = w.stdout().split("\n").filter((l) => l.startsWith("rss "));
      for (const line of lines.slice(printed)) {
        const [, processed, rss, heap, heapTotal, external] = line.split(" ").map(Number);
        o.log(
          `soak: ${processed} jobs, RSS ${mib(rss)} MiB, heap ${mib(heap)} of ${mib(heapTotal)} ` +
            `MiB, external ${mib(external)} MiB, WAL ${mib(walSize())} MiB`,
        );
      }
      printed = lines.length;
    };
    while (submitted < o.jobs) {
      if (Date.now() - started > o.limitMs) throw new Error(`soak: not done in ${o.limitMs} ms`);
      report(worker);
      const pending = (await queue.stats()).pending;
      if (pending > BACKLOG) {
        await sleep(20);
        continue;
      }
      const n = Math.min(BATCH, o.jobs - submitted);
      await queue.submitMany(
        Array.from(
          { length: n },
          (_, i) => new Job({ task: "noop", params: { n: submitted + i } }),
        ),
      );
      submitted += n;
      sinceClear += n;
      if (sinceClear >= 50_000) {
        await queue.clearCompleted();
        sinceClear = 0;
      }
    }
    const rest = Math.max(10_000, o.limitMs - (Date.now() - started));
    const timer = setInterval(() => report(worker!), 200);
    try {
      await exited(worker, rest, "the soak worker");
    } finally {
      clearInterval(timer);
    }
    report(worker);
    const readings = worker.stdout().split("\n").filter((l) => l.startsWith("rss ")).map((l) => {
      const [, processed, rss, heapUsed] = l.split(" ").map(Number);
      return { processed, rss, heapUsed };
    });
    const stats = await queue.stats();
    if (stats.pending + stats.running + stats.failed + stats.timeout > 0) {
      throw new Error(`soak: the worker stopped with jobs left: ${JSON.stringify(stats)}`);
    }
    return {
      jobs: o.jobs,
      readings,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      workerErrors: worker.stderr().split("\n").filter((l) => l !== ""),
    };
  } finally {
    queue.close();
    if (worker !== undefined) {
      signal(worker, "SIGKILL");
      await worker.done;
    }
  }
}

/**
 * The first reading after warm-up: V8 grows its heap to its working size over
 * the first tens of thousands of jobs (measured here: flat from about 60,000
 * on), so the baseline is the first reading at or past half the run.
 */
export function rssBaseline(r: SoakReport): RssReading {
  return r.readings.find((x) => x.processed >= r.jobs / 2) ?? r.readings[0];
}

/** The growth of RSS from the baseline to the last reading, in bytes. */
export function rssGrowth(r: SoakReport): number {
  return r.readings[r.readings.length - 1].rss - rssBaseline(r).rss;
}

/** One line of figures. */
export function soakSummary(r: SoakReport): string {
  return `soak: ${r.jobs} jobs in ${r.seconds} s; RSS (MiB) by jobs processed: ` +
    r.readings.map((x) => `${x.processed}: ${mib(x.rss)}`).join(", ") +
    `; growth from ${rssBaseline(r).processed} jobs to the end ${mib(rssGrowth(r))} MiB`;
}

if (import.meta.main) {
  const a = parseArgs({
    args: Deno.args,
    options: {
      jobs: { type: "string", default: "1000000" },
      every: { type: "string", default: "100000" },
      concurrency: { type: "string", default: "16" },
      driver: { type: "string", default: "node" },
    },
  }).values;
  const dir = await Deno.makeTempDir({ prefix: "gigq-soak-" });
  killChildrenOnSignal(dir);
  try {
    const report = await runSoak({
      path: `${dir}/soak.db`,
      jobs: Number(a.jobs),
      every: Number(a.every),
      concurrency: Number(a.concurrency),
      driver: a.driver as "node" | "ffi",
      limitMs: 7_200_000,
      log: (line) => console.log(line),
    });
    console.log(soakSummary(report));
    if (report.workerErrors.length > 0) {
      console.error(`FAILED: worker errors: ${report.workerErrors.join(" | ")}`);
      Deno.exit(1);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
