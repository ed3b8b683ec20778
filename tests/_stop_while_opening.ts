/**
 * A worker told to stop while it opens the database (as a SIGTERM handled
 * during a long migration would): prints its counts once stopped. Args:
 * path (or URL), driver (empty for PostgreSQL).
 *
 * The stop is called right after start() began opening, not sent as a
 * signal: when a signal reaches the isolate depends on the runtime's signal
 * thread, which a loaded machine may run seconds late (a busy wait of 1.5 s,
 * then 4 s, after sending one still lost the race there), while what is
 * tested is the stop arriving during the open.
 */
import { task, Worker } from "../mod.ts";

const [path, given] = Deno.args as [string, "node" | "ffi" | ""];
const driver = given === "" ? undefined : given; // none: PostgreSQL
const echo = task("echo", (p: unknown) => p);
const worker = new Worker(path, { tasks: [echo], driver, logger: () => {} });
const running = worker.start();
worker.stop(); // what the SIGTERM listener of `gigq worker` does
await running;
console.log(JSON.stringify(worker.counts));
worker.close();
Deno.exit(0);
