/**
 * The entry of each Web Worker of a {@linkcode WorkerPool}: imports the task
 * modules, runs a GigQ `Worker` on this isolate's own registry connection,
 * and answers the pool's messages. Not part of the public API.
 *
 * Messages from the pool: `init`, `ping`, `stop`, `listen` (forward events of
 * these types too). Messages to the pool: `alive` (it holds its life lock),
 * `ready` (with the FFI handle when the ffi driver is used), `pong` (its
 * counts; also sent unasked when a handler starts), `log`, `events` (the
 * worker's lifecycle events the pool listens to, batched like log lines),
 * `exiting` (code it does not control is ending this thread),
 * `closing` (the registry is about to close its handles), `cancel` (a job found
 * cancelled while it ran, then its handler settled), `stopped`, `error`.
 *
 * How the pool sees this thread end: at `init` it takes a Web Lock (named by
 * the pool) and holds it for the life of the thread. Deno's lock manager is
 * process-wide and frees a thread's locks when the thread ends, however it
 * ends (`Deno.exit()`, `self.close()`, an uncaught error, `terminate()`), so
 * the pool's own request for the lock is granted the moment this thread is
 * gone, and never while a handler merely keeps it busy. `Deno.exit` and
 * `close` are also wrapped, before any task module loads, to say who ended it.
 */
import { lockManager, type SentError, sentError } from "./pool.ts";
import type { BackendSpec } from "./_backend.ts";
import {
  closeAllBackends,
  openBackend,
  shareBackendTokenClose,
  shareWriteGate,
  specTarget,
} from "./_open_backend.ts";
import { isTask, type Task } from "./task.ts";
import {
  ATTEMPT_LINES,
  LEASE_OWNER,
  type LogLevel,
  ON_CANCEL,
  Worker,
  type WorkerCounts,
  type WorkerOptions,
} from "./worker.ts";

/** What the pool sends to start a Web Worker. */
export interface InitMessage {
  type: "init";
  /** Where the queue lives: the Web Worker opens its own backend from it. */
  spec: BackendSpec;
  tasks: string[];
  concurrency: number;
  pollInterval: number;
  lease: number;
  timeoutGrace: number;
  watch: boolean;
  workerId: string;
  /** Whether to log a line per attempt (the pool's logger may want them). */
  attemptLines: boolean;
  /** The lease owner token the Web Worker's Worker claims under (the parent renews by it). */
  owner: string;
  maxPayloadBytes: number;
  /** The named queues its Worker claims from; `null` for every queue. */
  queues: string[] | null;
  /** The Web Lock this thread holds until it ends (none without `navigator.locks`). */
  lifeLock: string | null;
  /** An Int32Array's memory where this Web Worker counts its handlers in flight. */
  busy: SharedArrayBuffer;
  /**
   * An Int32Array's memory that decides who closes this Web Worker's FFI
   * handle: it (as it ends) or the pool (after it ended without doing so).
   */
  closeClaim: SharedArrayBuffer;
  /**
   * The pool's write gate (an Int32Array's memory): its threads take it
   * around their SQLite write transactions, so they queue for the write lock
   * among themselves instead of colliding on it (see sqlite/_write_gate.ts).
   */
  writeGate: SharedArrayBuffer;
  /** This Web Worker's token at the write gate: unique in the pool, non-zero. */
  gateToken: number;
  /** Process at most one job, then stop (`WorkerPool.processOne`). */
  once: boolean;
  /** The lifecycle event types the pool has listeners for: forward those. */
  events: string[];
  /** Whether its Worker prunes ended jobs past their retention (one Web Worker of a pool does). */
  prune: boolean;
  /** Seconds between two rounds of pruning. */
  pruneInterval: number;
  /** Spans and metrics in this isolate (see WorkerOptions.telemetry). */
  telemetry: boolean;
}

/** Messages the pool sends. */
export type ToWorker =
  | InitMessage
  | { type: "ping" }
  | { type: "stop"; grace?: number }
  | { type: "listen"; events: string[] };

/** Messages a Web Worker sends. */
export type FromWorker =
  | { type: "alive" }
  | { type: "ready"; handle: string | null; tasks: string[] }
  | { type: "pong"; counts: WorkerCounts }
  | { type: "log"; lines: [LogLevel, string][] }
  | { type: "events"; events: [string, unknown][] }
  | { type: "exiting"; how: string; counts: WorkerCounts | null }
  | { type: "closing" }
  /** Job `seq` was found cancelled while it ran (`noticed`); its handler has settled (`settled`). */
  | { type: "cancel"; seq: number; phase: "noticed" | "settled" }
  | { type: "stopped"; counts: WorkerCounts; processed?: boolean; error?: SentError }
  | { type: "error"; message: string; error?: SentError };

