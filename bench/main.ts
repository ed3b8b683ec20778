/**
 * GigQ's benchmark: how many jobs a queue file moves per second, next to the
 * practical limit measured in the same process (plain SQLite loops doing the
 * same work, see `_raw.ts`), on both drivers; or, with `--backend postgres`,
 * how many a PostgreSQL queue moves next to plain loops on the same client
 * (`_pg.ts`), each run in fresh schemas dropped afterwards.
 *
 * ```sh
 * deno task bench                     # the table
 * deno task bench --json              # and bench-results.json
 * deno task bench --json out.json     # and out.json
 * deno task bench --runs 7 --driver node --only enqueue
 * deno task bench --backend postgres --db postgres://postgres@127.0.0.1:5432/test
 * ```
 *
 * Every case runs `--runs` times (at least 5 by default) on a fresh file in a
 * temp dir; the table shows the median, min and max. A case and its limit
 * run back to back in each round, and the ratio is the median of the
 * per-round ratios: on a shared, noisy machine the ratios hold better than
 * the absolute numbers.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import os from "node:os";
import { backendName, driverName, parseOrExit, positiveInt, usageError } from "./_args.ts";
import {
  closeConnection,
  getConnection,
  type Job,
  JobQueue,
  type JobQueueOptions,
  Worker,
  WorkerPool,
} from "../mod.ts";
import { burn, BURN_MS, countTo, noop } from "./_tasks.ts";
import * as raw from "./_raw.ts";
import * as pg from "./_pg.ts";

/** Where a case runs: a SQLite driver, or PostgreSQL. */
type Driver = "node" | "ffi" | "postgres";

interface Result {
  group: string;
  case: string;
  driver: Driver;
  n: number;
  unit: "jobs/s" | "jobs/CPU s" | "µs/job" | "MiB";
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** Median of per-round ratios to the group's limit, when the case has one. */
  ratio?: number;
  /** What the ratio compares with. */
  versus?: string;
  /** Median of per-round ratios to the group's lean limit, when it has one. */
  leanRatio?: number;
  /** What the lean ratio compares with. */
  leanVersus?: string;
}

// ---------------------------------------------------------------- arguments

const argv = [...Deno.args];
let jsonPath: string | undefined;
const jsonAt = argv.indexOf("--json");
if (jsonAt >= 0) {
  const next = argv[jsonAt + 1];
  const hasPath = next !== undefined && !next.startsWith("--");
  jsonPath = hasPath ? next : "bench-results.json";
  argv.splice(jsonAt, hasPath ? 2 : 1);
}
const USAGE = "usage: deno task bench [--json [path]] [--runs N] [--backend sqlite|postgres] " +
  "[--driver node|ffi] [--db postgres://...] [--only group,...]";
const DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/test";
const opts = parseOrExit(argv, {
  runs: { type: "string", default: "5" },
  backend: { type: "string", default: "sqlite" },
  driver: { type: "string" },
  db: { type: "string" },
  only: { type: "string" },
  help: { type: "boolean", short: "h" },
}, USAGE);
if (opts.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const RUNS = positiveInt("--runs", opts.runs as string, USAGE);
const BACKEND = backendName(opts.backend as string, USAGE);
if (BACKEND === "postgres" && opts.driver !== undefined) {
  usageError(
    `--driver applies to --backend sqlite only, got --driver ${
      JSON.stringify(opts.driver)
    } with --backend postgres`,
    USAGE,
  );
}
if (BACKEND === "sqlite" && opts.db !== undefined) {
  usageError(
    `--db applies to --backend postgres only, got --db ${JSON.stringify(opts.db)}`,
    USAGE,
  );
}
const DB = (opts.db as string | undefined) ?? DEFAULT_DB;
if (!/^postgres(?:ql)?:\/\//i.test(DB)) {
  usageError(`--db must be a postgres:// or postgresql:// URL, got ${JSON.stringify(DB)}`, USAGE);
}
const DRIVERS: Driver[] = BACKEND === "postgres"
  ? ["postgres"]
  : opts.driver === undefined
  ? ["node", "ffi"]
  : [driverName(opts.driver as string, USAGE)];
const ONLY = (opts.only as string | undefined)?.split(",").filter(Boolean);
const wanted = (group: string) => ONLY === undefined || ONLY.some((o) => group.includes(o));

// ---------------------------------------------------------------- sizes

/** Jobs per case, chosen so the whole run stays well under 5 minutes. */
const N = {
  enqueueOne: 5_000,
  enqueueMany: 50_000,
  batch: 1_000,
  claimOne: 5_000,
  process: 20_000,
  /** Jobs of the pool cases that burn CPU (each BURN_MS). */
  burn: 1_000,
  rawBatch: 100,
  chainSmall: 1_000,
  chainLarge: 10_000,
  fanSmall: 1_000,
  fanLarge: 100_000,
  reused: 2_000,
  reopened: 200,
  rss: 100_000,
  /** Jobs of the telemetry cases (each submitted alone, then run by one Worker). */
  telemetry: 5_000,
};

/** Jobs per case on PostgreSQL, where each commit is a round trip to the server. */
const PG_N = {
  enqueueOne: 3_000,
  enqueueMany: 50_000,
  batch: 1_000,
  claimOne: 2_000,
  process: 10_000,
  telemetry: 1_000,
};

// ---------------------------------------------------------------- helpers

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let root = "";
let fileNo = 0;
/** The prefix of this run's PostgreSQL schemas. */
const SCHEMA_PREFIX = `gigq_bench_${Deno.pid}_`;
/**
 * A fresh database: a path in the benchmark's temp dir, or the `--db` URL
 * naming a schema no one has used (created by the first queue to open it).
 */
const freshPath = (driver: Driver) =>
  driver === "postgres"
    ? pg.withSchema(DB, `${SCHEMA_PREFIX}${++fileNo}`)
    : `${root}/q${++fileNo}.db`;

async function removeDb(path: string, driver: Driver): Promise<void> {
  if (driver === "postgres") {
    await pg.dropSchema(DB, pg.schemaOf(path));
    return;
  }
  closeConnection(path);
  for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
}

/** The storage options of a JobQueue, Worker or WorkerPool for `driver`. */
const on = (driver: Driver): JobQueueOptions => driver === "postgres" ? {} : { driver };

/** `driver`, which a SQLite-only case runs on. */
function sqlite(driver: Driver): "node" | "ffi" {
  if (driver === "postgres") throw new Error("a SQLite case was given PostgreSQL");
  return driver;
}

const quiet = () => {};
const noopJobs = (n: number) => Array.from({ length: n }, () => noop.toJob({}));
const burnJobs = (n: number) => Array.from({ length: n }, () => burn.toJob({}));
const seconds = (t0: number) => (performance.now() - t0) / 1000;

/** Submits `jobs` in one transaction while the workers wait idle, then times them all. */
async function timeAll(
  path: string,
  driver: Driver,
  jobs: Job[],
  run: { start(): Promise<void>; done(): Promise<void>; stop(): Promise<void> },
): Promise<number> {
  const queue = new JobQueue(path, on(driver));
  await queue.stats(); // the queue made before the workers open it
  await run.start();
  await queue.submitMany(jobs);
  const t0 = performance.now();
  await run.done();
  const s = seconds(t0);
  await run.stop();
  queue.close();
  return s;
}

/** One in-isolate Worker. */
function inIsolate(
  path: string,
  driver: Driver,
  concurrency: number,
  n: number,
  tasks = [noop],
) {
  let worker: Worker;
  let loop: Promise<void>;
  let all: Promise<void>;
  return {
    start() {
      worker = new Worker(path, { tasks, ...on(driver), concurrency, logger: quiet });
      all = countTo(n);
      loop = worker.start();
      // Let it settle into its idle wait (on PostgreSQL: its LISTEN too).
      return new Promise<void>((r) => setTimeout(r, driver === "postgres" ? 100 : 20));
    },
    done: () => all,
    async stop() {
      worker.stop();
      await loop;
      worker.close();
    },
  };
}

/** A WorkerPool of `workers` Web Workers; completion is watched through the file. */
function pool(path: string, driver: Driver, workers: number, concurrency: number) {
  let p: WorkerPool;
  let loop: Promise<void>;
  return {
    async start() {
      p = new WorkerPool(path, {
        tasks: [new URL("./_tasks.ts", import.meta.url).href],
        workers,
        concurrency,
        ...on(driver),
        logger: quiet,
      });
      loop = p.start();
      await p.ready;
      // Let the Web Workers settle into their idle wait.
      await new Promise((r) => setTimeout(r, 100));
    },
    async done() {
      if (driver === "postgres") {
        const sql = pg.connect(DB, 1);
        const schema = pg.schemaOf(path);
        try {
          while (await pg.jobsLeft(sql, schema)) await new Promise((r) => setTimeout(r, 5));
        } finally {
          await sql.end({ timeout: 5 });
        }
        return;
      }
      const conn = getConnection(path, { driver: sqlite(driver) });
      // Through the ready and lease indexes (the cases' jobs are all ready):
      // a scan for status would read every ended job, taking a core of this
      // 2-core machine from the pool by the end (3 ms a look at 20,000 jobs).
      const left = conn.prepare(
        `SELECT EXISTS (SELECT 1 FROM gigq_jobs
           WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0)
         OR EXISTS (SELECT 1 FROM gigq_jobs WHERE status = 'running')`,
      );
      while (left.values()[0][0] === 1) await new Promise((r) => setTimeout(r, 2));
    },
    async stop() {
      await p.stop();
      await loop;
      await p.close();
    },
  };
}

// ---------------------------------------------------------------- telemetry

/**
 * An OTLP/HTTP sink on loopback for the telemetry-on case: accepts every
 * export and drops it (what a collector costs the exporting process is the
 * exporter's work, which the case measures; the sink's own is small).
 */
let sink: { url: string; close(): Promise<void> } | undefined;
function otlpSink(): string {
  if (sink !== undefined) return sink.url;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  sink = { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
  return sink.url;
}

/**
 * One run of bench/_otel.ts (submit `n` jobs one by one, one Worker runs
 * them) in a subprocess: Deno's built-in OpenTelemetry starts with the
 * process, so "on" needs its own environment. Returns the CPU seconds the
 * workload took (the subprocess's every thread, its OTLP exporter's too):
 * on a shared machine wall time swings by ±20% from run to run.
 */
async function otelRun(path: string, driver: Driver, n: number, mode: "plain" | "off" | "on") {
  const env: Record<string, string> = mode === "on"
    ? {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink(),
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "gigq-bench",
    }
    : { OTEL_DENO: "false" };
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./_otel.ts", import.meta.url).pathname,
      path,
      driver,
      `${n}`,
      mode,
    ],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the telemetry subprocess failed (${driver}, ${mode})`);
  return JSON.parse(new TextDecoder().decode(out.stdout)).cpuSeconds as number;
}

/**
 * Telemetry off and on, each in a subprocess, next to the same workload
 * with no telemetry option at all (the path every other case runs): the
 * "off" ratio is what the option's checks cost, the "on" one what spans,
 * their links and the metrics cost with Deno's OTLP exporter busy.
 */
function telemetryGroup(n: number): Group {
  return {
    name: "telemetry, submit one by one + process (subprocesses)",
    limit: {
      name: "no telemetry option (the plain path)",
      n,
      unit: "jobs/CPU s",
      run: (path, driver) => otelRun(path, driver, n, "plain"),
    },
    cases: [
      {
        name: "telemetry: false",
        n,
        unit: "jobs/CPU s",
        run: (path, driver) => otelRun(path, driver, n, "off"),
      },
      {
        name: "telemetry on (OTEL_DENO=true, OTLP/HTTP JSON to loopback)",
        n,
        unit: "jobs/CPU s",
        run: (path, driver) => otelRun(path, driver, n, "on"),
      },
    ],
  };
}

// ---------------------------------------------------------------- cases

interface Case {
  name: string;
  n: number;
  /**
   * Fills a file once per driver; each run then gets a copy of it (for jobs
   * that take long to submit and are not what the case measures).
   */
  fill?(path: string, driver: Driver): Promise<void>;
  /** Runs once on a fresh file (a copy of the filled one, if any); returns seconds. */
  run(path: string, driver: Driver): Promise<number> | number;
  unit?: "jobs/s" | "jobs/CPU s" | "µs/job";
}

interface Group {
  name: string;
  /** The practical limit the cases are compared with, if any. */
  limit?: Case;
  /**
   * A second, leaner limit, if any: a hand-written queue's table (an integer
   * key, a status, a priority, a JSON text and one index), what a user
   * compares us with.
   */
  lean?: Case;
  cases: Case[];
}

/**
 * A WorkerPool of 2 Web Workers next to one Worker (in the isolate, same
 * concurrency per worker): on no-op jobs, where both are bound by the
 * database, and on jobs that burn CPU, the work a pool exists for.
 */
function poolGroups(noops: number): Group[] {
  const one = (jobs: (n: number) => Job[], n: number, tasks: typeof noop[]): Case => ({
    name: `one Worker, concurrency 8 (${tasks[0].name})`,
    n,
    run: (path, driver) => timeAll(path, driver, jobs(n), inIsolate(path, driver, 8, n, tasks)),
  });
  const two = (jobs: (n: number) => Job[], n: number, what: string): Case => ({
    name: `WorkerPool of 2 Web Workers × concurrency 8 (${what})`,
    n,
    run: (path, driver) => timeAll(path, driver, jobs(n), pool(path, driver, 2, 8)),
  });
  return [
    {
      name: "pool, no-op jobs",
      limit: one(noopJobs, noops, [noop]),
      cases: [two(noopJobs, noops, noop.name)],
    },
    {
      name: `pool, jobs burning ${BURN_MS} ms of CPU`,
      limit: one(burnJobs, N.burn, [burn]),
      cases: [two(burnJobs, N.burn, burn.name)],
    },
  ];
}

const groups: Group[] = [
  {
    name: "enqueue one by one",
    limit: {
      name: "raw: one insert per transaction",
      n: N.enqueueOne,
      run: (path, driver) => raw.rawInsertOne(path, sqlite(driver), N.enqueueOne),
    },
    lean: {
      name: "raw lean: one insert per transaction",
      n: N.enqueueOne,
      run: (path, driver) => raw.rawLeanInsertOne(path, sqlite(driver), N.enqueueOne),
    },
    cases: [{
      name: "await queue.submit(job)",
      n: N.enqueueOne,
      async run(path, driver) {
        const queue = new JobQueue(path, on(driver));
        await queue.stats();
        const t0 = performance.now();
        for (let i = 0; i < N.enqueueOne; i++) await queue.submit(noop.toJob({}));
        const s = seconds(t0);
        queue.close();
        return s;
      },
    }],
  },
  {
    name: "enqueue in bulk",
    limit: {
      name: `raw: ${N.batch.toLocaleString("en")} inserts per transaction`,
      n: N.enqueueMany,
      run: (path, driver) => raw.rawInsertBatch(path, sqlite(driver), N.enqueueMany, N.batch),
    },
    lean: {
      name: `raw lean: ${N.batch.toLocaleString("en")} inserts per transaction`,
      n: N.enqueueMany,
      run: (path, driver) => raw.rawLeanInsertBatch(path, sqlite(driver), N.enqueueMany, N.batch),
    },
    cases: [{
      name: `queue.submitMany, ${N.batch.toLocaleString("en")} a call`,
      n: N.enqueueMany,
      async run(path, driver) {
        const queue = new JobQueue(path, on(driver));
        await queue.stats();
        const t0 = performance.now();
        for (let i = 0; i < N.enqueueMany; i += N.batch) {
          await queue.submitMany(noopJobs(N.batch));
        }
        const s = seconds(t0);
        queue.close();
        return s;
      },
    }],
  },
  {
    name: "process, one job per claim",
    limit: {
      name: "raw: claim 1, complete 1 (2 transactions a job)",
      n: N.claimOne,
      run: (path, driver) => raw.rawClaimOne(path, sqlite(driver), N.claimOne),
    },
    cases: [{
      name: "Worker, concurrency 1",
      n: N.claimOne,
      run: (path, driver) =>
        timeAll(path, driver, noopJobs(N.claimOne), inIsolate(path, driver, 1, N.claimOne)),
    }],
  },
  {
    name: "process, batched",
    limit: {
      name: `raw: claim ${N.rawBatch} + complete ${N.rawBatch} per transaction`,
      n: N.process,
      run: (path, driver) => raw.rawClaimBatch(path, sqlite(driver), N.process, N.rawBatch),
    },
    cases: [
      {
        name: "raw: claim 8 + complete 8 per transaction",
        n: N.process,
        run: (path, driver) => raw.rawClaimBatch(path, sqlite(driver), N.process, 8),
      },
      {
        name: "raw: claim 8 + complete 8, 2 connections taking turns (one thread)",
        n: N.process,
        run: (path, driver) => raw.rawClaimBatch(path, sqlite(driver), N.process, 8, 2),
      },
      {
        name: "Worker, concurrency 8",
        n: N.process,
        run: (path, driver) =>
          timeAll(path, driver, noopJobs(N.process), inIsolate(path, driver, 8, N.process)),
      },
      {
        name: `Worker, concurrency ${N.rawBatch} (claims of ${N.rawBatch}, like the raw loop)`,
        n: N.process,
        run: (path, driver) =>
          timeAll(
            path,
            driver,
            noopJobs(N.process),
            inIsolate(path, driver, N.rawBatch, N.process),
          ),
      },
      {
        name: "WorkerPool, 2 Web Workers × concurrency 8",
        n: N.process,
        run: (path, driver) => timeAll(path, driver, noopJobs(N.process), pool(path, driver, 2, 8)),
      },
    ],
  },
  ...poolGroups(N.process),
  {
    name: "dependencies",
    cases: [
      chainCase(N.chainSmall),
      chainCase(N.chainLarge),
      fanCase(N.fanSmall),
      fanCase(N.fanLarge),
    ],
  },
  {
    name: "connections",
    cases: [
      {
        name: "submit, one JobQueue reused",
        n: N.reused,
        async run(path, driver) {
          const queue = new JobQueue(path, on(driver));
          await queue.stats();
          const t0 = performance.now();
          for (let i = 0; i < N.reused; i++) await queue.submit(noop.toJob({}));
          const s = seconds(t0);
          queue.close();
          return s;
        },
      },
      {
        name: "submit, new JobQueue (connection) per job",
        n: N.reopened,
        async run(path, driver) {
          (await new JobQueue(path, on(driver)).stats(), closeConnection(path));
          const t0 = performance.now();
          for (let i = 0; i < N.reopened; i++) {
            const queue = new JobQueue(path, on(driver));
            await queue.submit(noop.toJob({}));
            queue.close();
          }
          return seconds(t0);
        },
      },
    ],
  },
  telemetryGroup(N.telemetry),
];

/** A raw loop's own schema beside a case's: the case's name with `_raw`. */
const rawSchema = (path: string) => `${pg.schemaOf(path)}_raw`;

/** The same cases on PostgreSQL, next to plain loops on the same client (`_pg.ts`). */
const pgGroups: Group[] = [
  {
    name: "enqueue one by one",
    limit: {
      name: "raw: one INSERT per statement (transaction), awaited",
      n: PG_N.enqueueOne,
      run: (path) => pg.rawInsertOne(DB, rawSchema(path), PG_N.enqueueOne),
    },
    lean: {
      name: "raw lean: one INSERT per statement (transaction), awaited",
      n: PG_N.enqueueOne,
      run: (path) => pg.rawLeanInsertOne(DB, rawSchema(path), PG_N.enqueueOne),
    },
    cases: [{
      name: "await queue.submit(job)",
      n: PG_N.enqueueOne,
      async run(path) {
        const queue = new JobQueue(path);
        await queue.stats();
        const t0 = performance.now();
        for (let i = 0; i < PG_N.enqueueOne; i++) await queue.submit(noop.toJob({}));
        const s = seconds(t0);
        queue.close();
        return s;
      },
    }],
  },
  {
    name: "enqueue in bulk",
    limit: {
      name: `raw: INSERT … unnest of ${PG_N.batch.toLocaleString("en")} ids a statement`,
      n: PG_N.enqueueMany,
      run: (path) => pg.rawInsertBatch(DB, rawSchema(path), PG_N.enqueueMany, PG_N.batch),
    },
    lean: {
      name: `raw lean: multi-row INSERT of ${PG_N.batch.toLocaleString("en")} rows a statement`,
      n: PG_N.enqueueMany,
      run: (path) => pg.rawLeanInsertBatch(DB, rawSchema(path), PG_N.enqueueMany, PG_N.batch),
    },
    cases: [{
      name: `queue.submitMany, ${PG_N.batch.toLocaleString("en")} a call`,
      n: PG_N.enqueueMany,
      async run(path) {
        const queue = new JobQueue(path);
        await queue.stats();
        const t0 = performance.now();
        for (let i = 0; i < PG_N.enqueueMany; i += PG_N.batch) {
          await queue.submitMany(noopJobs(PG_N.batch));
        }
        const s = seconds(t0);
        queue.close();
        return s;
      },
    }],
  },
  {
    name: "process, one job per claim",
    limit: {
      name: "raw: SKIP LOCKED claim 1 + complete 1, 1 loop",
      n: PG_N.claimOne,
      run: (path) => pg.rawClaimLoop(DB, rawSchema(path), PG_N.claimOne, 1),
    },
    cases: [{
      name: "Worker, concurrency 1",
      n: PG_N.claimOne,
      run: (path, driver) =>
        timeAll(path, driver, noopJobs(PG_N.claimOne), inIsolate(path, driver, 1, PG_N.claimOne)),
    }],
  },
  {
    name: "process, concurrently",
    limit: {
      name: "raw: SKIP LOCKED claim 1 + complete 1, 8 loops on a pool of 8",
      n: PG_N.process,
      run: (path) => pg.rawClaimLoop(DB, rawSchema(path), PG_N.process, 8),
    },
    cases: [
      {
        name: "Worker, concurrency 8",
        n: PG_N.process,
        run: (path, driver) =>
          timeAll(path, driver, noopJobs(PG_N.process), inIsolate(path, driver, 8, PG_N.process)),
      },
      {
        name: "Worker, concurrency 100",
        n: PG_N.process,
        run: (path, driver) =>
          timeAll(
            path,
            driver,
            noopJobs(PG_N.process),
            inIsolate(path, driver, 100, PG_N.process),
          ),
      },
      {
        name: "WorkerPool, 2 Web Workers × concurrency 8",
        n: PG_N.process,
        run: (path, driver) =>
          timeAll(path, driver, noopJobs(PG_N.process), pool(path, driver, 2, 8)),
      },
    ],
  },
  ...poolGroups(PG_N.process),
  telemetryGroup(PG_N.telemetry),
];

/** Submits `jobs` to `path`, then closes the file so it can be copied. */
async function fillWith(path: string, driver: Driver, jobs: Job[]): Promise<void> {
  const queue = new JobQueue(path, on(driver));
  await queue.submitMany(jobs);
  queue.close();
  closeConnection(path);
}

/** Times one Worker (concurrency 8) from its start until it has run the `n` jobs in the file. */
async function drain(path: string, driver: Driver, n: number): Promise<number> {
  const worker = new Worker(path, { tasks: [noop], ...on(driver), concurrency: 8, logger: quiet });
  const all = countTo(n);
  const t0 = performance.now();
  const loop = worker.start();
  await all;
  const s = seconds(t0);
  worker.stop();
  await loop;
  worker.close();
  return s;
}

/** A chain of `n` jobs, each depending on the one before. */
function chainCase(n: number): Case {
  return {
    name: `chain of ${n.toLocaleString("en")} (${(n - 1).toLocaleString("en")} waiting)`,
    n,
    unit: "µs/job",
    fill(path, driver) {
      const jobs: Job[] = [];
      for (let i = 0; i < n; i++) {
        jobs.push(noop.toJob({}, { dependencies: i === 0 ? [] : [jobs[i - 1]] }));
      }
      return fillWith(path, driver, jobs);
    },
    run: (path, driver) => drain(path, driver, n),
  };
}

/** One job with `n` children that wait for it. */
function fanCase(n: number): Case {
  return {
    name: `1 root → ${n.toLocaleString("en")} children`,
    n: n + 1,
    unit: "µs/job",
    fill(path, driver) {
      const rootJob = noop.toJob({});
      const jobs = [rootJob];
      for (let i = 0; i < n; i++) jobs.push(noop.toJob({}, { dependencies: [rootJob] }));
      return fillWith(path, driver, jobs);
    },
    run: (path, driver) => drain(path, driver, n + 1),
  };
}

// ---------------------------------------------------------------- memory

async function peakRss(path: string, driver: Driver, n: number): Promise<number> {
  // Deno lets a script read /proc/self/status only with --allow-all (the
  // child is ours; --allow-run, which the benchmark needs, grants as much).
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./_rss.ts", import.meta.url).pathname,
      path,
      driver,
      `${n}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the RSS subprocess failed (${driver}, n=${n})`);
  return JSON.parse(new TextDecoder().decode(out.stdout)).hwmKiB / 1024;
}

async function memoryResults(driver: Driver): Promise<Result[]> {
  // One file with N.rss jobs, copied for each run.
  const template = freshPath(driver);
  const queue = new JobQueue(template, on(driver));
  for (let i = 0; i < N.rss; i += 10_000) await queue.submitMany(noopJobs(10_000));
  queue.close();
  closeConnection(template);
  const worker: number[] = [];
  const baseline: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const path = freshPath(driver);
    await Deno.copyFile(template, path);
    worker.push(await peakRss(path, driver, N.rss));
    baseline.push(await peakRss(path, driver, 0));
    await removeDb(path, driver);
  }
  await removeDb(template, driver);
  const result = (name: string, n: number, samples: number[]): Result => ({
    group: "memory",
    case: name,
    driver,
    n,
    unit: "MiB",
    samples,
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
  });
  return [
    result(
      `peak RSS of a Worker running ${N.rss.toLocaleString("en")} jobs (subprocess)`,
      N.rss,
      worker,
    ),
    result("peak RSS of Deno opening the queue (baseline)", 0, baseline),
  ];
}

// ---------------------------------------------------------------- running

async function runGroup(group: Group, driver: Driver): Promise<Result[]> {
  const limits = [group.limit, group.lean].filter((c): c is Case => c !== undefined);
  const members = [...limits, ...group.cases];
  const rates = new Map<Case, number[]>(members.map((c) => [c, []]));
  const templates = new Map<Case, string>();
  for (const c of members) {
    if (c.fill === undefined) continue;
    const template = freshPath(driver);
    await c.fill(template, driver);
    templates.set(c, template);
  }
  for (let r = 0; r < RUNS; r++) {
    for (const c of members) {
      const path = freshPath(driver);
      const template = templates.get(c);
      if (template !== undefined) await Deno.copyFile(template, path);
      const s = await c.run(path, driver);
      await removeDb(path, driver);
      rates.get(c)!.push(c.unit === "µs/job" ? (s * 1e6) / c.n : c.n / s);
    }
  }
  for (const template of templates.values()) await removeDb(template, driver);
  const limitRates = group.limit ? rates.get(group.limit) : undefined;
  const leanRates = group.lean ? rates.get(group.lean) : undefined;
  return members.map((c) => {
    const samples = rates.get(c)!;
    const res: Result = {
      group: group.name,
      case: c.name,
      driver,
      n: c.n,
      unit: c.unit ?? "jobs/s",
      samples,
      median: median(samples),
      min: Math.min(...samples),
      max: Math.max(...samples),
    };
    if (limits.includes(c)) return res;
    if (limitRates) {
      res.ratio = median(samples.map((x, i) => x / limitRates[i]));
      res.versus = group.limit!.name;
    }
    if (leanRates) {
      res.leanRatio = median(samples.map((x, i) => x / leanRates[i]));
      res.leanVersus = group.lean!.name;
    }
    return res;
  });
}

function machine() {
  // os.cpus() reads /proc/cpuinfo on Linux (Deno lets a script read that file
  // itself only with --allow-all); --allow-sys=cpus is enough for this.
  const cpus = os.cpus();
  const nodeDb = new DatabaseSync(":memory:");
  const nodeSqlite = String(
    (nodeDb.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v,
  );
  nodeDb.close();
  let ffiSqlite = "unavailable";
  try {
    ffiSqlite = raw.ffiSqliteVersion();
  } catch {
    // No --allow-ffi or no system library: the ffi rows are skipped.
  }
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length || navigator.hardwareConcurrency,
    ramGiB: Math.round((Deno.systemMemoryInfo().total / 2 ** 30) * 10) / 10,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    sqlite: { node: nodeSqlite, ffi: ffiSqlite },
  };
}

function fmt(x: number, unit: string): string {
  if (!Number.isFinite(x)) return "—";
  if (unit === "jobs/s" || unit === "jobs/CPU s") {
    return x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : Math.round(x).toLocaleString("en");
  }
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function table(results: Result[]): string {
  const rows = [["driver", "case", "N", "unit", "median", "min", "max", "vs limit", "vs lean"]];
  for (const r of results) {
    rows.push([
      r.driver,
      r.case,
      r.n.toLocaleString("en"),
      r.unit,
      fmt(r.median, r.unit),
      fmt(r.min, r.unit),
      fmt(r.max, r.unit),
      r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}×`,
      r.leanRatio === undefined ? "" : `${r.leanRatio.toFixed(2)}×`,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    "| " + r.map((c, i) => (i >= 2 && i <= 6 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join(" | ") +
    " |";
  const sep = "|" +
    widths.map((w, i) => (i >= 2 && i <= 6 ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2)))
      .join("|") +
    "|";
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join("\n");
}

/** The groups this run measures: SQLite's (with memory), or PostgreSQL's. */
const GROUPS = BACKEND === "postgres" ? pgGroups : groups;

if (ONLY !== undefined) {
  const names = BACKEND === "postgres"
    ? GROUPS.map((g) => g.name)
    : [...GROUPS.map((g) => g.name), "memory"];
  for (const o of ONLY) {
    if (!names.some((name) => name.includes(o))) {
      usageError(
        `--only: ${JSON.stringify(o)} names no group; the groups are ${
          names.map((n) => JSON.stringify(n)).join(", ")
        }`,
        USAGE,
      );
    }
  }
}

const started = performance.now();
root = await Deno.makeTempDir({ prefix: "gigq-bench-" });
const info: ReturnType<typeof machine> & { postgres?: string } = machine();
if (BACKEND === "postgres") {
  try {
    info.postgres = await pg.serverVersion(DB);
  } catch (error) {
    console.error(`Cannot reach PostgreSQL at ${DB}: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
console.log(
  `GigQ benchmark: ${info.cpu}, ${info.cores} cores, ${info.ramGiB} GiB RAM, ${info.os}; ` +
    `Deno ${info.deno}; ` +
    (BACKEND === "postgres"
      ? `PostgreSQL ${info.postgres} at ${pg.withoutPassword(DB)}; `
      : `SQLite ${info.sqlite.node} (node), ${info.sqlite.ffi} (ffi); `) +
    `${RUNS} runs per case`,
);
const results: Result[] = [];
try {
  for (const driver of DRIVERS) {
    if (driver === "ffi" && info.sqlite.ffi === "unavailable") {
      console.log("ffi: skipped (no --allow-ffi or no system SQLite library)");
      continue;
    }
    for (const group of GROUPS) {
      if (!wanted(group.name)) continue;
      const t = performance.now();
      const rs = await runGroup(group, driver);
      results.push(...rs);
      console.error(`  ${driver} ${group.name}: ${seconds(t).toFixed(1)} s`);
    }
    if (BACKEND === "sqlite" && wanted("memory")) {
      const t = performance.now();
      results.push(...await memoryResults(driver));
      console.error(`  ${driver} memory: ${seconds(t).toFixed(1)} s`);
    }
  }
} finally {
  await sink?.close();
  await Deno.remove(root, { recursive: true }).catch(() => {});
  if (BACKEND === "postgres") await pg.dropSchemas(DB, SCHEMA_PREFIX).catch(() => {});
}

// Ratios that are not against a raw loop: dependencies and connections.
const extra: string[] = [];
for (const driver of DRIVERS) {
  const get = (name: string) => results.find((r) => r.driver === driver && r.case === name);
  const pairs: [string, Result | undefined, Result | undefined, string][] = [
    ["chain", get(chainCase(N.chainLarge).name), get(chainCase(N.chainSmall).name), "µs/job"],
    ["fan-out", get(fanCase(N.fanLarge).name), get(fanCase(N.fanSmall).name), "µs/job"],
  ];
  for (const [what, large, small] of pairs) {
    if (large && small) {
      extra.push(
        `${driver}: ${what}: µs per job with ${large.case.match(/[\d,]+/g)?.at(-1)} ` +
          `vs ${small.case.match(/[\d,]+/g)?.at(-1)}: ${(large.median / small.median).toFixed(2)}×`,
      );
    }
  }
  const plain = results.find((r) => r.driver === driver && r.case.startsWith("no telemetry"));
  const off = get("telemetry: false");
  const onCase = results.find((r) => r.driver === driver && r.case.startsWith("telemetry on"));
  if (plain && off && onCase) {
    const pct = (ratio: number) => `${((1 / ratio - 1) * 100).toFixed(1)}%`;
    extra.push(
      `${driver}: telemetry overhead (CPU per job vs no option): off ${pct(off.ratio!)}, ` +
        `on ${pct(onCase.ratio!)}`,
    );
  }
  const reuse = get("submit, one JobQueue reused");
  const fresh = get("submit, new JobQueue (connection) per job");
  if (reuse && fresh) {
    const us = (rate: number) => 1e6 / rate;
    extra.push(
      `${driver}: a new connection per submit costs ${(us(fresh.median) / 1000).toFixed(2)} ms ` +
        `a submit vs ${us(reuse.median).toFixed(0)} µs reusing one: ` +
        `${(reuse.median / fresh.median).toFixed(0)}× slower`,
    );
  }
}

const total = seconds(started);
console.log();
console.log(table(results));
console.log();
for (const line of extra) console.log(line);
console.log(`total: ${total.toFixed(0)} s`);
if (jsonPath !== undefined) {
  await Deno.writeTextFile(
    jsonPath,
    JSON.stringify(
      {
        machine: info,
        backend: BACKEND,
        ...(BACKEND === "postgres" ? { schemas: `${SCHEMA_PREFIX}*` } : {}),
        runs: RUNS,
        seconds: total,
        results,
        notes: extra,
      },
      null,
      2,
    ) +
      "\n",
  );
  console.log(`wrote ${jsonPath}`);
}
