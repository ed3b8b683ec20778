/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A Web Worker that runs a GigQ Worker on its own registry connection.
 * { op: "start", path, driver, concurrency } starts it; { op: "stop" } stops
 * it, posts its counts, and closes the Web Worker (which closes the registry).
 */
import { Worker } from "../mod.ts";
import { increment, noop, sleep, sum } from "./_tasks.ts";

let worker: Worker | undefined;
let done: Promise<void> | undefined;

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  if (msg.op === "start") {
    worker = new Worker(msg.path, {
      tasks: [noop, increment, sum, sleep],
      driver: msg.driver,
      concurrency: msg.concurrency ?? 1,
      pollInterval: 0.02,
      workerId: msg.workerId,
    });
    done = worker.start();
    self.postMessage({ started: true });
  } else if (msg.op === "stop") {
    worker?.stop();
    await done;
    const counts = worker?.counts;
    worker?.close();
    self.postMessage({ counts });
    self.close();
  }
};