interface Scope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
  close(): void;
}

const scope = globalThis as unknown as Scope;

/**
 * Log lines not posted yet. A busy worker logs a line per attempt: they go
 * together, one message per turn of the event loop rather than one per line
 * (a message each cost a pool a fifth of its throughput), and before any
 * other message, so the pool sees them in order.
 */
let logLines: [LogLevel, string][] = [];
/** Lifecycle events not posted yet (type and detail), batched the same way. */
let events: [string, unknown][] = [];
let logTimer: ReturnType<typeof setTimeout> | undefined;

function flushLogs(): void {
  if (logTimer !== undefined) clearTimeout(logTimer);
  logTimer = undefined;
  if (logLines.length > 0) {
    const lines = logLines;
    logLines = [];
    scope.postMessage({ type: "log", lines });
  }
  if (events.length > 0) {
    const batch = events;
    events = [];
    scope.postMessage({ type: "events", events: batch });
  }
}

/** Event types the pool listens to (a `listen` may come before the worker exists). */
const wanted = new Set<string>();
/** Event types already forwarded to the pool. */
const forwarded = new Set<string>();

/** Forwards the worker's events of `types` (and those wanted before) to the pool. */
function forward(types: readonly string[]): void {
  for (const type of types) wanted.add(type);
  if (worker === undefined) return;
  for (const type of wanted) {
    if (forwarded.has(type)) continue;
    forwarded.add(type);
    worker.addEventListener(type, (e: Event) => {
      events.push([type, (e as CustomEvent).detail]);
      logTimer ??= setTimeout(flushLogs, 0);
    });
  }
}

/** Posts `message` to the pool, after the log lines before it. */
function post(message: FromWorker): void {
  flushLogs();
  scope.postMessage(message);
}
const ZERO: WorkerCounts = {
  processed: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  inFlight: 0,
  abandoned: 0,
};
let worker: Worker | undefined;
let loop: Promise<void> | undefined;
let once = false;
/** "a handler" once tasks run; before that, the task modules are loading. */
let phase = "a task module";

// Wrapped before anything else runs, so that task modules and handlers get
// the wrappers; the pool's own stop uses the originals.
const realExit = Deno.exit;
const realClose = scope.close.bind(scope);

/** Where user code called an exit: the first place outside the runtime and this file. */
function caller(): string {
  for (const frame of (new Error().stack ?? "").split("\n").slice(1)) {
    const place = /([a-z][a-z0-9+.-]*:[^\s()]+:\d+:\d+)\)?\s*$/i.exec(frame)?.[1];
    if (place === undefined || place.startsWith("ext:") || place.startsWith("node:")) continue;
    if (place.startsWith(import.meta.url)) continue;
    return ` at ${place}`;
  }
  return "";
}

function exiting(how: string): void {
  try {
    post({
      type: "exiting",
      how: `${how}${caller()}`,
      counts: worker?.counts ?? null,
    });
  } catch {
    // Telling the pool is a courtesy: its life lock tells it anyway.
  }
}

Deno.exit = function exit(code?: number): never {
  exiting(`${phase} called Deno.exit(${code ?? ""})`);
  return realExit(code);
};
scope.close = function close(): void {
  exiting(`${phase} called self.close()`);
  realClose();
};

/** Holds `name` until this thread ends; resolves once it is held. */
function holdLifeLock(name: string | null): Promise<void> {
  const locks = lockManager();
  if (name === null || locks === undefined) return Promise.resolve();
  const held = Promise.withResolvers<void>();
  locks.request(name, {}, () => {
    held.resolve();
    return new Promise(() => {}); // released only by the end of this thread
  }).catch((error) => held.reject(error));
  return held.promise;
}

/** Handlers running now, in memory the pool shares (set by init). */
let busy: Int32Array<ArrayBufferLike> = new Int32Array(1);
const done = () => void Atomics.sub(busy, 0, 1);

/**
 * The task as the worker runs it here: the same, except that it counts its
 * handlers in flight where the parent reads them, even while a handler
 * holds this thread (which then answers no message).
 */
