/**
 * Submit→start latency and idle CPU of a WorkerPool.
 *
 *   deno task bench:latency [--driver node|ffi] [--jobs 100] [--idle 10] [--json]
 *
 * Starts a 2-worker pool on a fresh file, measures this process's CPU over
 * `--idle` seconds with nothing to do (the pool's threads included), then
 * submits `--jobs` jobs one at a time from another process, each after the
 * previous one started, and reports how long each waited between its submit
 * (created_at) and its start (started_at), both recorded by the database.
 */
import { getConnection, JobQueue, WorkerPool } from "../mod.ts";
import { driverName, parseOrExit, positiveInt } from "./_args.ts";

const USAGE =
  "usage: deno task bench:latency [--driver node|ffi] [--jobs N] [--idle SECONDS] [--json]";
const values = parseOrExit(Deno.args, {
  driver: { type: "string", default: "node" },
  jobs: { type: "string", default: "100" },
  idle: { type: "string", default: "10" },
  json: { type: "boolean", default: false },
}, USAGE);
const driver = driverName(values.driver as string, USAGE);
const jobs = positiveInt("--jobs", values.jobs as string, USAGE);
const idleSeconds = positiveInt("--idle", values.idle as string, USAGE);

function cpuMs(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
  return ticks * 10; // USER_HZ is 100 on Linux
}

const dir = await Deno.makeTempDir({ prefix: "gigq-latency-" });
const path = `${dir}/latency.db`;
const queue = new JobQueue(path, { driver });
await queue.stats();
const pool = new WorkerPool(path, {
  tasks: [new URL("../tests/_tasks.ts", import.meta.url)],
  workers: 2,
  driver,
  logger: () => {},
});
const done = pool.start();
await pool.ready;
await new Promise((r) => setTimeout(r, 500));

const cpu0 = cpuMs();
const wall0 = performance.now();
await new Promise((r) => setTimeout(r, idleSeconds * 1000));
const idleCpu = (cpuMs() - cpu0) / (performance.now() - wall0) * 100;

// The producer is another process, as it would be beside an app.
const mod = new URL("../mod.ts", import.meta.url).href;
const producer = `
  import { Job, JobQueue } from ${JSON.stringify(mod)};
  const q = new JobQueue(${JSON.stringify(path)}, { driver: ${JSON.stringify(driver)} });
  for (let i = 0; i < ${jobs}; i++) {
    const id = await q.submit(new Job({ task: "noop", params: { n: i } }));
    while ((await q.getStatus(id))?.status !== "completed") await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
  }
  q.close();
`;
const out = await new Deno.Command(Deno.execPath(), {
  args: ["eval", "--ext=ts", producer],
  stderr: "inherit",
}).output();
if (out.code !== 0) Deno.exit(1);

const latencies = getConnection(path, { driver })
  .prepare(
    "SELECT e.started_at - j.created_at FROM gigq_jobs j JOIN gigq_executions e ON e.job = j.seq",
  )
  .values().map((r) => Number(r[0])).sort((a, b) => a - b);
await pool.stop();
await done;
queue.close();
await Deno.remove(dir, { recursive: true });

const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
const result = {
  driver,
  jobs: latencies.length,
  latencyMs: { median: pct(0.5), p90: pct(0.9), max: latencies.at(-1) },
  idleCpuPercent: Number(idleCpu.toFixed(2)),
  idleSeconds,
  deno: Deno.version.deno,
};
if (values.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(
    `driver ${driver}, 2-worker pool, ${result.jobs} jobs submitted from another process`,
  );
  console.log(
    `submit→start latency: median ${result.latencyMs.median} ms, p90 ${result.latencyMs.p90} ms, ` +
      `max ${result.latencyMs.max} ms (target: median < 50 ms)`,
  );
  console.log(
    `idle CPU over ${idleSeconds} s: ${result.idleCpuPercent}% of one core (target: < 1%)`,
  );
}
