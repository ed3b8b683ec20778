/**
 * Run as its own process: deno run -A tests/_pool_run.ts <driver> <dir> <jobs> <workers>
 * Submits <jobs> no-op jobs, runs a WorkerPool until all have completed, stops
 * it, and prints JSON with what is left open. The process must then exit by
 * itself: the test that runs this waits for that.
 */
import { closeConnections, JobQueue, WorkerPool } from "../mod.ts";
import { openConnectionCount } from "../src/sqlite/registry.ts";
import { noop } from "./_tasks.ts";

const [driver, dir, jobs, workers] = Deno.args;
const path = `${dir}/pool.db`;
const queue = new JobQueue(path, { driver: driver as "node" | "ffi" });
await queue.submitMany(Array.from({ length: Number(jobs) }, (_, n) => noop.toJob({ n })));
const pool = new WorkerPool(path, {
  tasks: [new URL("./_tasks.ts", import.meta.url)],
  workers: Number(workers),
  concurrency: 4,
  driver: driver as "node" | "ffi",
});
const done = pool.start();
await pool.ready;
while ((await queue.stats()).completed < Number(jobs)) {
  await new Promise((r) => setTimeout(r, 10));
}
await pool.stop();
await done;
queue.close();
closeConnections();
const fds = [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith(path);
  } catch {
    return false;
  }
}).length;
console.log(JSON.stringify({
  counts: pool.counts,
  workersLeft: pool.workerIds.length,
  running: pool.running,
  connections: openConnectionCount(),
  fds,
}));
