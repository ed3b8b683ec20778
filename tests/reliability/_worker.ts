/**
 * A worker process for the reliability suites:
 *
 *   deno run --allow-read --allow-write tests/reliability/_worker.ts --db PATH [options]
 *
 *   deno run --allow-read --allow-write --allow-net --allow-env tests/reliability/_worker.ts \
 *     --db postgres://user@host:port/db?schema=NAME [options]
 *
 * Runs a Worker with two tasks: `noop` (returns its `n`) and `effect` (records
 * a side effect keyed by job id and run in the `effects` table of the same
 * file, or of the same PostgreSQL schema through a connection of its own, in
 * a statement of its own; waits `ms`, and returns its attempt). Prints `ready` once started,
 * `rss <processed> <bytes> <heapUsed> <heapTotal> <external>` every `--rss-every` jobs, and a JSON
 * summary line when it stops (SIGTERM, or `--stop-after` jobs). Warnings and
 * errors go to stderr, one line each.
 *
 * Options: --id ID, --lease SECONDS, --concurrency N, --poll SECONDS,
 * --driver node|ffi (SQLite only), --watch (wake on other processes' commits, as a Worker does by
 * default; the suites pass it), --rss-every N, --stop-after N.
 */
import { parseArgs } from "node:util";
import { getConnection, type JobContext, task, Worker } from "../../mod.ts";
import { retryBusy } from "../../src/sqlite/_busy.ts";
import { isPostgres, postgresTarget } from "./_common.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    db: { type: "string" },
    id: { type: "string" },
    lease: { type: "string", default: "30" },
    concurrency: { type: "string", default: "1" },
    poll: { type: "string", default: "0.5" },
    driver: { type: "string", default: "node" },
    watch: { type: "boolean", default: false },
    "rss-every": { type: "string" },
    "stop-after": { type: "string" },
  },
}).values;
const path = args.db!;
const driver = args.driver as "node" | "ffi";
const onPostgres = isPostgres(path);

/** Records who ran which run of which job: the side effect the chaos suite counts. */
const RECORD = `INSERT INTO effects (job_id, run, attempt, worker_id, at)
  VALUES (?1, (SELECT runs FROM gigq_jobs WHERE id = ?1 AND status = 'running' AND worker_id = ?3),
    ?2, ?3, ?4)`;

/** The same record on PostgreSQL, in the queue's schema. */
const pg = onPostgres ? postgresTarget(path) : undefined;
// Imported only here: a SQLite worker loads no PostgreSQL client.
const pgSql = pg === undefined
  ? undefined
  : (await import("npm:postgres@3")).default(pg.url, { max: 1, onnotice: () => {} });
const PG_RECORD = pg === undefined ? "" : `INSERT INTO "${pg.schema}".effects
  (job_id, run, attempt, worker_id, at)
  VALUES ($1, (SELECT runs FROM "${pg.schema}".gigq_jobs
               WHERE id = $1 AND status = 'running' AND worker_id = $3), $2, $3, $4)`;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

export const effect = task("effect", async (p: { ms: number }, ctx: JobContext) => {
  if (pgSql !== undefined) {
    await pgSql.unsafe(PG_RECORD, [ctx.jobId, ctx.attempt, worker.id, Date.now()]);
  } else {
    // The handler writes through its own isolate's connection to the same file.
    const conn = getConnection(path, { driver });
    await retryBusy(() => conn.prepare(RECORD).run(ctx.jobId, ctx.attempt, worker.id, Date.now()));
  }
  if (p.ms > 0) await pause(p.ms, ctx.signal);
  return ctx.attempt;
}, { maxAttempts: 1000 });

export const noop = task("noop", (p: { n?: number }) => p.n ?? null, { maxAttempts: 1000 });

const worker = new Worker(path, {
  tasks: [effect, noop],
  ...(onPostgres ? {} : { driver }),
  workerId: args.id,
  lease: Number(args.lease),
  concurrency: Number(args.concurrency),
  pollInterval: Number(args.poll),
  watch: args.watch,
  logger: (level, message) => {
    if (level === "warn" || level === "error") console.error(`${level}: ${message}`);
  },
});

const rssEvery = args["rss-every"] === undefined ? 0 : Number(args["rss-every"]);
const stopAfter = args["stop-after"] === undefined ? Infinity : Number(args["stop-after"]);
let reported = 0;
const meter = setInterval(() => {
  const { processed } = worker.counts;
  if (rssEvery > 0 && processed >= reported + rssEvery) {
    reported = processed - (processed % rssEvery);
    const { rss, heapUsed, heapTotal, external } = Deno.memoryUsage();
    console.log(`rss ${reported} ${rss} ${heapUsed} ${heapTotal} ${external}`);
  }
  if (processed >= stopAfter) worker.stop();
}, 20);

Deno.addSignalListener("SIGTERM", () => worker.stop());
const done = worker.start();
console.log(`ready ${worker.id}`);
await done;
clearInterval(meter);
console.log(JSON.stringify({ summary: worker.counts, id: worker.id }));
worker.close();
await pgSql?.end({ timeout: 5 });
Deno.exit(0);
