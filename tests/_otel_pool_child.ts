/**
 * The pool subprocess of tests/otel_test.ts (OTEL_DENO=true): submits one
 * job, lets a WorkerPool of one Web Worker run it, and prints its id.
 *
 * `deno run -A tests/_otel_pool_child.ts FILE DRIVER`
 *
 * @module
 */
import { JobQueue, WorkerPool } from "../mod.ts";
import { noop } from "./_tasks.ts";

const [path, driver] = Deno.args as [string, "node" | "ffi"];
const queue = new JobQueue(path, { driver });
const id = await noop.submit(queue, { n: 3 });
const pool = new WorkerPool(path, {
  driver,
  tasks: [new URL("./_tasks.ts", import.meta.url).href],
  workers: 1,
  logger: () => {},
});
const loop = pool.start();
while ((await queue.getStatus(id))?.status !== "completed") {
  await new Promise((r) => setTimeout(r, 20));
}
await pool.stop();
await loop;
await pool.close();
queue.close();
console.log(JSON.stringify({ id }));
