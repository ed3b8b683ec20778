/**
 * Run as its own process (so no other test's files are open):
 *   deno run -A tests/_fd_check.ts <driver> <workers> <dir>
 * Starts Web Workers one after another; each opens a registry connection to a
 * database in <dir> and then calls self.close(). Prints JSON with the open
 * file count of this process before and after.
 */
import { openFdCount } from "./_helpers.ts";

const [driver, n, dir] = Deno.args;
const url = new URL("./sqlite/_registry_worker.ts", import.meta.url);

async function cycle(i: number): Promise<void> {
  const w = new Worker(url, { type: "module" });
  const ask = (msg: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(msg);
    });
  const reply = await ask({ op: "open", path: `${dir}/db-${i % 4}.db`, driver });
  if (reply.error) throw new Error(String(reply.error));
  w.postMessage({ op: "close" });
  // The worker closes itself; give the runtime a moment to tear it down.
  await new Promise((r) => setTimeout(r, 2));
}

// Warm up: Deno opens a few descriptors of its own over the first few dozen
// workers (seen: 2 sockets, by the 40th), whatever the workers do.
for (let i = 0; i < 50; i++) await cycle(i);
await new Promise((r) => setTimeout(r, 100));
const start = openFdCount();
for (let i = 0; i < Number(n); i++) await cycle(i);
await new Promise((r) => setTimeout(r, 100));
const end = openFdCount();
console.log(JSON.stringify({ driver, workers: Number(n), start, end }));