function announced(t: Task): Task {
  const handler: Task["handler"] = (params, ctx) => {
    Atomics.add(busy, 0, 1);
    let value: unknown;
    try {
      value = t.handler(params, ctx);
    } catch (error) {
      done();
      throw error;
    }
    if (value !== null && typeof (value as Promise<unknown>)?.then === "function") {
      (value as Promise<unknown>).then(done, done);
    } else {
      done();
    }
    return value;
  };
  return Object.freeze({ ...t, handler });
}

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
  busy = new Int32Array(msg.busy);
  shareWriteGate(msg.writeGate, msg.gateToken);
  await holdLifeLock(msg.lifeLock);
  post({ type: "alive" });
  const tasks = await loadTasks(msg.tasks);
  phase = "a handler";
  once = msg.once;
  // The loop's first line comes once it has registered: a loop that cannot
  // (a read-only file, say) fails the start instead of dying after "ready".
  const started = Promise.withResolvers<void>();
  let begun = false;
  const { target, options } = specTarget(msg.spec);
  worker = new Worker(target, {
    ...options,
    tasks: tasks.map(announced),
    concurrency: msg.concurrency,
    pollInterval: msg.pollInterval,
    lease: msg.lease,
    timeoutGrace: msg.timeoutGrace,
    watch: msg.watch,
    workerId: msg.workerId,
    maxPayloadBytes: msg.maxPayloadBytes,
    queues: msg.queues ?? undefined,
    prune: msg.prune && !msg.once,
    pruneInterval: msg.pruneInterval,
    telemetry: msg.telemetry,
    logger: (level, message) => {
      begun = true;
      started.resolve();
      logLines.push([level, message]);
      logTimer ??= setTimeout(flushLogs, 0);
    },
    [LEASE_OWNER]: msg.owner,
    [ATTEMPT_LINES]: msg.attemptLines,
    [ON_CANCEL]: (job: { seq: number }, phase: "noticed" | "settled") =>
      post({ type: "cancel", seq: job.seq, phase }),
  } as WorkerOptions);
  forward(msg.events);
  // What the parent needs to free this isolate's storage should it be terminated.
  const probe = openBackend(msg.spec);
  const handle = probe.releaseToken() ?? null;
  probe.close();
  if (handle !== null) {
    shareBackendTokenClose(msg.spec, handle, new Int32Array(msg.closeClaim));
  }
  const ready = () => post({ type: "ready", handle, tasks: tasks.map((t) => t.name) });
  if (once) {
    const job = worker.processOne();
    ready();
    let processed = false;
    let error: SentError | undefined;
    try {
      processed = await job;
    } catch (e) {
      error = sentError(e);
    }
    finish(processed, error);
    return;
  }
  loop = worker.start();
  loop.catch((e) => {
    if (!begun) return started.reject(e);
    // After its start the loop only logs and retries; should it still fail, say so and end.
    post({ type: "error", message: sentError(e).message, error: sentError(e) });
    finish(false, undefined);
  });
  await started.promise;
  ready();
}

let stopping = false;
let finishing = false;

async function stop(grace: number | undefined): Promise<void> {
  if (stopping) {
    // A second stop only hurries the first (a shorter grace period).
    if (grace !== undefined) worker?.stop({ grace });
    return;
  }
  stopping = true;
  if (worker !== undefined) {
    worker.stop(grace === undefined ? {} : { grace });
    // processOne ignores stop() but not its grace; its own end finishes.
    if (once) return;
    await loop?.catch(() => {}); // its failure is reported where it is caught
  }
  finish(false, undefined);
}

/**
 * Closes the worker and the registry, tells the pool, and ends this thread
 * (once a network client's connections have closed: ended with the thread,
 * the server would see them drop).
 */
function finish(processed: boolean, error: SentError | undefined): void {
  if (finishing) return;
  finishing = true;
  const counts = worker?.counts ?? ZERO;
  worker?.close();
  post({ type: "closing" });
  const stopped = () => {
    post({
      type: "stopped",
      counts,
      processed,
      ...(error === undefined ? {} : { error }),
    });
    realClose();
  };
  closeAllBackends().then(stopped, stopped);
}

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "init") {
    init(msg).catch((error) => {
      if (finishing) return;
      void closeAllBackends();
      post({
        type: "error",
        message: sentError(error).message,
        error: sentError(error),
      });
    });
  } else if (msg.type === "listen") {
    forward(msg.events);
  } else if (msg.type === "ping") {
    if (worker !== undefined) post({ type: "pong", counts: worker.counts });
  } else if (msg.type === "stop") {
    stop(msg.grace).catch((error) => {
      post({
        type: "error",
        message: sentError(error).message,
        error: sentError(error),
      });
    });
  }
};
