/**
 * A worker whose stop signal arrives while it opens the database (as during
 * a long migration, which blocks the thread): prints its counts once
 * stopped. Args: path (or URL), driver (empty for PostgreSQL).
 */
import { task, Worker } from "../mod.ts";

const [path, given] = Deno.args as [string, "node" | "ffi" | ""];
const driver = given === "" ? undefined : given; // none: PostgreSQL
const echo = task("echo", (p: unknown) => p);
const worker = new Worker(path, { tasks: [echo], driver, logger: () => {} });
Deno.addSignalListener("SIGTERM", () => worker.stop());
Deno.kill(Deno.pid, "SIGTERM");
// The thread stays busy (a migration would) while the signal is delivered:
// long enough that the runtime's signal thread has queued it even on a
// loaded machine (at 300 ms, and at 1.5 s while other test runs loaded both
// cores, it sometimes had not, and the stop came after the open, when
// claiming is right).
const until = Date.now() + 4000;
while (Date.now() < until) { /* busy */ }
await worker.start();
console.log(JSON.stringify(worker.counts));
worker.close();
Deno.exit(0);
