/**
 * What a dashboard's queries cost on a big queue: listJobs (filters, search,
 * cursor), countJobs, workers, activity, getStatus, stats and queues, on a
 * table of `--jobs` jobs.
 *
 *   deno task bench:dashboard [--backend sqlite|postgres] [--driver node|ffi]
 *     [--jobs 1000000] [--runs 7] [--url postgres://…] [--what-if] [--keep] [--json]
 *
 * Opens a JobQueue on a fresh file (or schema) to make the tables, then
 * seeds the jobs with one INSERT … SELECT (a recursive CTE on SQLite,
 * generate_series on PostgreSQL, then ANALYZE there): 97% completed, 1%
 * failed, 2% pending (spread evenly through the table), 5 queues, 20 tasks,
 * a job every 10 ms (so the last hour holds 360,000 ended jobs), params
 * `{"user":N,"email":"userN@example.com"}` with N = seq mod 100,000; 40
 * running jobs under 4 live workers, and 10 stopped workers. Each query runs
 * once to warm up, then `--runs` times; prints the median (and the fastest
 * and slowest) in milliseconds. With `--what-if`, also times activity with
 * two indexes GigQ does not have (on completed_at; covering completed_at,
 * queue and status), and what each costs a batch of completions.
 */
import { getConnection, JobQueue } from "../mod.ts";
import { backendName, driverName, parseOrExit, positiveInt, usageError } from "./_args.ts";
import { connect, schemaOf, withSchema } from "./_pg.ts";

const USAGE = "usage: deno task bench:dashboard [--backend sqlite|postgres] " +
  "[--driver node|ffi] [--jobs N] [--runs N] [--url URL] [--what-if] [--keep] [--json]";
const values = parseOrExit(Deno.args, {
  backend: { type: "string", default: "sqlite" },
  driver: { type: "string" },
  jobs: { type: "string", default: "1000000" },
  runs: { type: "string", default: "7" },
  url: { type: "string" },
  "what-if": { type: "boolean", default: false },
  http: { type: "boolean", default: false },
  requests: { type: "string", default: "20" },
  keep: { type: "boolean", default: false },
  json: { type: "boolean", default: false },
}, USAGE);
const backend = backendName(values.backend as string, USAGE);
if (backend === "postgres" && values.driver !== undefined) {
  usageError(
    `--driver applies to --backend sqlite only, got --driver ${
      JSON.stringify(values.driver)
    } with --backend postgres`,
    USAGE,
  );
}
if (backend === "sqlite" && values.url !== undefined) {
  usageError(
    `--url applies to --backend postgres only, got --url ${JSON.stringify(values.url)}`,
    USAGE,
  );
}
const driver = driverName((values.driver as string | undefined) ?? "node", USAGE);
const jobs = positiveInt("--jobs", values.jobs as string, USAGE);
const runs = positiveInt("--runs", values.runs as string, USAGE);
const requests = positiveInt("--requests", values.requests as string, USAGE);
const baseUrl = (values.url as string | undefined) ?? "postgres://postgres@127.0.0.1:5432/test";

/** When the first job was submitted; a job every 10 ms after it. */
const BASE = Date.UTC(2026, 0, 1);
/** The queue's clock: a second after the last job. */
const NOW = BASE + jobs * 10 + 1000;
const clock = {
  now: () => NOW,
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (id: unknown) => clearTimeout(id as number),
};

/** A job's id from its seq (unique, UUID-shaped). */
const idOf = (seq: number) =>
  `${seq.toString(16).padStart(8, "0")}-0000-7000-8000-${seq.toString(16).padStart(12, "0")}`;

/**
 * The seeded rows' values, as SQL over the integer `i` (1…jobs), shared by
 * both dialects (`hex` and `text` differ).
 */
