/**
 * Run as its own process: deno run -A tests/_pool_fd_check.ts <mode> <n> <dir>
 * - mode "cycles": <n> start/stop cycles of a 2-worker pool (ffi driver);
 * - mode "kills": one pool whose Web Workers (ffi driver, each holding an
 *   open FFI handle) are killed <n> times by a task that crashes them.
 * Prints JSON with this process's open file count before and after.
 * Kills are paced by a task that fails once its Web Worker is gone.
 */
import { closeConnections, JobQueue, WorkerPool } from "../mod.ts";
import { die } from "./_tasks.ts";
import { openFdCount } from "./_helpers.ts";

const [mode, n, dir] = Deno.args;
const path = `${dir}/fd.db`;
const tasks = [new URL("./_tasks.ts", import.meta.url)];
const quiet = () => {};

async function cycle(): Promise<void> {
  const pool = new WorkerPool(path, { tasks, workers: 2, driver: "ffi", logger: quiet });
  const done = pool.start();
  await pool.ready;
  await pool.stop();
  await done;
}

// Warm up past the descriptors Deno opens for itself over the first workers.
for (let i = 0; i < 25; i++) await cycle();
/** The fd count once Web Workers that closed themselves have been torn down. */
async function settledFdCount(): Promise<number> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = openFdCount();
    if (now === last) return now;
    last = now;
  }
  return last;
}
// Measured with no connection open in this isolate, like the end: SQLite
// keeps the descriptors of closed connections to a file open while another
// connection of the same library holds locks on it, and reuses them later.
const start = await settledFdCount();
const queue = new JobQueue(path, { driver: "ffi" });
if (Deno.env.get("FD_DEBUG")) {
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      console.error("start", e.name, Deno.readLinkSync(`/proc/self/fd/${e.name}`));
    } catch { /* gone */ }
  }
}
let kills = 0;
if (mode === "cycles") {
  for (let i = 0; i < Number(n); i++) await cycle();
} else {
  const pool = new WorkerPool(path, { tasks, workers: 2, driver: "ffi", logger: quiet });
  const done = pool.start();
  await pool.ready;
  for (let i = 0; i < Number(n); i++) {
    const id = await die.submit(queue, {});
    while ((await queue.getStatus(id))?.status !== "failed") {
      await new Promise((r) => setTimeout(r, 5));
    }
    kills++;
  }
  // Let the last replacements start before stopping.
  await pool.ready;
  await new Promise((r) => setTimeout(r, 300));
  await pool.stop();
  await done;
}
queue.close();
closeConnections();
const end = await settledFdCount();
if (Deno.env.get("FD_DEBUG")) {
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      console.error(e.name, Deno.readLinkSync(`/proc/self/fd/${e.name}`));
    } catch { /* gone */ }
  }
}
console.log(JSON.stringify({ mode, n: Number(n), kills, start, end }));
