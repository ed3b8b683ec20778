/**
 * A worker in a process of its own for tests/cancel_running_test.ts: runs
 * one job of `awaitAbort` on the queue in Deno.args[0] (SQLite driver in
 * Deno.args[1], if any) and exits once it is done.
 */
import { Worker } from "../mod.ts";
import { awaitAbort } from "./_tasks.ts";

const [target, driver] = Deno.args;
const worker = new Worker(target, {
  tasks: [awaitAbort],
  ...(driver ? { driver: driver as "node" | "ffi" } : {}),
  logger: () => {},
});
while (!(await worker.processOne())) await new Promise((r) => setTimeout(r, 50));
worker.close();
console.log("done");