function rowSql(hex: (e: string) => string, text: (e: string) => string): string {
  const status = `CASE WHEN i % 100 = 7 THEN 'failed' WHEN i % 50 = 3 THEN 'pending'
    ELSE 'completed' END`;
  const ended = `(i % 50 <> 3 OR i % 100 = 7)`;
  return `SELECT
      ${hex("i")} AS id,
      't' || ${text("i % 20")} AS name,
      't' || ${text("i % 20")} AS task,
      '{"user":' || ${text("i % 100000")} || ',"email":"user' || ${
    text("i % 100000")
  } || '@example.com"}' AS params,
      0 AS priority, 3 AS max_attempts, 60 AS timeout, 0 AS retry_delay, 'fixed' AS backoff,
      '' AS description, '[]' AS dependencies,
      ${status} AS status,
      CASE WHEN ${ended} THEN 1 ELSE 0 END AS attempts,
      CASE WHEN ${ended} THEN 1 ELSE 0 END AS runs,
      ${BASE} + i * 10 AS run_at,
      CASE WHEN ${ended} AND i % 100 <> 7 THEN '"ok"' END AS result,
      CASE WHEN i % 100 = 7 THEN 'Error: boom' END AS error,
      CASE WHEN ${ended} THEN 'w' || ${text("i % 4")} END AS worker_id,
      ${BASE} + i * 10 AS created_at,
      ${BASE} + i * 10 + CASE WHEN ${ended} THEN 500 ELSE 0 END AS updated_at,
      CASE WHEN ${ended} THEN ${BASE} + i * 10 + 100 END AS started_at,
      CASE WHEN ${ended} THEN ${BASE} + i * 10 + 500 END AS completed_at,
      'q' || ${text("(i / 7) % 5")} AS queue`;
}

const COLUMNS = `id, name, task, params, priority, max_attempts, timeout, retry_delay, backoff,
  description, dependencies, status, attempts, runs, run_at, result, error, worker_id, created_at,
  updated_at, started_at, completed_at, queue`;

/** 4 live workers, each running 10 of the newest pending jobs, and 10 stopped ones. */
function workersSql(): string {
  const rows: string[] = [];
  for (let w = 0; w < 14; w++) {
    const stopped = w >= 4 ? String(NOW - 60_000 * w) : "NULL";
    rows.push(
      `('w${w}', 'bench-host', ${1000 + w}, '["t0","t1"]', NULL, 10, ${BASE}, ${
        NOW - 1000 * w
      }, ${stopped})`,
    );
  }
  return `INSERT INTO gigq_workers (id, host, pid, tasks, queues, concurrency, started_at,
      seen_at, stopped_at) VALUES ${rows.join(", ")}`;
}

/** A seeded queue, and its storage for statements of the benchmark's own. */
interface Target {
  queue: JobQueue;
  /** Runs `sql` on the storage directly (the what-if indexes and completions). */
  exec(sql: string): Promise<void>;
  /** Runs query `sql` on the storage directly; its rows. */
  rows(sql: string): Promise<unknown[]>;
  /** Closes the queue and deletes the file or schema. */
  close(): Promise<void>;
  /** The backend, driver and version, for the heading. */
  label: string;
}

