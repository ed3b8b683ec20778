/**
 * A Web Worker that uses the queue and cleans up before it closes.
 *
 * Run on its own, this file is the parent: it starts itself as a Web Worker,
 * which opens its own connection (its own registry), submits and runs jobs,
 * then calls `self.close()`. GigQ's registry closes the worker's connection
 * before the close takes effect (Deno fires no event there), so no file is
 * left open: the parent checks.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env examples/web_worker.ts
 * ```
 *
 * @module
 */
import { JobQueue, Worker } from "../mod.ts";
import { greet } from "./tasks.ts";

declare const WorkerGlobalScope: (abstract new () => unknown) | undefined;
const inWorker = typeof WorkerGlobalScope !== "undefined" &&
  globalThis instanceof WorkerGlobalScope;

/** Descriptors of this process open on `path`; undefined where /proc cannot be read. */
function openFiles(path: string): number | undefined {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc/self/fd")];
  } catch {
    return undefined; // Not Linux, or not run with --allow-all.
  }
  let n = 0;
  for (const entry of entries) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(path)) n++;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return n;
}

if (inWorker) {
  // The Web Worker: its own registry, so its own connection.
  const scope = globalThis as unknown as {
    onmessage: (e: MessageEvent) => void;
    postMessage: (m: unknown) => void;
    close: () => void;
  };
  scope.onmessage = async (e: MessageEvent<{ path: string; names: string[] }>) => {
    const queue = new JobQueue(e.data.path);
    const ids = await queue.submitMany(e.data.names.map((name) => greet.toJob({ name })));
    const worker = new Worker(e.data.path, { tasks: [greet] });
    while (await worker.processOne()) { /* run every job */ }
    const results = await Promise.all(ids.map((id) => queue.getResult(id)));
    scope.postMessage({ results });
    // No queue.close() or worker.close() here on purpose: self.close() makes
    // the registry close this isolate's connections first.
    scope.close();
  };
} else {
  const path = `${await Deno.makeTempDir({ prefix: "gigq-web-worker-" })}/jobs.db`;
  const child = new globalThis.Worker(import.meta.url, { type: "module" });
  const reply = await new Promise<{ results: string[] }>((resolve) => {
    child.onmessage = (e) => resolve(e.data);
    child.postMessage({ path, names: ["Ada", "Grace", "Edsger"] });
  });
  for (const line of reply.results) console.log(line);
  let open = openFiles(path);
  for (let i = 0; i < 100 && open !== undefined && open > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    open = openFiles(path);
  }
  if (open === undefined) {
    console.log("(run with --allow-all on Linux to check the files the worker left open)");
  } else {
    console.log(`files the closed worker left open: ${open}`);
    if (open !== 0) Deno.exit(1);
  }
}
