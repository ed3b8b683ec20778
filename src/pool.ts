/**
 * {@linkcode WorkerPool}: a pool of Web Workers, each with its own registry,
 * its own SQLite handle and its own worker loop, supervised from the parent.
 *
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Store } from "./sqlite/_store.ts";
import { integer, knownKeys, MAX_TIMEOUT_SECONDS, seconds, text } from "./_validate.ts";
import { describe } from "./job_status.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES } from "./_json.ts";
import {
  acquireConnection,
  type ConnectionOptions,
  releaseConnection,
  resolveDbPath,
} from "./sqlite/registry.ts";
import type { Connection } from "./sqlite/connection.ts";
import { closeHandle } from "./sqlite/ffi_driver.ts";
import {
  defaultLogger,
  LEASE_MARGIN_MS,
  type Logger,
  type StopOptions,
  type WorkerCounts,
} from "./worker.ts";
import type { FromWorker, InitMessage } from "./_pool_worker.ts";

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
   * attempt as timed out, and starts a new Web Worker in its place.
   *
   * @default {5}
   */
  timeoutGrace?: number;
  /**
   * Prefix of the Web Workers' worker ids (`<prefix>-0`, `<prefix>-1`, …).
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
}

const POOL_OPTION_KEYS = [
  "tasks",
  "workers",
  "concurrency",
  "pollInterval",
  "lease",
  "watch",
  "timeoutGrace",
  "workerId",
  "maxPayloadBytes",
  "logger",
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
  ready: PromiseWithResolvers<void>;
  gone: PromiseWithResolvers<void>;
}

const ZERO: WorkerCounts = {
  processed: 0,
  completed: 0,
  failed: 0,
  timedOut: 0,
  inFlight: 0,
  abandoned: 0,
};

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
 * - a Web Worker that dies is replaced the same way, and why is logged.
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
export class WorkerPool implements AsyncDisposable {
  /** The database path (absolute). */
  readonly path: string;
  /** How many Web Workers the pool keeps running. */
  readonly size: number;
  /** Handlers each Web Worker runs at once. */
  readonly concurrency: number;
  /** The task modules, as URLs. */
  readonly taskModules: readonly string[];
  #init: Omit<InitMessage, "workerId" | "owner">;
  #prefix: string;
  #leaseMs: number;
  #graceMs: number;
  #log: Logger;
  #options: ConnectionOptions;
  #conn: Connection | undefined;
  #store: Store | undefined;
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

  /**
   * Prepares a pool for the queue in `path`. Nothing starts until
   * {@linkcode WorkerPool.start}.
   *
   * @param path the database file
   * @param options task modules, sizes, timing and driver
   */
  constructor(path: string, options: WorkerPoolOptions) {
    const context = "Cannot create worker pool";
    knownKeys(context, options ?? {}, POOL_OPTION_KEYS);
    this.path = resolveDbPath(path);
    if (this.path === ":memory:") {
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
    this.concurrency = integer(context, "concurrency", options.concurrency ?? 1, 1, 10_000);
    const pollInterval = seconds(context, "pollInterval", options.pollInterval ?? 5, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    });
    const lease = seconds(context, "lease", options.lease ?? 30, {
      min: 0,
      max: 86_400,
      minExclusive: true,
    });
    this.#leaseMs = lease * 1000;
    this.#graceMs = 1000 * seconds(context, "timeoutGrace", options.timeoutGrace ?? 5, {
      min: 0,
      max: MAX_TIMEOUT_SECONDS,
      minExclusive: false,
    });
    const watch = options.watch ?? true;
    if (typeof watch !== "boolean") {
      throw new TypeError(`${context}: watch must be true or false, got ${describe(watch)}`);
    }
    this.#prefix = options.workerId === undefined
      ? `pool-${crypto.randomUUID().slice(0, 8)}`
      : text(context, "workerId", options.workerId, { max: 180, allowEmpty: false });
    this.#log = options.logger ?? defaultLogger;
    if (typeof this.#log !== "function") {
      throw new TypeError(`${context}: logger must be a function, got ${describe(this.#log)}`);
    }
    const driver = options.driver ?? "node";
    if (driver !== "node" && driver !== "ffi") {
      throw new RangeError(
        `${context}: unknown driver ${JSON.stringify(driver)}; allowed: "node", "ffi"`,
      );
    }
    this.#options = {
      driver,
      synchronous: options.synchronous,
      busyTimeout: options.busyTimeout,
    };
    this.#init = {
      type: "init",
      path: this.path,
      driver,
      tasks: [...this.taskModules],
      concurrency: this.concurrency,
      pollInterval,
      lease,
      timeoutGrace: this.#graceMs / 1000,
      watch,
      maxPayloadBytes: integer(
        context,
        "maxPayloadBytes",
        options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
        2,
        1_073_741_824,
      ),
      synchronous: options.synchronous,
      busyTimeout: options.busyTimeout,
    };
    // Observed but not awaited by default: start() reports the same failure.
    this.#ready.promise.catch(() => {});
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
      sum.inFlight += slot.counts.inFlight;
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
    if (this.#loop === undefined) {
      this.#stopRequested = false;
      this.#ready = Promise.withResolvers<void>();
      this.#ready.promise.catch(() => {});
    }
    this.#loop ??= this.#run().finally(() => {
      this.#loop = undefined;
    });
    return this.#loop;
  }

  async #run(): Promise<void> {
    this.#conn = acquireConnection(this.path, this.#options);
    try {
      // The parent's own connection creates the schema once, and with the
      // ffi driver keeps the SQLite library loaded while Web Workers come and
      // go (a library unloaded under a live handle cannot be closed).
      this.#store = await Store.open(this.#conn);
      const slots = Array.from({ length: this.size }, (_, i) => this.#spawn(i));
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
      this.#log("info", `pool started ${this.size} Web Workers on ${this.path}`);
      await new Promise<void>((resolve) => {
        this.#onStopped = resolve;
      });
    } finally {
      if (this.#supervisor !== undefined) clearInterval(this.#supervisor);
      this.#supervisor = undefined;
      if (this.#conn !== undefined) releaseConnection(this.#conn);
      this.#conn = undefined;
      this.#store = undefined;
    }
  }

  #onStopped: () => void = () => {};

  #spawn(index: number): Slot {
    const generation = this.#generation++;
    const id = `${this.#prefix}-${index}${generation >= this.size ? `.${generation}` : ""}`;
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
      ready: Promise.withResolvers<void>(),
      gone: Promise.withResolvers<void>(),
    };
    slot.ready.promise.catch(() => {});
    this.#slots[index] = slot;
    web.onmessage = (e: MessageEvent<FromWorker>) => this.#onMessage(slot, e.data);
    web.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const why = `Web Worker ${id} died: ${e.message || "an uncaught error"}`;
      if (slot.state === "starting") slot.ready.reject(new Error(why));
      void this.#retire(slot, "died", why);
    };
    web.postMessage({ ...this.#init, workerId: id, owner: slot.owner } satisfies InitMessage);
    return slot;
  }

  #onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case "ready":
        slot.handle = msg.handle ?? undefined;
        if (slot.state === "starting") slot.state = "running";
        slot.ready.resolve();
        this.#log("debug", `${slot.id} ready with tasks ${msg.tasks.join(", ")}`);
        break;
      case "pong":
        slot.counts = msg.counts;
        break;
      case "log":
        this.#log(msg.level, msg.message);
        break;
      case "closing":
        // It closes its own registry now; never close that handle from here.
        slot.handle = undefined;
        break;
      case "stopped":
        slot.counts = msg.counts;
        this.#gone(slot);
        break;
      case "error":
        if (slot.state === "starting") {
          slot.ready.reject(new Error(msg.message));
          slot.web.terminate();
          this.#gone(slot);
        } else {
          this.#log("error", `${slot.id}: ${msg.message}`);
        }
        break;
    }
  }

  #gone(slot: Slot): void {
    if (slot.state === "gone") return;
    slot.state = "gone";
    this.#retired.processed += slot.counts.processed;
    this.#retired.completed += slot.counts.completed;
    this.#retired.failed += slot.counts.failed;
    this.#retired.timedOut += slot.counts.timedOut;
    this.#retired.abandoned += slot.counts.abandoned;
    slot.gone.resolve();
  }

  /**
   * Ends a Web Worker from outside: terminates it, closes its FFI handle,
   * settles its running jobs in the database, and (unless the pool is
   * stopping) starts a replacement.
   */
  async #retire(slot: Slot, how: "died" | "terminated", why: string): Promise<void> {
    if (slot.state === "gone") return;
    const wasStarting = slot.state === "starting";
    slot.web.terminate();
    const handle = slot.handle;
    slot.handle = undefined;
    this.#gone(slot);
    if (handle !== undefined) {
      // terminate() stops the thread at its next JavaScript instruction; give
      // an FFI call in progress time to return before its handle goes away.
      await new Promise((r) => setTimeout(r, 100));
      try {
        closeHandle(BigInt(handle));
      } catch (error) {
        this.#log(
          "error",
          `could not close ${slot.id}'s SQLite handle: ${(error as Error).message}`,
        );
      }
    }
    const store = this.#store;
    if (store !== undefined) {
      try {
        const ids = await store.write(() =>
          store.endWorker(
            slot.owner,
            how,
            `the pool ${how === "died" ? "lost" : "terminated"} Web Worker ${slot.id}`,
            Date.now(),
            this.#graceMs,
          )
        );
        this.#log(
          "warn",
          `${why}; ${
            ids.length === 0 ? "it held no jobs" : `its jobs ${ids.join(", ")} were settled`
          }`,
        );
      } catch (error) {
        this.#log("error", `${why}; could not settle its jobs yet: ${(error as Error).message}`);
      }
    } else {
      this.#log("warn", why);
    }
    if (!this.#stopRequested && !wasStarting && this.#loop !== undefined) {
      await this.#respawn(slot.index);
    }
  }

  /**
   * Starts a new Web Worker in slot `index`. A Web Worker that dies while
   * running is replaced at once (a job that kills it has its attempts
   * counted, so a poison job cannot loop forever); one that cannot start
   * (say, a task module that no longer imports) is retried with backoff.
   */
  async #respawn(index: number): Promise<void> {
    for (let failures = 0; !this.#stopRequested && this.#loop !== undefined; failures++) {
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
    const store = this.#store;
    if (this.#ticking || store === undefined) return;
    this.#ticking = true;
    try {
      const live = this.#slots.filter((s) => s.state === "running" || s.state === "stopping");
      for (const slot of live) slot.web.postMessage({ type: "ping" });
      const now = Date.now();
      const overdue = await store.write(() => {
        const stuck: Slot[] = [];
        for (const slot of live) {
          store.heartbeat({
            owner: slot.owner,
            workerId: slot.id,
            now,
            leaseMs: this.#leaseMs,
            graceMs: this.#graceMs + LEASE_MARGIN_MS,
          });
          if (store.workerOverdue(slot.owner, now, this.#graceMs)) stuck.push(slot);
        }
        return stuck;
      });
      for (const slot of overdue) {
        await this.#retire(
          slot,
          "terminated",
          `${slot.id} runs a job more than ${this.#graceMs / 1000} s past its timeout and ` +
            `ignores its abort signal; terminated it`,
        );
      }
    } catch (error) {
      this.#log("error", `pool supervision: ${(error as Error).message}`);
    } finally {
      this.#ticking = false;
    }
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
      }
      return this.#stopping;
    }
    this.#stopping = this.#shutdown(grace).finally(() => {
      this.#stopping = undefined;
    });
    return this.#stopping;
  }

  async #shutdown(grace: number | undefined): Promise<void> {
    this.#stopRequested = true;
    await this.#ready.promise.catch(() => {});
    const live = this.#slots.filter((s) => s.state !== "gone");
    for (const slot of live) {
      slot.state = slot.state === "starting" ? "starting" : "stopping";
      slot.web.postMessage(grace === undefined ? { type: "stop" } : { type: "stop", grace });
    }
    let deadline: ReturnType<typeof setTimeout> | undefined;
    if (grace !== undefined) {
      // A Web Worker that cannot even release its jobs in time (its event
      // loop is blocked) is terminated and its jobs settled from here.
      deadline = setTimeout(() => {
        for (const slot of live) {
          void this.#retire(
            slot,
            "terminated",
            `${slot.id} did not stop within the ${grace} s grace period`,
          );
        }
      }, grace * 1000 + 5_000);
    }
    await Promise.all(live.map((s) => s.gone.promise));
    if (deadline !== undefined) clearTimeout(deadline);
    this.#log("info", `pool stopped (${this.counts.processed} attempts processed)`);
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
