/**
 * Retention under load: how long a worker takes to prune 100,000 old
 * completed jobs, and what that does to its claims meanwhile.
 *
 *   deno task bench:retention [--backend sqlite|postgres] [--driver node|ffi]
 *     [--old 100000] [--rate 200] [--baseline 5] [--url postgres://…] [--json]
 *
 * Makes `--old` completed jobs through the API, on a clock 8 days behind (so
 * they are past the default 7 days' retention), in a fresh file or schema.
 * Then another process submits no-op jobs at `--rate` a second, one at a
 * time, while a Worker (concurrency 1) runs them: first `--baseline` seconds
 * with `prune: false`, then with pruning on (its first round starts within
 * 15 ms) until the round has pruned every old job. Reports the time the
 * round took and, for the jobs submitted during each phase, the claim
 * latency: the time from a job's submit (created_at) to its claim
 * (started_at), both recorded by the database.
 */
import { closeConnections, getConnection, Job, JobQueue, systemClock, Worker } from "../mod.ts";
import { backendName, driverName, parseOrExit, positiveInt, usageError } from "./_args.ts";
import { connect, schemaOf, withSchema } from "./_pg.ts";
import { noop } from "./_tasks.ts";

const USAGE = "usage: deno task bench:retention [--backend sqlite|postgres] [--driver node|ffi] " +
  "[--old N] [--rate PER_SECOND] [--baseline SECONDS] [--url URL] [--json]";
