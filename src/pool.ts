/**
 * {@linkcode WorkerPool}: a pool of Web Workers, each with its own registry,
 * its own SQLite handle and its own worker loop, supervised from the parent.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend, BackendSpec } from "./_backend.ts";
import {
  backendLabel,
  backendSpec,
  type ConnectionOptions,
  freeWriteGate,
  newWriteGate,
  openBackend,
  releaseBackendToken,
  SchemaError,
  SqliteError,
} from "./_open_backend.ts";
import { integer, knownKeys, MAX_TIMEOUT_SECONDS, seconds, text } from "./_validate.ts";
import { describe } from "./job_status.ts";
import type { ExecutionInfo, JobDetails } from "./job_info.ts";
import { checkWorkerOptions } from "./_worker_options.ts";
import { checkTelemetry } from "./_telemetry.ts";
import {
  defaultLogger,
  LEASE_MARGIN_MS,
  type Logger,
  type StopOptions,
  type WorkerCounts,
} from "./worker.ts";
import type { FromWorker, InitMessage } from "./_pool_worker.ts";
import { Listeners, type WorkerEventMap, type WorkerEventType } from "./worker_events.ts";

/** Options for {@linkcode WorkerPool}. */
export interface WorkerPoolOptions extends ConnectionOptions {
  /**
   * Modules that export the tasks (paths relative to the current directory,
   * or URLs). Every Web Worker imports each of them and registers every
   * export made by `task()`.
   */
  tasks: readonly (string | URL)[];
  /**
   * How many Web Workers.
   *
   * @default {navigator.hardwareConcurrency}
   */
  workers?: number;
  /**
   * The named queues the Web Workers claim from (a job's `queue`); a paused
   * queue is skipped until it is resumed.
   *
   * @example Serve only the e-mail queues
   * ```ts ignore
   * const pool = new WorkerPool("jobs.db", { tasks: ["./tasks.ts"], queues: ["emails", "bulk"] });
   * ```
   *
   * @default {every queue}
   */
  queues?: readonly string[];
  /**
   * Handlers each Web Worker runs at once.
   *
   * @default {1}
   */
  concurrency?: number;
  /**
   * Seconds between polls when idle (each Web Worker also wakes when the file
   * changes, see `watch`).
   *
   * @default {5}
   */
  pollInterval?: number;
  /**
   * Seconds a claim lasts without renewal. The pool renews the claims of its
   * live Web Workers from the parent thread, so a handler that keeps its Web
   * Worker busy does not lose its job; a killed process's jobs come back after
   * this long.
   *
   * @default {30}
   */
  lease?: number;
  /**
   * Wake on commits by other processes instead of only polling.
   *
   * @default {true}
   */
  watch?: boolean;
  /**
   * Seconds past a job's timeout after which, if its handler still has not
   * given up, the pool terminates the Web Worker running it, records the
   * attempt as timed out, and starts a new Web Worker in its place. The
   * same for a job cancelled while it runs: that long after the pool hears
   * of the cancel, a handler that has not settled has its Web Worker
   * terminated and replaced.
   *
   * @default {5}
   */
  timeoutGrace?: number;
  /**
   * Prefix of the Web Workers' worker ids (`<prefix>-0`, `<prefix>-1`, …).
   * A pool of one Web Worker (and {@linkcode WorkerPool.processOne}) uses the
   * prefix itself, so a supervised single worker keeps the id it is given. A
   * replacement adds `.<n>` (`<prefix>-0.2`, `<prefix>.1`).
   *
   * @default {"pool-" + 8 random hex digits}
   */
  workerId?: string;
  /**
   * The largest result JSON a handler may return, in UTF-8 bytes.
   *
   * @default {1048576}
   */
  maxPayloadBytes?: number;
  /**
   * Receives the pool's and its Web Workers' log lines.
   *
   * @default {defaultLogger}
   */
  logger?: Logger;
  /**
   * Delete ended jobs whose queue's retention has passed, in the background
   * (see the Worker option of this name). One Web Worker of the pool does
   * it, so a pool prunes as much as one Worker.
   *
   * @default {true}
   */
  prune?: boolean;
  /**
   * Seconds between two rounds of pruning (each within ±50% of it).
   *
   * @default {60}
   */
  pruneInterval?: number;
  /**
   * OpenTelemetry in each Web Worker (its own isolate, with its own
   * providers): the same spans and metrics as {@linkcode WorkerOptions.telemetry}.
   *
   * @default {true when the environment has OTEL_DENO=true (read only with env access granted), else false}
   */
  telemetry?: boolean;
}

const POOL_OPTION_KEYS = [
  "tasks",
  "workers",
  "queues",
  "concurrency",
  "pollInterval",
  "lease",
  "watch",
  "timeoutGrace",
  "workerId",
  "maxPayloadBytes",
  "logger",
  "prune",
  "pruneInterval",
  "telemetry",
  "driver",
  "synchronous",
  "busyTimeout",
] as const;

type SlotState = "starting" | "running" | "stopping" | "gone";

