/**
 * Run as its own process: deno run -A tests/_pool_hold.ts <driver> <db> <lease>
 * Runs a 1-worker pool on <db> until killed, printing "ready" once started.
 */
import { WorkerPool } from "../mod.ts";

const [driver, path, lease] = Deno.args;
const pool = new WorkerPool(path, {
  tasks: [new URL("./_tasks.ts", import.meta.url)],
  workers: 1,
  driver: driver as "node" | "ffi",
  lease: Number(lease),
  workerId: "doomed",
});
const done = pool.start();
await pool.ready;
console.log("ready");
await done;