const values = parseOrExit(Deno.args, {
  backend: { type: "string", default: "sqlite" },
  driver: { type: "string" },
  old: { type: "string", default: "100000" },
  rate: { type: "string", default: "200" },
  baseline: { type: "string", default: "5" },
  url: { type: "string" },
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
const url = (values.url as string | undefined) ?? "postgres://postgres@127.0.0.1:5432/test";
if (!/^postgres(ql)?:\/\//.test(url)) {
  usageError(`--url must be a postgres:// or postgresql:// URL, got ${JSON.stringify(url)}`, USAGE);
}
const oldJobs = positiveInt("--old", values.old as string, USAGE);
const rate = positiveInt("--rate", values.rate as string, USAGE);
const baselineSeconds = positiveInt("--baseline", values.baseline as string, USAGE);

const DAY = 86_400_000;
const dir = await Deno.makeTempDir({ prefix: "gigq-retention-" });
const target = backend === "sqlite"
  ? `${dir}/retention.db`
  : withSchema(url, `gigq_bench_${crypto.randomUUID().slice(0, 8)}`);
const options = backend === "sqlite" ? { driver } : {};

// 1. The old jobs: submitted and completed 8 days ago (a clock that far behind).
const past = { ...systemClock, now: () => Date.now() - 8 * DAY };
const t0 = performance.now();
const old = new JobQueue(target, { ...options, clock: past });
for (let i = 0; i < oldJobs; i += 5000) {
  const n = Math.min(5000, oldJobs - i);
  await old.submitMany(
    Array.from({ length: n }, (_, k) => new Job({ task: "noop", params: { n: i + k } })),
  );
}
const maker = new Worker(target, {
  ...options,
  tasks: [noop],
  clock: past,
  concurrency: 256,
  prune: false,
  logger: () => {},
});
const making = maker.start();
while ((await old.stats()).completed < oldJobs) await new Promise((r) => setTimeout(r, 100));
maker.stop();
await making;
maker.close();
old.close();
const setupMs = performance.now() - t0;

// 2. The stream of new jobs, from another process.
const mod = new URL("../mod.ts", import.meta.url).href;
const producer = `
  import { Job, JobQueue } from ${JSON.stringify(mod)};
  const q = new JobQueue(${JSON.stringify(target)}, ${JSON.stringify(options)});
  await q.stats();
  let stop = false;
  (async () => { for await (const _ of Deno.stdin.readable) {} stop = true; })();
  const gap = 1000 / ${rate};
  let next = performance.now();
  for (let i = 0; !stop; i++) {
    await q.submit(new Job({ task: "noop", params: { i } }));
    next += gap;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  q.close();
`;
const child = new Deno.Command(Deno.execPath(), {
  args: ["eval", "--ext=ts", producer],
  stdin: "piped",
  stderr: "inherit",
}).spawn();

/**
 * Runs a worker until `done` resolves (given the worker's log lines);
 * returns when it had started and when `done` resolved.
 */
async function phase(
  prune: boolean,
  done: (lines: string[]) => Promise<void>,
): Promise<{ from: number; to: number; line: string | undefined }> {
  const lines: string[] = [];
  const w = new Worker(target, {
    ...options,
    tasks: [noop],
    prune,
    pruneInterval: 0.01,
    logger: (_level, message) => lines.push(message),
  });
  const running = w.start();
  while (!lines.some((l) => l.includes(" started "))) await new Promise((r) => setTimeout(r, 1));
  const from = Date.now();
  await done(lines);
  const to = Date.now();
  w.stop();
  await running;
  w.close();
  return { from, to, line: lines.find((l) => /pruned [1-9]/.test(l)) };
}

// Let the producer and the first claims settle before measuring.
await phase(false, () => new Promise((r) => setTimeout(r, 1000)));
const baseline = await phase(
  false,
  () => new Promise((r) => setTimeout(r, baselineSeconds * 1000)),
);
const pruning = await phase(true, async (lines) => {
  while (!lines.some((l) => /pruned [1-9]/.test(l))) await new Promise((r) => setTimeout(r, 5));
});
await child.stdin.close();
await child.status;

// 3. What the database recorded. A job submitted in the last moments of a
// phase may be claimed by the next phase's worker, once it has started: not counted.
const MARGIN_MS = 100;
async function latencies(from: number, to: number): Promise<number[]> {
  if (backend === "sqlite") {
    return getConnection(target, { driver }).prepare(
      `SELECT started_at - created_at FROM gigq_jobs
        WHERE created_at >= ?1 AND created_at < ?2 AND started_at IS NOT NULL`,
    ).values(from, to - MARGIN_MS).map((r) => Number(r[0]));
  }
  const sql = connect(target, 1);
  try {
    const rows = await sql.unsafe(
      `SELECT started_at - created_at AS ms FROM "${schemaOf(target)}".gigq_jobs
        WHERE created_at >= $1 AND created_at < $2 AND started_at IS NOT NULL`,
      [from, to - MARGIN_MS],
    );
    return rows.map((r) => Number(r.ms));
  } finally {
    await sql.end();
  }
}
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { jobs: s.length, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s.at(-1) ?? NaN };
};
/** How many jobs made in step 1 are left. */
async function oldLeft(): Promise<number> {
  if (backend === "sqlite") {
    return Number(
      getConnection(target, { driver }).prepare(
        "SELECT count(*) FROM gigq_jobs WHERE created_at < ?1",
      ).values(baseline.from - DAY)[0][0],
    );
  }
  const sql = connect(target, 1);
  try {
    const [row] = await sql.unsafe(
      `SELECT count(*)::int AS n FROM "${schemaOf(target)}".gigq_jobs WHERE created_at < $1`,
      [baseline.from - DAY],
    );
    return Number(row.n);
  } finally {
    await sql.end();
  }
}
const result = {
  backend: backend === "sqlite" ? `sqlite (${driver})` : "postgres",
  oldJobs,
  rate,
  setupSeconds: Math.round(setupMs / 100) / 10,
  pruneSeconds: (pruning.to - pruning.from) / 1000,
  pruned: Number(/pruned (\d+)/.exec(pruning.line ?? "")?.[1] ?? 0),
  left: await oldLeft(),
  baseline: summary(await latencies(baseline.from, baseline.to)),
  duringPruning: summary(await latencies(pruning.from, pruning.to)),
};
if (backend === "postgres") {
  const sql = connect(target, 1);
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${schemaOf(target)}" CASCADE`);
  await sql.end();
}
closeConnections();
await Deno.remove(dir, { recursive: true });

if (values.json) {
  console.log(JSON.stringify(result));
} else {
  const row = (name: string, s: ReturnType<typeof summary>) =>
    `  ${name.padEnd(16)} ${
      String(s.jobs).padStart(6)
    } jobs   p50 ${s.p50} ms   p99 ${s.p99} ms   ` +
    `max ${s.max} ms`;
  console.log(
    [
      `${result.backend}: ${oldJobs} old completed jobs made in ${result.setupSeconds} s`,
      `pruned ${result.pruned} in ${result.pruneSeconds} s while a worker ran ${rate} new jobs/s ` +
      `(${result.left} old jobs left)`,
      "claim latency (submit to claim):",
      row("without pruning", result.baseline),
      row("during pruning", result.duringPruning),
    ].join("\n"),
  );
}