interface Slot {
  index: number;
  id: string;
  web: globalThis.Worker;
  state: SlotState;
  /** The Web Worker's open FFI handle, until it says it closes it itself. */
  handle: string | undefined;
  /** The lease owner token its Worker claims under: the parent renews those leases. */
  owner: string;
  counts: WorkerCounts;
  /**
   * Handlers running in it now, counted by the Web Worker in shared memory:
   * right even while a handler holds its thread, and no message per job.
   */
  busy: Int32Array<SharedArrayBuffer>;
  /** Who closes its FFI handle: the first of it and the pool to flip this from 0. */
  closeClaim: Int32Array<SharedArrayBuffer>;
  /** Its token at the pool's write gate: freed for it should it end holding the gate. */
  gateToken: number;
  ready: PromiseWithResolvers<void>;
  gone: PromiseWithResolvers<void>;
  /** The Web Lock its thread holds while it lives (null without `navigator.locks`). */
  lifeLock: string | null;
  /** Ends the parent's wait for that lock (once the pool has stopped). */
  watch: AbortController;
  /** Resolves once the parent holds that lock: the thread has really ended. */
  ended: PromiseWithResolvers<void>;
  /** The parent waits for that lock. */
  watched: boolean;
  /** An uncaught error ended it (its error event is handled on its own). */
  crashed: boolean;
  /** What it said, if it said, when code it does not control ended its thread. */
  exitHow: string | undefined;
  /** It has begun closing itself: its "stopped" is on its way. */
  closing: boolean;
  /** processOne: whether it ran a job, and why it could not. */
  processed: boolean;
  error: SentError | undefined;
  /** Ended from outside after it had started: a new Web Worker takes its place. */
  replace: boolean;
  /** The claims its Worker ran at the last supervision tick. */
  runs: { seq: number; run: number }[];
  /** Jobs cancelled while it ran them, by seq: when the parent saw it (Date.now()). */
  cancels: Map<number, number>;
  /** Jobs whose cancelled handlers it said had settled, before the parent saw the cancel. */
  settledCancels: Set<number>;
}

const ZERO: WorkerCounts = {
  processed: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  inFlight: 0,
  abandoned: 0,
};

/** The part of `navigator.locks` the pool uses (Deno 2.9 has it; its types do not yet). */
export interface LockManagerLike {
  /** Calls `callback` once `name` is granted; rejects if `signal` aborts first. */
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: () => unknown,
  ): Promise<unknown>;
}

/** `navigator.locks`, where the runtime has it. */
export function lockManager(): LockManagerLike | undefined {
  const locks = (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;
  return typeof locks?.request === "function" ? locks : undefined;
}

/** An error as a Web Worker sends it: enough to rebuild its class on this side. */
export interface SentError {
  /** The error's name (`SqliteError`, `RangeError`, …). */
  name: string;
  /** Its message. */
  message: string;
  /** `SqliteError.code`. */
  code?: number;
  /** `SchemaError.path`. */
  path?: string;
}

/** Describes `error` for posting to the pool. */
export function sentError(error: unknown): SentError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const sent: SentError = { name: error.name, message: error.message };
  if (error instanceof SqliteError) sent.code = error.code;
  if (error instanceof SchemaError) sent.path = error.path;
  return sent;
}

/** Rebuilds an error a Web Worker sent, with the class callers test for. */
export function receivedError(sent: SentError): Error {
  switch (sent.name) {
    case "SqliteError":
      return new SqliteError(sent.message, sent.code ?? 1);
    case "SchemaError":
      return new SchemaError(sent.path ?? "", sent.message);
    case "RangeError":
      return new RangeError(sent.message);
    case "TypeError":
      return new TypeError(sent.message);
  }
  const error = new Error(sent.message);
  if (sent.name !== "Error") error.name = sent.name;
  return error;
}

/** Resolves a task module given as a path or URL to a URL a Web Worker can import. */
export function taskModuleUrl(spec: string | URL): string {
  if (spec instanceof URL) return spec.href;
  if (typeof spec !== "string" || spec === "") {
    throw new TypeError(
      `Cannot create worker pool: each task module must be a path or URL, got ${describe(spec)}`,
    );
  }
  if (/^[a-z][a-z0-9+.-]+:/i.test(spec)) return spec;
  return pathToFileURL(resolve(spec)).href;
}

/**
 * Runs jobs on a pool of Web Workers. Each Web Worker imports the task
 * modules, opens its own connection (its own FFI handle with the `ffi`
 * driver) through its own registry, and runs a worker loop. The parent
 * thread supervises them:
 *
 * - it renews the leases of every live Web Worker's jobs, so a long or
 *   CPU-bound handler keeps its job;
 * - a handler that ignores its signal more than `timeoutGrace` seconds past
 *   its timeout (even `while (true) {}`) is ended by terminating its Web
 *   Worker; the attempt counts as timed out, the Web Worker's other jobs go
 *   back to pending, its FFI handle is closed, and a new Web Worker takes the
 *   slot;
 * - a Web Worker whose thread ends on its own (an uncaught error, or a
 *   handler that calls `Deno.exit()` or `self.close()`) is noticed at once:
 *   each Web Worker holds a Web Lock for its whole life, which Deno frees
 *   when the thread ends. Its running attempts fail with that reason
 *   (retried while attempts are left), count in {@linkcode WorkerPool.counts},
 *   and a new Web Worker takes the slot; why is logged.
 *
 * `stop()` drains: no new claims, running handlers finish (or, after a grace
 * period, are aborted and their jobs released), each Web Worker closes its
 * registry and then itself.
 *
 * @example Run a pool until SIGTERM
 * ```ts ignore
 * import { WorkerPool } from "@gigq/gigq";
 *
 * const pool = new WorkerPool("jobs.db", { tasks: ["./tasks.ts"], workers: 4, concurrency: 8 });
 * const done = pool.start();
 * Deno.addSignalListener("SIGTERM", () => pool.stop({ grace: 30 }));
 * await done; // resolves once every Web Worker has stopped and closed
 * ```
 */