async function sqliteTarget(): Promise<Target> {
  const dir = await Deno.makeTempDir({ prefix: "gigq-dash-" });
  const path = `${dir}/dash.db`;
  const queue = new JobQueue(path, { driver, clock });
  await queue.stats();
  const conn = getConnection(path, { driver });
  const exec = (sql: string) => Promise.resolve(conn.exec(sql));
  const rows = (sql: string) => Promise.resolve(conn.prepare(sql).all());
  const hex = (e: string) => `printf('%08x-0000-7000-8000-%012x', ${e}, ${e})`;
  const text = (e: string) => `CAST(${e} AS TEXT)`;
  const t0 = performance.now();
  conn.exec(`INSERT INTO gigq_jobs (${COLUMNS})
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${jobs})
    ${rowSql(hex, text)} FROM n`);
  conn.exec(workersSql());
  conn.exec(`UPDATE gigq_jobs SET status = 'running', attempts = 1, runs = 1,
      worker_id = 'w' || (seq % 4), lease_owner = 'o' || (seq % 4), started_at = ${NOW - 5000},
      lease_until = ${NOW + 60_000}
    WHERE seq IN (SELECT seq FROM gigq_jobs WHERE status = 'pending' ORDER BY seq DESC LIMIT 40)`);
  console.error(`seeded ${jobs} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return {
    queue,
    exec,
    rows,
    label: `sqlite ${driver} (SQLite ${conn.sqliteVersion})`,
    close: async () => {
      queue.close();
      if (values.keep) console.error(`kept ${path}`);
      else await Deno.remove(dir, { recursive: true });
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const schema = `gigq_dash_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const url = withSchema(baseUrl, schema);
  const queue = new JobQueue(url, { clock });
  await queue.stats();
  const sql = connect(url, 1);
  const s = `"${schemaOf(url)}"`;
  // One connection: the session's search path holds for every statement.
  await sql.unsafe(`SET search_path TO ${s}`);
  const exec = async (text: string) => {
    await sql.unsafe(text).simple();
  };
  const rows = async (text: string) => [...await sql.unsafe(text)];
  const hex = (e: string) =>
    `lpad(to_hex(${e}), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(${e}), 12, '0')`;
  const text = (e: string) => `(${e})::text`;
  const t0 = performance.now();
  await exec(`INSERT INTO gigq_jobs (${COLUMNS})
    SELECT id, name, task, params, priority, max_attempts, timeout, retry_delay, backoff,
      description, dependencies, status, attempts, runs, run_at, result, error, worker_id,
      created_at, updated_at, started_at, completed_at, queue
    FROM (${rowSql(hex, text)} FROM generate_series(1, ${jobs}) AS g(i)) AS r`);
  await exec(workersSql());
  await exec(`UPDATE gigq_jobs SET status = 'running', attempts = 1, runs = 1,
      worker_id = 'w' || (seq % 4), lease_owner = 'o' || (seq % 4), started_at = ${NOW - 5000},
      lease_until = ${NOW + 60_000}
    WHERE seq IN (SELECT seq FROM gigq_jobs WHERE status = 'pending' ORDER BY seq DESC LIMIT 40)`);
  await exec("VACUUM ANALYZE gigq_jobs");
  const [v] = await sql.unsafe("SHOW server_version");
  console.error(`seeded ${jobs} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return {
    queue,
    exec,
    rows,
    label: `postgres (PostgreSQL ${v.server_version})`,
    close: async () => {
      queue.close();
      if (values.keep) console.error(`kept schema ${s} at ${baseUrl}`);
      else await sql.unsafe(`DROP SCHEMA ${s} CASCADE`);
      await sql.end({ timeout: 1 });
    },
  };
}

/** Median, fastest and slowest of `runs` timed calls of `fn` (after one untimed). */
async function time(
  fn: () => Promise<unknown>,
): Promise<{ median: number; min: number; max: number }> {
  await fn();
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms[ms.length - 1] };
}

const target = backend === "sqlite" ? await sqliteTarget() : await postgresTarget();
const q = target.queue;
const mid = idOf(Math.floor(jobs / 2));
const newest = idOf(jobs);
const queries: [string, () => Promise<unknown>][] = [
  ["listJobs() newest 100", () => q.listJobs()],
  ["listJobs limit 50", () => q.listJobs({ limit: 50 })],
  ["listJobs before (mid table)", () => q.listJobs({ limit: 50, before: mid })],
  ["listJobs failed", () => q.listJobs({ status: "failed", limit: 50 })],
  [
    "listJobs failed, queue, before",
    () => q.listJobs({ status: "failed", queue: "q2", limit: 50, before: mid }),
  ],
  ["listJobs running", () => q.listJobs({ status: "running", limit: 50 })],
  ["listJobs pending", () => q.listJobs({ status: "pending", limit: 50 })],
  ["listJobs pending, queue", () => q.listJobs({ status: "pending", queue: "q2", limit: 50 })],
  ["listJobs completed, task", () => q.listJobs({ status: "completed", task: "t7", limit: 50 })],
  ["listJobs queue, task", () => q.listJobs({ queue: "q1", task: "t3", limit: 50 })],
  ["listJobs task (no such)", () => q.listJobs({ task: "nothing", limit: 50 })],
  ["listJobs search params (10 hits)", () => q.listJobs({ search: '"user":4242,', limit: 50 })],
  ["listJobs search id", () => q.listJobs({ search: newest, limit: 50 })],
  ["listJobs search no match", () => q.listJobs({ search: "nobody@nowhere", limit: 50 })],
  ["listJobs failed, search", () => q.listJobs({ status: "failed", search: "user42", limit: 50 })],
  ["countJobs()", () => q.countJobs()],
  ["countJobs failed", () => q.countJobs({ status: "failed" })],
  ["countJobs pending", () => q.countJobs({ status: "pending" })],
  ["countJobs pending, queue", () => q.countJobs({ status: "pending", queue: "q2" })],
  ["countJobs queue", () => q.countJobs({ queue: "q1" })],
  ["countJobs failed, task", () => q.countJobs({ status: "failed", task: "t7" })],
  ["countJobs task (no such)", () => q.countJobs({ task: "nothing" })],
  ["countJobs search params", () => q.countJobs({ search: '"user":4242,' })],
  ["workers()", () => q.workers()],
  ["workers stopped", () => q.workers({ stopped: true })],
  ["activity() 60 min", () => q.activity()],
  ["activity queue", () => q.activity({ queue: "q1" })],
  ["activity 1440 min", () => q.activity({ minutes: 1440 })],
  ["getStatus", () => q.getStatus(mid)],
  ["stats()", () => q.stats()],
  ["queues()", () => q.queues()],
];
const results: Record<string, { median: number; min: number; max: number }> = {};
for (const [name, fn] of queries) {
  results[name] = await time(fn);
  if (!values.json) {
    const r = results[name];
    console.log(
      `${name.padEnd(36)} ${r.median.toFixed(2).padStart(9)} ms  (${r.min.toFixed(2)}–${
        r.max.toFixed(2)
      })`,
    );
  }
}

/**
 * With `--http`: the dashboard itself, served on loopback, asked for its
 * pages and API `--requests` times each (after one cold request, reported on
 * its own: the overview's first request counts every queue, the next ones
 * reuse those counts for 5 s).
 */
const http: Record<string, { cold: number; median: number; min: number; max: number }> = {};
if (values.http) {
  const { dashboard } = await import("../dashboard.ts");
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen: () => {} },
    dashboard(q),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  };
  const pages = [
    "/",
    "/jobs/",
    "/jobs/?status=failed",
    "/jobs/?queue=q2",
    "/jobs/?status=completed&queue=q1&task=t3",
    `/jobs/?before=${mid}`,
    `/jobs/?search=${encodeURIComponent('"user":4242,')}`,
    `/jobs/${mid}`,
    "/workers/",
    "/api/jobs?status=failed&limit=50",
    "/api/queues",
    "/api/stats",
  ];
  for (const path of pages) {
    let t = performance.now();
    await get(path);
    const cold = performance.now() - t;
    const ms: number[] = [];
    for (let r = 0; r < requests; r++) {
      t = performance.now();
      await get(path);
      ms.push(performance.now() - t);
    }
    ms.sort((x, y) => x - y);
    http[path] = { cold, median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms.at(-1)! };
    if (!values.json) {
      const r = http[path];
      console.log(
        `GET ${path.slice(0, 48).padEnd(48)} median ${r.median.toFixed(1).padStart(7)} ms  ` +
          `(${r.min.toFixed(1)}–${r.max.toFixed(1)}; first ${r.cold.toFixed(1)} ms)`,
      );
    }
  }
  stop.abort();
  await server.finished;
}

/** What an index GigQ lacks would save activity, and cost completions. */
const whatIf: Record<string, number> = {};
if (values["what-if"]) {
  const completions = async () => {
    // 2,000 pending jobs completed in one statement, then put back.
    const pick = `SELECT seq FROM gigq_jobs WHERE status = 'pending' ORDER BY seq LIMIT 2000`;
    const t = performance.now();
    await target.exec(`UPDATE gigq_jobs SET status = 'completed', completed_at = ${NOW},
      updated_at = ${NOW} WHERE seq IN (${pick})`);
    const ms = performance.now() - t;
    await target.exec(`UPDATE gigq_jobs SET status = 'pending', completed_at = NULL
      WHERE completed_at = ${NOW} AND started_at IS NULL`);
    return ms;
  };
  const median = async (fn: () => Promise<number>) => {
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) ms.push(await fn());
    return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];
  };
  whatIf["2000 completions, no index"] = await median(completions);
  for (
    const [name, ddl] of [
      [
        "on (completed_at)",
        "CREATE INDEX bench_ended_at ON gigq_jobs (completed_at) WHERE completed_at IS NOT NULL",
      ],
      [
        "on (completed_at, queue, status)",
        "CREATE INDEX bench_ended_at ON gigq_jobs (completed_at, queue, status) WHERE completed_at IS NOT NULL",
      ],
    ]
  ) {
    await target.exec(ddl);
    if (backend === "postgres") await target.exec("ANALYZE gigq_jobs");
    whatIf[`activity() 60 min, index ${name}`] = (await time(() => q.activity())).median;
    whatIf[`activity queue, index ${name}`] = (await time(() => q.activity({ queue: "q1" })))
      .median;
    whatIf[`2000 completions, index ${name}`] = await median(completions);
    // With an index on completed_at, one range count per minute reads only the window's
    // entries and sorts nothing (a GROUP BY on the minute sorts or hashes every job of it).
    const since = Math.floor(NOW / 60_000) * 60_000 - 59 * 60_000;
    // SQLite would read the failed jobs through gigq_jobs_ended (an OR of two of its
    // ranges, each row looked up) for every minute: 30 times slower. A unary + keeps the
    // status test off any index.
    const plus = backend === "sqlite" ? "+" : "";
    const perMinute = (queue: string | undefined) =>
      `SELECT k.i, (SELECT count(*) FROM gigq_jobs WHERE completed_at >= ${since} + k.i * 60000
          AND completed_at < ${since} + (k.i + 1) * 60000 AND status = 'completed'${
        queue === undefined ? "" : ` AND queue = '${queue}'`
      }) AS completed,
        (SELECT count(*) FROM gigq_jobs WHERE completed_at >= ${since} + k.i * 60000
          AND completed_at < ${since} + (k.i + 1) * 60000
          AND (${plus}status = 'failed' OR ${plus}status = 'timeout')${
        queue === undefined ? "" : ` AND queue = '${queue}'`
      }) AS failed
      FROM (${
        backend === "sqlite"
          ? "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 59) " +
            "SELECT i FROM n"
          : "SELECT generate_series(0, 59) AS i"
      }) AS k`;
    whatIf[`activity 60 min as range counts per minute, index ${name}`] = (await time(() =>
      target.rows(perMinute(undefined))
    )).median;
    whatIf[`activity queue as range counts per minute, index ${name}`] = (await time(() =>
      target.rows(perMinute("q1"))
    )).median;
    await target.exec("DROP INDEX bench_ended_at");
  }
  if (!values.json) {
    for (const [name, ms] of Object.entries(whatIf)) {
      console.log(`what if: ${name.padEnd(50)} ${ms.toFixed(2).padStart(9)} ms`);
    }
  }
}
if (values.json) {
  console.log(
    JSON.stringify({ backend: target.label, jobs, runs, results, whatIf, http }, null, 2),
  );
} else {
  console.log(
    `(${target.label}, ${jobs} jobs, median of ${runs} runs${
      values.http ? `; HTTP: median of ${requests} requests on loopback` : ""
    })`,
  );
}
await target.close();
