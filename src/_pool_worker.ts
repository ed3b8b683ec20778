/**
 * The entry of each Web Worker of a {@linkcode WorkerPool}: imports the task
 * modules, runs a GigQ `Worker` on this isolate's own registry connection,
 * and answers the pool's messages. Not part of the public API.
 *
 * Messages from the pool: `init`, `ping`, `stop`. Messages to the pool:
 * `ready` (with the FFI handle when the ffi driver is used), `pong`, `log`,
 * `closing` (the registry is about to close its handles), `stopped`, `error`.
 */
import { closeConnections, getConnection } from "./sqlite/registry.ts";
import type { DriverName } from "./sqlite/connection.ts";
import { isTask, type Task } from "./task.ts";
import {
  LEASE_OWNER,
  type LogLevel,
  Worker,
  type WorkerCounts,
  type WorkerOptions,
} from "./worker.ts";

/** What the pool sends to start a Web Worker. */
export interface InitMessage {
  type: "init";
  path: string;
  driver: DriverName;
  tasks: string[];
  concurrency: number;
  pollInterval: number;
  lease: number;
  timeoutGrace: number;
  watch: boolean;
  workerId: string;
  /** The lease owner token the Web Worker's Worker claims under (the parent renews by it). */
  owner: string;
  maxPayloadBytes: number;
  synchronous: "NORMAL" | "FULL" | undefined;
  busyTimeout: number | undefined;
}

/** Messages the pool sends. */
export type ToWorker = InitMessage | { type: "ping" } | { type: "stop"; grace?: number };

/** Messages a Web Worker sends. */
export type FromWorker =
  | { type: "ready"; handle: string | null; tasks: string[] }
  | { type: "pong"; counts: WorkerCounts }
  | { type: "log"; level: LogLevel; message: string }
  | { type: "closing" }
  | { type: "stopped"; counts: WorkerCounts }
  | { type: "error"; message: string };

interface Scope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
  close(): void;
}

const scope = globalThis as unknown as Scope;
let worker: Worker | undefined;
let loop: Promise<void> | undefined;

async function loadTasks(modules: string[]): Promise<Task[]> {
  const byName = new Map<string, Task>();
  for (const url of modules) {
    let mod: Record<string, unknown>;
    try {
      mod = await import(url);
    } catch (error) {
      throw new Error(`Cannot load tasks from ${url}: ${(error as Error)?.message ?? error}`);
    }
    let found = 0;
    for (const value of Object.values(mod)) {
      if (!isTask(value)) continue;
      found++;
      const existing = byName.get(value.name);
      if (existing !== undefined && existing !== value) {
        throw new Error(
          `Cannot load tasks: two different tasks are named ${JSON.stringify(value.name)} ` +
            `(the second in ${url})`,
        );
      }
      byName.set(value.name, value);
    }
    if (found === 0) {
      throw new Error(`Cannot load tasks from ${url}: it exports no task made by task()`);
    }
  }
  return [...byName.values()];
}

async function init(msg: InitMessage): Promise<void> {
  const tasks = await loadTasks(msg.tasks);
  worker = new Worker(msg.path, {
    tasks,
    driver: msg.driver,
    concurrency: msg.concurrency,
    pollInterval: msg.pollInterval,
    lease: msg.lease,
    timeoutGrace: msg.timeoutGrace,
    watch: msg.watch,
    workerId: msg.workerId,
    maxPayloadBytes: msg.maxPayloadBytes,
    synchronous: msg.synchronous,
    busyTimeout: msg.busyTimeout,
    logger: (level, message) => scope.postMessage({ type: "log", level, message }),
    [LEASE_OWNER]: msg.owner,
  } as WorkerOptions);
  const conn = getConnection(msg.path, { driver: msg.driver });
  const handle = "handle" in conn ? String((conn as { handle: bigint }).handle) : null;
  loop = worker.start();
  scope.postMessage({ type: "ready", handle, tasks: tasks.map((t) => t.name) });
}

let stopping = false;

async function stop(grace: number | undefined): Promise<void> {
  if (stopping) {
    // A second stop only hurries the first (a shorter grace period).
    if (grace !== undefined) worker?.stop({ grace });
    return;
  }
  stopping = true;
  if (worker !== undefined) {
    worker.stop(grace === undefined ? {} : { grace });
    await loop;
  }
  const counts = worker?.counts ??
    { processed: 0, completed: 0, failed: 0, timedOut: 0, inFlight: 0, abandoned: 0 };
  worker?.close();
  scope.postMessage({ type: "closing" });
  closeConnections();
  scope.postMessage({ type: "stopped", counts });
  scope.close();
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "init") {
    init(msg).catch((error) => {
      closeConnections();
      scope.postMessage({ type: "error", message: (error as Error)?.message ?? String(error) });
    });
  } else if (msg.type === "ping") {
    if (worker !== undefined) scope.postMessage({ type: "pong", counts: worker.counts });
  } else if (msg.type === "stop") {
    stop(msg.grace).catch((error) => {
      scope.postMessage({ type: "error", message: (error as Error)?.message ?? String(error) });
    });
  }
};