export class WorkerPool extends EventTarget implements AsyncDisposable {
  /** The database path (absolute). */
  readonly path: string;
  /** How many Web Workers the pool keeps running. */
  readonly size: number;
  /** Handlers each Web Worker runs at once. */
  readonly concurrency: number;
  /** The task modules, as URLs. */
  readonly taskModules: readonly string[];
  #init: Omit<
    InitMessage,
    | "workerId"
    | "owner"
    | "lifeLock"
    | "once"
    | "busy"
    | "closeClaim"
    | "events"
    | "writeGate"
    | "gateToken"
  >;
  /** The write gate its Web Workers share (see sqlite/_write_gate.ts); each one's token is its generation + 1. */
  #writeGate: SharedArrayBuffer = newWriteGate();
  #prefix: string;
  #leaseMs: number;
  #graceMs: number;
  #log: Logger;
  #spec: BackendSpec;
  /** The parent's own backend, while the pool runs. */
  #backend: Backend | undefined;
  #slots: Slot[] = [];
  #retired: WorkerCounts = { ...ZERO };
  #generation = 0;
  #loop: Promise<void> | undefined;
  #ready: PromiseWithResolvers<void> = Promise.withResolvers<void>();
  #stopping: Promise<void> | undefined;
  /** Set once stopping begins: nothing is respawned after it. */
  #stopRequested = false;
  #supervisor: ReturnType<typeof setInterval> | undefined;
  #ticking = false;
  #closed = false;
  /** Web Workers whose thread the parent waits to see end (their life lock). */
  #watching = new Set<Slot>();
  /** Settling Web Workers ended from outside; the store stays open until they are done. */
  #retiring = new Set<Promise<void>>();
  /** Running {@linkcode WorkerPool.processOne}: one Web Worker, one job, no replacement. */
  #once = false;
  /** While stopping with a grace period: when Web Workers still running are terminated. */
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = Infinity;
  /**
   * Its event listeners (a failing one is logged). A type's first listener
   * asks the live Web Workers to forward that type; new ones are told at init.
   */
  #events: Listeners = new Listeners(
    this,
    (message) => this.#log("error", `worker pool: ${message}`),
    (type) => {
      for (const slot of this.#slots) {
        if (slot.state !== "gone") slot.web.postMessage({ type: "listen", events: [type] });
      }
    },
  );

  /**
   * Prepares a pool for the queue in `path`. Nothing starts until
   * {@linkcode WorkerPool.start}.
   *
   * @param path the database file
   * @param options task modules, sizes, timing and driver
   */
  constructor(path: string, options: WorkerPoolOptions) {
    super();
    const context = "Cannot create worker pool";
    knownKeys(context, options ?? {}, POOL_OPTION_KEYS);
    this.#spec = backendSpec(path, {
      driver: options?.driver,
      synchronous: options?.synchronous,
      busyTimeout: options?.busyTimeout,
    });
    this.path = backendLabel(this.#spec);
    if (this.#spec.kind === "sqlite" && this.path === ":memory:") {
      throw new RangeError(
        `${context}: ":memory:" is private to one isolate; Web Workers need a database file`,
      );
    }
    const tasks = options?.tasks;
    if (!Array.isArray(tasks) || tasks.length === 0) {
      throw new TypeError(
        `${context}: tasks must be a non-empty array of module paths or URLs, got ${
          describe(tasks)
        }`,
      );
    }
    this.taskModules = Object.freeze(tasks.map(taskModuleUrl));
    this.size = integer(
      context,
      "workers",
      options.workers ?? navigator.hardwareConcurrency ?? 1,
      1,
      256,
    );
    const checked = checkWorkerOptions(context, options);
    this.concurrency = checked.concurrency;
    const pollInterval = checked.pollMs / 1000;
    const lease = checked.leaseMs / 1000;
    this.#leaseMs = checked.leaseMs;
    this.#graceMs = checked.graceMs;
    const watch = checked.watch;
    this.#prefix = options.workerId === undefined
      ? `pool-${crypto.randomUUID().slice(0, 8)}`
      : text(context, "workerId", options.workerId, { max: 180, allowEmpty: false });
    this.#log = checked.logger ?? defaultLogger;
    const driver = options.driver ?? "node";
    if (driver !== "node" && driver !== "ffi") {
      throw new RangeError(
        `${context}: unknown driver ${JSON.stringify(driver)}; allowed: "node", "ffi"`,
      );
    }
    this.#init = {
      type: "init",
      spec: this.#spec,
      attemptLines: this.#log !== defaultLogger,
      tasks: [...this.taskModules],
      concurrency: this.concurrency,
      pollInterval,
      lease,
      timeoutGrace: this.#graceMs / 1000,
      watch,
      maxPayloadBytes: checked.maxPayload,
      queues: checked.queues === undefined ? null : [...checked.queues],
      prune: checked.prune,
      pruneInterval: checked.pruneMs / 1000,
      telemetry: checkTelemetry(context, options.telemetry),
    };
    // Observed but not awaited by default: start() reports the same failure.
    this.#ready.promise.catch(() => {});
  }

  /**
   * Listens to the lifecycle events of the pool's Web Workers (see
   * {@linkcode WorkerEventMap}), posted to this thread and dispatched here
   * with the Web Worker's worker id in `detail.workerId`; also `"retry"`,
   * `"failed"` or `"timeout"` for the attempts of a Web Worker the pool
   * terminated or lost. A listener that throws (or returns a promise that
   * rejects) is logged at `error` through the pool's logger. Web Workers
   * forward only the types that have a listener here.
   *
   * @example Count outcomes
   * ```ts ignore
   * const ended = { completed: 0, failed: 0 };
   * pool.addEventListener("completed", () => ended.completed++);
   * pool.addEventListener("failed", (e) => {
   *   ended.failed++;
   *   console.error(`${e.detail.workerId} failed ${e.detail.id}: ${e.detail.error}`);
   * });
   * ```
   *
   * @param type the event type
   * @param listener called with the event
   * @param options as for `EventTarget.addEventListener` (`once`, `signal`, …)
   */
  override addEventListener<K extends WorkerEventType>(
    type: K,
    listener:
      | ((this: WorkerPool, event: WorkerEventMap[K]) => unknown)
      | { handleEvent(event: WorkerEventMap[K]): unknown }
      | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Listens to an event of another type (none is dispatched by GigQ).
   *
   * @param type the event type
   * @param listener called with the event
   * @param options as for `EventTarget.addEventListener`
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, this.#events.wrap(type, listener), options);
  }

  /**
   * Removes a listener added with {@linkcode WorkerPool.addEventListener}.
   *
   * @example
   * ```ts ignore
   * const onDone = (e: WorkerEventMap["completed"]) => console.log(e.detail.id);
   * pool.addEventListener("completed", onDone);
   * pool.removeEventListener("completed", onDone);
   * ```
   *
   * @param type the event type
   * @param listener the listener as it was added
   * @param options its `capture`, as it was added
   */
  override removeEventListener<K extends WorkerEventType>(
    type: K,
    listener:
      | ((this: WorkerPool, event: WorkerEventMap[K]) => unknown)
      | { handleEvent(event: WorkerEventMap[K]): unknown }
      | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener of another type.
   *
   * @param type the event type
   * @param listener the listener as it was added
   * @param options its `capture`, as it was added
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, this.#events.unwrap(listener), options);
  }

  /** Resolves once every Web Worker has loaded its tasks and started; rejects if one cannot. */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /** True from {@linkcode WorkerPool.start} until the pool has stopped. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The ids of the Web Workers' worker loops now running. */
  get workerIds(): string[] {
    return this.#slots.filter((s) => s.state !== "gone").map((s) => s.id);
  }

  /** Counters summed over every Web Worker, past and present (as of their last report). */
  get counts(): WorkerCounts {
    const sum = { ...this.#retired, inFlight: 0 };
    for (const slot of this.#slots) {
      if (slot.state === "gone") continue;
      sum.processed += slot.counts.processed;
      sum.completed += slot.counts.completed;
      sum.failed += slot.counts.failed;
      sum.timedOut += slot.counts.timedOut;
      sum.inFlight += Atomics.load(slot.busy, 0);
      sum.abandoned += slot.counts.abandoned;
    }
    return sum;
  }

  /**
   * Starts the Web Workers and supervises them until {@linkcode WorkerPool.stop}.
   * Resolves once the pool has stopped and every Web Worker is closed; rejects
   * if a Web Worker cannot start (for example a task module fails to import).
   *
   * @example
   * ```ts ignore
   * const done = pool.start();
   * await pool.ready;
   * // ...
   * await pool.stop();
   * await done;
   * ```
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot start a closed worker pool"));
    if (this.#loop === undefined) this.#begin(false);
    return this.#loop!;
  }

  /**
   * Processes at most one job on one supervised Web Worker, then closes it:
   * the pool renews the job's lease from this thread (so a CPU-bound handler
   * keeps it), ends a handler that ignores its timeout by terminating the Web
   * Worker, and records an attempt whose handler ends the Web Worker's thread
   * (`Deno.exit()`, `self.close()`). Resolves to true if a job was claimed,
   * false if none was ready; rejects if the Web Worker cannot start. Not
   * available while {@linkcode WorkerPool.start} runs; {@linkcode WorkerPool.stop}
   * with a grace period releases the job once it has passed.
   *
   * @example Run the queue's next job, supervised
   * ```ts ignore
   * const pool = new WorkerPool("jobs.db", { tasks: ["./tasks.ts"] });
   * const ran = await pool.processOne();
   * console.log(ran ? "ran one job" : "nothing to do", pool.counts);
   * ```
   */
  async processOne(): Promise<boolean> {
    if (this.#closed) throw new Error("Cannot call processOne on a closed worker pool");
    if (this.#loop !== undefined) {
      throw new Error("Cannot call processOne on a worker pool while it runs");
    }
    this.#begin(true);
    await this.#loop;
    const slot = this.#slots[0];
    if (slot?.error !== undefined) throw receivedError(slot.error);
    return slot?.processed ?? false;
  }

  #begin(once: boolean): void {
    this.#once = once;
    this.#stopRequested = false;
    this.#ready = Promise.withResolvers<void>();
    this.#ready.promise.catch(() => {});
    this.#slots = [];
    this.#loop = this.#run().finally(() => {
      this.#loop = undefined;
    });
  }

  async #run(): Promise<void> {
    this.#backend = openBackend(this.#spec);
    const size = this.#once ? 1 : this.size;
    try {
      // The parent's own connection creates the schema once, and with the
      // ffi driver keeps the SQLite library loaded while Web Workers come and
      // go (a library unloaded under a live handle cannot be closed).
      await this.#backend.open({ log: this.#log });
      // Opening may have taken long (a migration blocks the thread): let a
      // stop that came meanwhile be seen before any Web Worker claims a job.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (this.#stopRequested) {
        this.#ready.resolve(); // Nothing to wait for: it stopped before it started anything.
        return;
      }
      const slots = Array.from({ length: size }, (_, i) => this.#spawn(i));
      try {
        await Promise.all(slots.map((s) => s.ready.promise));
      } catch (error) {
        this.#ready.reject(error);
        await this.#shutdown(0);
        throw error;
      }
      this.#supervisor = setInterval(
        () => void this.#tick(),
        Math.max(10, Math.min(1000, this.#leaseMs / 3)),
      );
      this.#ready.resolve();
      this.#log(this.#lifecycle, `pool started ${size} Web Workers on ${this.path}`);
      const stopped = new Promise<void>((resolve) => {
        this.#onStopped = resolve;
      });
      // processOne ends when its Web Worker does, by itself or ended from outside.
      await (this.#once ? slots[0].gone.promise : stopped);
      await this.#settled();
    } finally {
      await this.#unwatch();
      if (this.#supervisor !== undefined) clearInterval(this.#supervisor);
      this.#supervisor = undefined;
      this.#backend?.close();
      this.#backend = undefined;
    }
  }

  #onStopped: () => void = () => {};

  /**
   * The pool has stopped: waits (a second at most) for its Web Workers'
   * threads to end, then stops waiting. A Web Worker that closed itself ends
   * within moments; one terminated while a handler held its thread may run
   * on (Deno 2.9 does not stop a loop), and its SQLite handle is left open
   * rather than closed under it.
   */
  async #unwatch(): Promise<void> {
    const waiting = [...this.#watching];
    if (waiting.length === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(waiting.map((s) => s.ended.promise)),
      new Promise((r) => timer = setTimeout(r, 1000)),
    ]);
    clearTimeout(timer);
    for (const slot of waiting) {
      if (!this.#watching.delete(slot)) continue;
      slot.watch.abort();
      this.#log(
        "warn",
        `the thread of Web Worker ${slot.id} still runs after it was terminated ` +
          `(a handler that does not yield); it ends with the process`,
      );
    }
  }

  /** A pool of one is a supervised Worker: its own lines say when it starts and stops. */
  get #lifecycle(): "debug" | "info" {
    return this.#once || this.size === 1 ? "debug" : "info";
  }

  /** Waits until the Web Workers ended from outside have their jobs settled. */
  async #settled(): Promise<void> {
    while (this.#retiring.size > 0) await Promise.all([...this.#retiring]);
  }

  #spawn(index: number): Slot {
    const generation = this.#generation++;
    const single = this.#once || this.size === 1;
    const id = this.#once
      ? this.#prefix
      : `${this.#prefix}${single ? "" : `-${index}`}${
        generation >= this.size ? `.${generation}` : ""
      }`;
    const web = new globalThis.Worker(new URL("./_pool_worker.ts", import.meta.url), {
      type: "module",
      name: id,
    });
    const slot: Slot = {
      index,
      id,
      web,
      state: "starting",
      handle: undefined,
      owner: crypto.randomUUID(),
      counts: { ...ZERO },
      busy: new Int32Array(new SharedArrayBuffer(4)),
      closeClaim: new Int32Array(new SharedArrayBuffer(4)),
      gateToken: generation + 1,
      ready: Promise.withResolvers<void>(),
      gone: Promise.withResolvers<void>(),
      lifeLock: lockManager() === undefined ? null : `gigq-pool:${id}:${crypto.randomUUID()}`,
      watch: new AbortController(),
      ended: Promise.withResolvers<void>(),
      watched: false,
      crashed: false,
      exitHow: undefined,
      closing: false,
      processed: false,
      error: undefined,
      replace: false,
      runs: [],
      cancels: new Map(),
      settledCancels: new Set(),
    };
    slot.ready.promise.catch(() => {});
    this.#slots[index] = slot;
    web.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(slot, e.data);
    web.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      slot.crashed = true;
      const why = `Web Worker ${id} died: ${e.message || "an uncaught error"}`;
      // Errors and messages come on different channels: let what it posted
      // before ("ready", with its FFI handle) arrive first.
      setTimeout(() => {
        if (slot.state === "gone") return;
        if (slot.state === "starting") slot.ready.reject(new Error(why));
        this.#retireLater(slot, "died", why);
      }, 50);
    };
    web.postMessage(
      {
        ...this.#init,
        workerId: id,
        owner: slot.owner,
        lifeLock: slot.lifeLock,
        busy: slot.busy.buffer,
        closeClaim: slot.closeClaim.buffer,
        writeGate: this.#writeGate,
        gateToken: slot.gateToken,
        once: this.#once,
        events: this.#events.types,
        // One pruner per pool: the Web Worker of slot 0 (and its replacements).
        prune: this.#init.prune && index === 0,
      } satisfies InitMessage,
    );
    return slot;
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case "alive":
        this.#watchLife(slot);
        break;
      case "ready":
        if (slot.state === "gone") {
          // Ended before this arrived: its handle is still to be closed.
          if (msg.handle !== null) this.#closeHandleLater(slot, msg.handle);
          break;
        }
        slot.handle = msg.handle ?? undefined;
        if (slot.state === "starting") slot.state = "running";
        slot.ready.resolve();
        this.#log("debug", `${slot.id} ready with tasks ${msg.tasks.join(", ")}`);
        break;
      case "pong":
        slot.counts = msg.counts;
        break;
      case "log":
        for (const [level, message] of msg.lines) this.#log(level, message);
        break;
      case "events":
        for (const [type, detail] of msg.events) this.#events.emit(type, detail);
        break;
      case "exiting":
        slot.exitHow = msg.how;
        if (msg.counts !== null) slot.counts = msg.counts;
        // Without a life lock to say when the thread is gone, give it a moment.
        if (slot.lifeLock === null) setTimeout(() => void this.#vanished(slot), 200);
        break;
      case "cancel":
        if (msg.phase === "noticed") {
          if (!slot.settledCancels.delete(msg.seq)) slot.cancels.set(msg.seq, Date.now());
        } else if (!slot.cancels.delete(msg.seq)) {
          // Settled before the parent heard of the cancel (kept small: such cancels are rare).
          if (slot.settledCancels.size >= 1000) slot.settledCancels.clear();
          slot.settledCancels.add(msg.seq);
        }
        break;
      case "closing":
        // It closes its own registry now; never close that handle from here.
        slot.handle = undefined;
        slot.closing = true;
        break;
      case "stopped": {
        const unasked = slot.state === "running";
        slot.counts = msg.counts;
        slot.processed = msg.processed ?? false;
        slot.error = msg.error;
        this.#gone(slot);
        // It stopped by itself (its loop failed): start another, after a pause.
        if (unasked && !this.#once && !this.#stopRequested && this.#loop !== undefined) {
          void this.#respawn(slot.index, 1);
        }
        break;
      }
      case "error":
        if (slot.state === "starting") {
          // Deno.exit() in a Web Worker ends it soon, not at once: an import
          // it cut short may fail first. The exit is the true reason.
          slot.ready.reject(
            slot.exitHow === undefined
              ? msg.error === undefined ? new Error(msg.message) : receivedError(msg.error)
              : new Error(
                `Web Worker ${slot.id} exited (${slot.exitHow}) while loading its task modules`,
              ),
          );
          slot.web.terminate();
          this.#gone(slot);
        } else {
          this.#log("error", `${slot.id}: ${msg.message}`);
        }
        break;
    }
  }

  /**
   * Waits for the slot's life lock, which its Web Worker holds from its
   * first moment: Deno frees a thread's Web Locks when the thread ends, so
   * the lock is granted here as soon as the Web Worker is gone, however it
   * went, and never while a handler only keeps it busy.
   */
  #watchLife(slot: Slot): void {
    const locks = lockManager();
    if (locks === undefined || slot.lifeLock === null || slot.state === "gone") return;
    slot.watched = true;
    this.#watching.add(slot);
    locks.request(slot.lifeLock, { signal: slot.watch.signal }, () => {
      this.#watching.delete(slot);
      slot.ended.resolve();
      if (slot.state !== "gone") void this.#vanished(slot);
    }).catch(() => {
      // Aborted once the pool stopped: see #unwatch.
    });
  }

  /** The slot's thread has ended: unless it said goodbye, settle it as died. */
  async #vanished(slot: Slot): Promise<void> {
    // What it posted before it ended ("stopped" after an ordinary stop, or
    // "exiting") may still be on its way; more patience once it is stopping.
    const patience = slot.closing || slot.state === "stopping" ? 2000 : 100;
    for (let waited = 0; slot.state !== "gone" && waited < patience;) {
      await new Promise((r) => setTimeout(r, 10));
      waited += 10;
    }
    if (slot.state === "gone" || slot.crashed) return;
    const loading = slot.state === "starting";
    const what = slot.exitHow ??
      `Deno.exit() or self.close() in a ${loading ? "task module" : "handler"}?`;
    const why = `Web Worker ${slot.id} exited (${what})`;
    if (loading) {
      slot.ready.reject(new Error(`${why} while loading its task modules`));
    }
    this.#retireLater(slot, "died", why, `${why} while running it`);
  }

  #gone(slot: Slot): void {
    if (slot.state === "gone") return;
    slot.state = "gone";
    this.#retired.processed += slot.counts.processed;
    this.#retired.completed += slot.counts.completed;
    this.#retired.failed += slot.counts.failed;
    this.#retired.timedOut += slot.counts.timedOut;
    this.#retired.abandoned += slot.counts.abandoned;
    // Ended inside a write transaction: the others need not wait out the gate.
    freeWriteGate(this.#writeGate, slot.gateToken);
    slot.gone.resolve();
  }

  /**
   * Closes the FFI handle of a Web Worker that is gone. Deno 2.9's
   * terminate() does not stop a thread busy in a loop: it runs on to the
   * loop's end and then uses its handle. So the handle is closed only once
   * the thread has really ended (its life lock), never under it.
   */
  async #closeHandleLater(slot: Slot, handle: string): Promise<void> {
    const close = () => {
      try {
        releaseBackendToken(this.#spec, handle, slot.closeClaim);
      } catch (error) {
        this.#log(
          "error",
          `could not close ${slot.id}'s SQLite handle: ${(error as Error).message}`,
        );
      }
    };
    if (slot.watched) {
      void slot.ended.promise.then(close);
    } else {
      // Without Web Locks: give an FFI call in progress time to return.
      await new Promise((r) => setTimeout(r, 100));
      close();
    }
  }

  /** Starts {@linkcode WorkerPool.#retire}; stopping waits for it. */
  #retireLater(slot: Slot, how: "died" | "terminated", why: string, record?: string): void {
    const settling = this.#retire(slot, how, why, record).catch((error) => {
      this.#log("error", `${why}; could not settle it: ${(error as Error)?.message ?? error}`);
    });
    this.#retiring.add(settling);
    void settling.then(() => {
      this.#retiring.delete(settling);
      if (this.#stopRequested || this.#once || this.#loop === undefined) return;
      if (slot.replace && this.#slots[slot.index] === slot) void this.#respawn(slot.index);
    });
  }

  /**
   * Ends a Web Worker from outside: terminates it, closes its FFI handle,
   * settles its running jobs in the database (counting them), and marks the
   * slot for a replacement unless it never started.
   */
  async #retire(
    slot: Slot,
    how: "died" | "terminated",
    why: string,
    record?: string,
  ): Promise<void> {
    if (slot.state === "gone") return;
    slot.replace = slot.state !== "starting";
    slot.web.terminate();
    const handle = slot.handle;
    slot.handle = undefined;
    this.#gone(slot);
    if (handle !== undefined) await this.#closeHandleLater(slot, handle);
    const backend = this.#backend;
    if (backend === undefined) {
      this.#log("warn", why);
      return;
    }
    const message = record ??
      `the pool ${how === "died" ? "lost" : "terminated"} Web Worker ${slot.id}`;
    try {
      const now = Date.now();
      const ids = await backend.endAttempts({
        owner: slot.owner,
        how,
        message,
        now,
        graceMs: this.#graceMs,
      });
      // How each attempt ended: failed or timed out counts, released does not.
      const ended = await Promise.all(ids.map(async (id) => {
        const job = await backend.getJob({ id, now });
        const execution = job?.executions.findLast((e) => e.workerId === slot.id);
        return { id, job, execution, status: execution?.status };
      }));
      for (const { job, execution, status } of ended) {
        if (status !== "failed" && status !== "timeout") continue;
        this.#retired.processed++;
        if (status === "failed") this.#retired.failed++;
        else this.#retired.timedOut++;
        if (this.#events.any && job !== undefined && execution !== undefined) {
          this.#emitEnded(slot, job, execution, status);
        }
      }
      if (ended.length > 0) slot.processed = true;
      this.#log(
        "warn",
        `${why}; ${
          ended.length === 0
            ? "it held no jobs"
            : `its jobs ${ended.map((e) => e.id).join(", ")} were settled`
        }`,
      );
    } catch (error) {
      this.#log("error", `${why}; could not settle its jobs yet: ${(error as Error).message}`);
    }
  }

  /**
   * Dispatches the event of an attempt this thread ended for a Web Worker it
   * terminated or lost: the Web Worker could not say it itself.
   */
  #emitEnded(
    slot: Slot,
    job: JobDetails,
    execution: ExecutionInfo,
    status: "failed" | "timeout",
  ): void {
    // Ended for good if the job still stands where this attempt left it.
    const final = job.status === status && job.attempts === execution.attempt;
    const type = final ? status : "retry";
    if (!this.#events.listens(type)) return;
    const detail = {
      id: job.id,
      name: job.name,
      queue: job.queue,
      attempt: execution.attempt,
      maxAttempts: job.maxAttempts,
      workerId: slot.id,
      error: execution.error ?? job.error ?? "",
    };
    this.#events.emit(type, final ? detail : { ...detail, timedOut: status === "timeout" });
  }

  /**
   * Starts a new Web Worker in slot `index`. A Web Worker that dies while
   * running is replaced at once (a job that kills it has its attempts
   * counted, so a poison job cannot loop forever); one that cannot start
   * (say, a task module that no longer imports) is retried with backoff.
   */
  async #respawn(index: number, failures = 0): Promise<void> {
    for (; !this.#stopRequested && this.#loop !== undefined; failures++) {
      if (failures > 0) {
        const delay = Math.min(30_000, 250 * 2 ** (failures - 1));
        this.#log("warn", `slot ${index}: retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        if (this.#stopRequested || this.#loop === undefined) return;
      }
      const slot = this.#spawn(index);
      try {
        await slot.ready.promise;
        this.#log("info", `${slot.id} replaces the Web Worker of slot ${index}`);
        return;
      } catch (error) {
        this.#log(
          "error",
          `could not replace the Web Worker of slot ${index}: ${(error as Error).message}`,
        );
      }
    }
  }

  /** Every lease/3 (at most every second): renew leases, end handlers that will not stop. */
  async #tick(): Promise<void> {
    const backend = this.#backend;
    if (this.#ticking || backend === undefined) return;
    this.#ticking = true;
    try {
      const live = this.#slots.filter((s) => s.state === "running" || s.state === "stopping");
      for (const slot of live) slot.web.postMessage({ type: "ping" });
      const now = Date.now();
      const overdue: Slot[] = [];
      const ignoring: Slot[] = [];
      for (const slot of live) {
        await backend.renewLeases({
          owner: slot.owner,
          workerId: slot.id,
          now,
          leaseMs: this.#leaseMs,
          graceMs: this.#graceMs + LEASE_MARGIN_MS,
        });
        if (await backend.overdue({ owner: slot.owner, now, graceMs: this.#graceMs })) {
          overdue.push(slot);
        } else if (await this.#ignoresCancel(backend, slot, now)) {
          ignoring.push(slot);
        }
      }
      for (const slot of overdue) {
        this.#retireLater(
          slot,
          "terminated",
          `${slot.id} runs a job more than ${this.#graceMs / 1000} s past its timeout and ` +
            `ignores its abort signal; terminated it`,
        );
      }
      for (const slot of ignoring) {
        this.#retireLater(
          slot,
          "terminated",
          `${slot.id} still runs the handler of job ${
            [...slot.cancels.keys()].join(", ")
          } more than ${this.#graceMs / 1000} s after it was cancelled, ignoring its abort ` +
            `signal; terminated it`,
        );
      }
    } catch (error) {
      this.#log("error", `pool supervision: ${(error as Error).message}`);
    } finally {
      this.#ticking = false;
    }
  }

  /**
   * Whether a Web Worker still runs the handler of a job cancelled while it
   * ran, `timeoutGrace` after the parent heard of the cancel: from the Web
   * Worker itself, when it notices, or — should a handler hold its thread —
   * by asking about the jobs it ran at the last tick and runs no more. A
   * cancelled one counts until the Web Worker says its handler settled.
   */
  async #ignoresCancel(backend: Backend, slot: Slot, now: number): Promise<boolean> {
    const current = await backend.runningOf({ owner: slot.owner });
    const live = new Set(current.map((r) => `${r.seq}:${r.run}`));
    const gone = slot.runs.filter((r) => !live.has(`${r.seq}:${r.run}`));
    slot.runs = current;
    if (gone.length > 0) {
      for (const seq of await backend.cancelledRuns({ runs: gone })) {
        if (!slot.settledCancels.delete(seq) && !slot.cancels.has(seq)) slot.cancels.set(seq, now);
      }
    }
    for (const at of slot.cancels.values()) if (at + this.#graceMs <= now) return true;
    return false;
  }

  /**
   * Stops the pool: no new claims; running handlers finish (or time out).
   * With `grace`, handlers still running after that many seconds are aborted
   * and their jobs released to pending. Calling it again with a smaller grace
   * (for example on a second Ctrl-C) hurries the stop. Resolves once every
   * Web Worker has closed its connections and itself.
   *
   * @example
   * ```ts ignore
   * await pool.stop({ grace: 10 });
   * ```
   *
   * @param options how long running handlers may take
   */
  stop(options: StopOptions = {}): Promise<void> {
    knownKeys("Cannot stop worker pool", options, ["grace"]);
    const grace = options.grace === undefined ? undefined : seconds(
      "Cannot stop worker pool",
      "grace",
      options.grace,
      { min: 0, max: MAX_TIMEOUT_SECONDS, minExclusive: false },
    );
    if (this.#loop === undefined) return Promise.resolve();
    if (this.#stopping !== undefined) {
      if (grace !== undefined) {
        for (const slot of this.#slots) {
          if (slot.state !== "gone") slot.web.postMessage({ type: "stop", grace });
        }
        this.#armDeadline(grace);
      }
      return this.#stopping;
    }
    this.#stopping = this.#shutdown(grace).finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  /**
   * While stopping with a grace period: a Web Worker that cannot even release
   * its jobs in time (a handler holds its thread) is terminated `grace` + 5 s
   * from now, and its jobs settled from here. A shorter grace moves it sooner.
   */
  #armDeadline(grace: number): void {
    const at = Date.now() + grace * 1000 + 5_000;
    if (this.#deadline !== undefined && this.#deadlineAt <= at) return;
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadlineAt = at;
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      for (const slot of this.#slots) {
        if (slot.state === "gone") continue;
        this.#retireLater(
          slot,
          "terminated",
          `${slot.id} did not stop within the ${grace} s grace period`,
        );
      }
    }, at - Date.now());
  }

  async #shutdown(grace: number | undefined): Promise<void> {
    this.#stopRequested = true;
    await this.#ready.promise.catch(() => {});
    const told = new Set<Slot>();
    if (grace !== undefined) this.#armDeadline(grace);
    // Until none is left: a replacement started just before the stop is told too.
    for (;;) {
      const live = this.#slots.filter((s) => s.state !== "gone");
      if (live.length === 0) break;
      for (const slot of live) {
        if (told.has(slot)) continue;
        told.add(slot);
        if (slot.state === "running") slot.state = "stopping";
        slot.web.postMessage(grace === undefined ? { type: "stop" } : { type: "stop", grace });
      }
      await Promise.all(live.map((s) => s.gone.promise));
    }
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
    await this.#settled();
    this.#log(this.#lifecycle, `pool stopped (${this.counts.processed} attempts processed)`);
    this.#onStopped();
  }

  /**
   * Stops at once: running handlers are aborted and their jobs released to
   * pending. Resolves when every Web Worker is gone. Safe to call twice.
   *
   * @example
   * ```ts ignore
   * await pool.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stop({ grace: 0 });
    await this.#loop?.catch(() => {});
  }

  /** Stops gracefully (running handlers finish), then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await this.close();
  }
}
