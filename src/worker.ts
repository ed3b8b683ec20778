/**
 * {@linkcode Worker}: the loop that claims jobs from a queue file and runs
 * their handlers, inside one isolate.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { errorText } from "./_error_text.ts";
import { type Backend, type Claimed, type Claimer, type Outcome, PRUNE_BATCH } from "./_backend.ts";
import { backendLabel, backendSpec, openBackend } from "./_open_backend.ts";
import { Attempts, type Running } from "./_attempts.ts";
import { checkWorkerOptions } from "./_worker_options.ts";
import { checkTelemetry, loadTelemetry, type Telemetry } from "./_telemetry.ts";
import { Scheduler } from "./_scheduler.ts";
import { knownKeys, MAX_TIMEOUT_SECONDS, seconds, text } from "./_validate.ts";
import { type Clock, systemClock, type TimerId } from "./clock.ts";
import { QueueClosedError } from "./errors.ts";
import { describe } from "./job_status.ts";
import type { ConnectionOptions } from "./_open_backend.ts";
import { isTask, type Task } from "./task.ts";
import {
  type JobEventDetail,
  Listeners,
  type WorkerEventMap,
  type WorkerEventType,
} from "./worker_events.ts";

/** How loud a log line is. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Where a worker writes what it does. */
export type Logger = (level: LogLevel, message: string) => void;

/** The default logger: warnings and errors to stderr, the rest dropped. */
export const defaultLogger: Logger = (level, message) => {
  if (level === "warn" || level === "error") console.error(`gigq ${level}: ${message}`);
};

/** Options for {@linkcode Worker}. */
export interface WorkerOptions extends ConnectionOptions {
  /**
   * The tasks this worker can run, looked up by name. A job whose task is
   * not among them fails with `unknown task "name"`.
   */
  tasks: readonly Task[];
  /**
   * The named queues this worker claims from (a job's `queue`); priority and
   * age order its claims across them. A paused queue is skipped until it is
   * resumed.
   *
   * @default {every queue}
   */
  queues?: readonly string[];
  /**
   * How many handlers run at once (asynchronously, in this isolate).
   *
   * @default {1}
   */
  concurrency?: number;
  /**
   * Seconds to wait between polls when there is nothing to do; also how
   * often it reads the cron schedules of its tasks again (it fires their
   * due slots: see `JobQueue.schedule`).
   *
   * @default {5}
   */
  pollInterval?: number;
  /**
   * This worker's id, recorded on the jobs it runs. Must be unique among
   * running workers.
   *
   * @default {"worker-" + a random UUID}
   */
  workerId?: string;
  /**
   * Seconds a claim lasts without renewal. The worker renews its claims every
   * third of this while their handlers run; a job whose worker stopped
   * renewing (killed, machine gone) is retried or timed out after it, or
   * sooner: a lease never runs past the attempt's timeout plus
   * `timeoutGrace` (and a few seconds' margin), so a dead worker's short job
   * comes back at its timeout. Renewal runs on this isolate's event loop: a
   * synchronous handler that blocks it for longer than the lease loses its
   * claim, and another worker may run the job again while it still runs (the
   * worker logs an error when that happens). Run CPU-bound handlers in a
   * {@linkcode WorkerPool}, whose parent thread renews the leases.
   *
   * @default {30}
   */
  lease?: number;
  /**
   * Seconds after a job's timeout (when its attempt is recorded as timed out
   * and `ctx.signal` aborts), or after the worker saw it cancelled while it
   * ran, that its handler may keep its slot. A handler
   * still unsettled then is abandoned: its slot is freed for other jobs and
   * it is counted in `counts.abandoned` (its eventual result is ignored).
   *
   * @default {5}
   */
  timeoutGrace?: number;
  /**
   * While idle, wake as soon as another process commits to the file (by
   * watching its WAL, then checking `PRAGMA data_version`), instead of only
   * every `pollInterval`. Without read permission for the WAL it checks
   * `PRAGMA data_version` every `watchInterval`. With `false` the worker only
   * polls every `pollInterval`.
   *
   * @default {true}
   */
  watch?: boolean;
  /**
   * Seconds between two checks for other processes' commits while idle,
   * where the WAL cannot be watched.
   *
   * @default {0.05}
   */
  watchInterval?: number;
  /**
   * The source of time (tests inject one to move time instead of sleeping).
   *
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * The largest result JSON a handler may return, in UTF-8 bytes.
   *
   * @default {1048576}
   */
  maxPayloadBytes?: number;
  /**
   * Receives log lines, among them one per attempt: `info` for a failed or
   * timed-out one (with its attempt number, whether it is retried and its
   * error's first line), `debug` for a completed or released one. With the
   * default logger, which drops `info` and `debug`, those are not even built.
   *
   * @default {defaultLogger}
   */
  logger?: Logger;
  /**
   * While {@linkcode Worker.start} runs, delete ended jobs whose queue's
   * retention has passed (`keepCompleted` and `keepFailed` of
   * `JobQueue.configureQueue`; 7 and 30 days by default), in the
   * background, every `pruneInterval`: in batches of at most 200 jobs, each
   * its own short transaction, with claims going on between them. With
   * `false` this worker deletes nothing (`JobQueue.clearCompleted` still does).
   *
   * @default {true}
   */
  prune?: boolean;
  /**
   * Seconds between two rounds of pruning, each drawn between half and one
   * and a half times this (workers started together do not prune together).
   * Measured with the worker's `clock`.
   *
   * @default {60}
   */
  pruneInterval?: number;
  /**
   * OpenTelemetry: a `gigq.attempt` span (kind CONSUMER) for each attempt,
   * linked to the span that submitted the job, and the metrics
   * `gigq.jobs.completed`, `gigq.jobs.failed`, `gigq.attempt.duration` and
   * `gigq.queue.depth` (see the README's "OpenTelemetry"). Turning it on
   * loads `npm:@opentelemetry/api@1` as the worker opens; off, attempts pay
   * nothing for it.
   *
   * @default {true when the environment has OTEL_DENO=true (read only with env access granted), else false}
   */
  telemetry?: boolean;
}

/** How often a worker's `gigq.queue.depth` reads its queues' pending counts, at most (ms). */
export const DEPTH_EVERY_MS = 10_000;

/** Counters a worker keeps while it runs. */
export interface WorkerCounts {
  /** Attempts that ended (any way). */
  processed: number;
  /** Attempts that completed their job. */
  completed: number;
  /** Attempts that threw. */
  failed: number;
  /** Attempts that timed out. */
  timedOut: number;
  /** Handlers running now. */
  inFlight: number;
  /**
   * Handlers that had not settled `timeoutGrace` seconds after their
   * timeout: their slots were freed and their promises abandoned.
   */
  abandoned: number;
}

/**
 * The key of an internal Worker option: the lease owner token to claim
 * under, so a pool's parent thread can renew its Web Workers' leases.
 */
export const LEASE_OWNER: unique symbol = Symbol("gigq.leaseOwner");

/**
 * The key of an internal Worker option: whether to log a line per attempt
 * (a pool's Web Worker logs them only when the pool's own logger may want them).
 */
export const ATTEMPT_LINES: unique symbol = Symbol("gigq.attemptLines");

/**
 * The key of an internal Worker option: called when a job is found
 * cancelled while it ran, and when its handler then settles (a pool's parent
 * ends a Web Worker whose handler does not).
 */
export const ON_CANCEL: unique symbol = Symbol("gigq.onCancel");

/**
 * How often a worker with running jobs asks whether one was cancelled, in
 * milliseconds (on PostgreSQL a NOTIFY also asks at once).
 */
export const CANCEL_CHECK_MS = 1000;

/** How far past `timeout + timeoutGrace` a lease may run: time to write the outcome. */
export const LEASE_MARGIN_MS = 3000;

const WORKER_OPTION_KEYS = [
  "tasks",
  "queues",
  "concurrency",
  "pollInterval",
  "workerId",
  "lease",
  "timeoutGrace",
  "watch",
  "watchInterval",
  "clock",
  "maxPayloadBytes",
  "logger",
  "prune",
  "pruneInterval",
  "telemetry",
  "driver",
  "synchronous",
  "busyTimeout",
] as const;

/** Options for {@linkcode Worker.stop}. */
export interface StopOptions {
  /**
   * Seconds to let running handlers finish. After that their signals abort
   * and their jobs go back to pending, the interrupted attempt not counted.
   *
   * @default {no limit: wait for every handler to finish or time out}
   */
  grace?: number;
}

/**
 * The pause between two batches of pruning, in milliseconds: at least
 * this, and at least PRUNE_PAUSE_FACTOR times the batch's own time. The
 * worker's claims run between two batches anyway (one event loop), but
 * another process waiting for SQLite's write lock needs a gap longer than
 * its busy handler's sleeps to take it: without one, a writer elsewhere
 * waited 260 ms (p50) for its submits while 100,000 jobs were pruned
 * (bench/retention.ts); with it, 3 ms.
 */
const PRUNE_PAUSE_MS = 10;
const PRUNE_PAUSE_FACTOR = 1;

/** Most jobs claimed in one transaction. */
const MAX_BATCH = 256;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** What every event of `job`'s attempt says. */
function eventDetail(job: Claimed, workerId: string): JobEventDetail {
  return {
    id: job.id,
    name: job.name,
    queue: job.queue,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    workerId,
  };
}

/**
 * Dispatches the events of written outcomes and of new claims, building the
 * details only of types someone listens to. Shared by Worker and the pool's
 * Web Workers (through Worker).
 */
function emitStep(
  events: Listeners,
  workerId: string,
  outcomes: readonly Outcome[],
  claimed: readonly Claimed[],
): void {
  for (const o of outcomes) {
    if (o.kind === "released") continue;
    if (o.kind === "completed") {
      if (!events.listens("completed")) continue;
      let result: unknown = null;
      try {
        result = JSON.parse(o.result);
      } catch {
        // Results are JSON by construction; a listener gets null otherwise.
      }
      events.emit("completed", { ...eventDetail(o.job, workerId), result });
      continue;
    }
    // The store decides the same way: a retry unless permanent or no attempt is left.
    const final = o.permanent || o.job.attempt >= o.job.maxAttempts;
    const type = final ? o.kind : "retry";
    if (!events.listens(type)) continue;
    events.emit(
      type,
      final
        ? { ...eventDetail(o.job, workerId), error: o.error }
        : { ...eventDetail(o.job, workerId), error: o.error, timedOut: o.kind === "timeout" },
    );
  }
  if (events.listens("claimed")) {
    for (const job of claimed) events.emit("claimed", eventDetail(job, workerId));
  }
}

/**
 * Claims jobs from a queue file and runs their tasks' handlers, up to
 * `concurrency` at a time, with retries, timeouts (the handler's
 * `ctx.signal` aborts) and leases renewed while handlers run.
 *
 * @example Run until stopped
 * ```ts ignore
 * import { Worker } from "@gigq/gigq";
 * import { greet } from "./tasks.ts";
 *
 * const worker = new Worker("jobs.db", { tasks: [greet], concurrency: 4 });
 * Deno.addSignalListener("SIGINT", () => worker.stop());
 * await worker.start(); // resolves once stopped and drained
 * worker.close();
 * ```
 *
 * @example Process one job (scripts and tests)
 * ```ts ignore
 * const worker = new Worker("jobs.db", { tasks: [greet] });
 * while (await worker.processOne()) { }
 * worker.close();
 * ```
 */
export class Worker extends EventTarget implements AsyncDisposable {
  /** The database path (absolute). */
  readonly path: string;
  /** This worker's id. */
  readonly id: string;
  /** How many handlers run at once. */
  readonly concurrency: number;
  #tasks = new Map<string, Task>();
  #pollMs: number;
  #leaseMs: number;
  #graceMs: number;
  #claimer: Claimer;
  /** The file at the path is not the one open: reopen once in-flight work is written. */
  #reopen = false;
  /** The file's deletion was logged. */
  #missingLogged = false;
  /** When the heartbeat is due (clock time), to notice a blocked event loop. */
  #heartbeatDue = 0;
  /** A stall was logged since the last heartbeat (not logged twice). */
  #stallLogged = false;
  #clock: Clock;
  #maxPayload: number;
  #log: Logger;
  #backend: Backend;
  /** The backend's generation this worker registered in (-1: not yet). */
  #registeredIn = -1;
  #opened: Promise<void> | undefined;
  #closed = false;
  /** This instance has registered once (a reconnection registers again, without checks). */
  #started = false;

  /** The running attempts and their outcomes not yet written. */
  #attempts: Attempts;
  #loop: Promise<void> | undefined;
  #stopRequested = false;
  #wake: (() => void) | undefined;
  /** Something happened while nobody was waiting. */
  #woken = false;
  #heartbeat: TimerId | undefined;
  #watchEnabled: boolean;
  #watchMs: number;
  /** Stops the backend's watch for other processes' commits, while idle. */
  #unwatch: (() => void) | undefined;
  /** The loop is waiting for work with a free slot: a commit elsewhere should wake it. */
  #idle = false;
  #graceTimer: TimerId | undefined;
  /** Its event listeners (a failing one is logged). */
  #events: Listeners = new Listeners(
    this,
    (message) => this.#log("error", `worker ${this.id}: ${message}`),
  );
  /** The next look for running jobs cancelled meanwhile. */
  #cancelTimer: TimerId | undefined;
  /** Stops the backend's notifications of cancels (while jobs run). */
  #unwatchEnds: (() => void) | undefined;
  /** A look for cancelled jobs is under way; another was asked for meanwhile. */
  #cancelLook: "idle" | "looking" | "again" = "idle";
  /** The steps and lease renewals in flight (a look for cancels waits for them). */
  #inFlight = new Set<Promise<unknown>>();
  /** The look for cancels in flight (a step waits for it). */
  #look: Promise<number[]> | undefined;
  /** Whether this worker prunes ended jobs past their retention, and how often (ms). */
  #prune: boolean;
  #pruneMs: number;
  /** The next round of pruning. */
  #pruneTimer: TimerId | undefined;
  /** The round of pruning under way. */
  #pruning: Promise<void> | undefined;
  /** Fires the due slots of its tasks' schedules while the loop runs. */
  #scheduler: Scheduler | undefined;
  /** Spans and metrics (the telemetry module loads as the worker opens). */
  #telemetry: boolean;
  /** Stops reporting `gigq.queue.depth` (while the loop runs, telemetry on). */
  #stopDepth: (() => void) | undefined;

  /**
   * Prepares a worker for the queue in `path`. Nothing runs until
   * {@linkcode Worker.start} or {@linkcode Worker.processOne}.
   *
   * @param path the database file
   * @param options tasks, concurrency, timing and driver
   */
  constructor(path: string, options: WorkerOptions) {
    super();
    const context = "Cannot create worker";
    knownKeys(context, options ?? {}, WORKER_OPTION_KEYS);
    const spec = backendSpec(path, {
      driver: options?.driver,
      synchronous: options?.synchronous,
      busyTimeout: options?.busyTimeout,
    });
    this.path = backendLabel(spec);
    const tasks = options?.tasks ?? [];
    if (!Array.isArray(tasks)) {
      throw new TypeError(`${context}: tasks must be an array of tasks, got ${describe(tasks)}`);
    }
    for (const [i, t] of tasks.entries()) {
      if (!isTask(t)) {
        throw new TypeError(
          `${context}: tasks[${i}] must be a task made by task(), got ${describe(t)}`,
        );
      }
      const existing = this.#tasks.get(t.name);
      if (existing !== undefined && existing !== t) {
        throw new RangeError(
          `${context}: two different tasks are named ${JSON.stringify(t.name)}; task names ` +
            `must be unique`,
        );
      }
      this.#tasks.set(t.name, t);
    }
    const checked = checkWorkerOptions(context, options);
    this.concurrency = checked.concurrency;
    this.#pollMs = checked.pollMs;
    this.#leaseMs = checked.leaseMs;
    this.#graceMs = checked.graceMs;
    this.#maxPayload = checked.maxPayload;
    this.#watchEnabled = checked.watch;
    this.#log = checked.logger ?? defaultLogger;
    this.#prune = checked.prune;
    this.#pruneMs = checked.pruneMs;
    this.id = options.workerId === undefined
      ? `worker-${crypto.randomUUID()}`
      : text(context, "workerId", options.workerId, { max: 200, allowEmpty: false });
    this.#clock = options.clock ?? systemClock;
    this.#watchMs = 1000 * seconds(context, "watchInterval", options.watchInterval ?? 0.05, {
      min: 0,
      max: 3600,
      minExclusive: true,
    });
    this.#attempts = new Attempts({
      tasks: this.#tasks,
      clock: this.#clock,
      leaseMs: this.#leaseMs,
      graceMs: this.#graceMs,
      maxPayload: this.#maxPayload,
      log: this.#log,
      // The default logger drops info and debug lines: then they are not even built.
      attemptLines: (options as { [ATTEMPT_LINES]?: boolean })[ATTEMPT_LINES] ??
        this.#log !== defaultLogger,
      changed: () => this.#signal(),
      onStall: (ms, entry) => this.#stalled(ms, entry),
      writeProgress: (job) => this.#writeProgress(job),
      onCancel: (options as {
        [ON_CANCEL]?: (job: Claimed, phase: "noticed" | "settled") => void;
      })[ON_CANCEL],
    });
    this.#telemetry = checkTelemetry(context, options.telemetry);
    const owner = (options as { [LEASE_OWNER]?: string })[LEASE_OWNER];
    this.#claimer = {
      workerId: this.id,
      owner: typeof owner === "string" ? owner : crypto.randomUUID(),
      tasks: Object.freeze([...this.#tasks.keys()]),
      queues: checked.queues,
      leaseMs: this.#leaseMs,
      graceMs: this.#graceMs + LEASE_MARGIN_MS,
      traced: false,
    };
    this.#backend = openBackend(spec);
  }

  /**
   * Listens to this worker's lifecycle events (see
   * {@linkcode WorkerEventMap}): `"claimed"`, `"completed"`, `"retry"`,
   * `"failed"`, `"timeout"`, each a `CustomEvent` whose `detail` says which
   * job and attempt. A listener that throws (or returns a promise that
   * rejects) is logged at `error` through the worker's logger; the loop goes
   * on. Listeners run on the worker loop: keep them short. Details are built
   * only for types that have had a listener.
   *
   * @example Log every job that ends for good
   * ```ts ignore
   * worker.addEventListener("completed", (e) => console.log(`${e.detail.id}: done`));
   * worker.addEventListener("failed", (e) => console.error(`${e.detail.id}: ${e.detail.error}`));
   * ```
   *
   * @param type the event type
   * @param listener called with the event
   * @param options as for `EventTarget.addEventListener` (`once`, `signal`, …)
   */
  override addEventListener<K extends WorkerEventType>(
    type: K,
    listener:
      | ((this: Worker, event: WorkerEventMap[K]) => unknown)
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
   * Removes a listener added with {@linkcode Worker.addEventListener}.
   *
   * @example
   * ```ts ignore
   * const onClaim = (e: WorkerEventMap["claimed"]) => console.log(e.detail.id);
   * worker.addEventListener("claimed", onClaim);
   * worker.removeEventListener("claimed", onClaim);
   * ```
   *
   * @param type the event type
   * @param listener the listener as it was added
   * @param options its `capture`, as it was added
   */
  override removeEventListener<K extends WorkerEventType>(
    type: K,
    listener:
      | ((this: Worker, event: WorkerEventMap[K]) => unknown)
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

  /** Writes a running job's progress; a failed write only loses that report (the outcome writes the last). */
  #writeProgress(job: Claimed): void {
    const progress = job.progress;
    if (progress === undefined || this.#closed) return;
    this.#backend.setProgress({ rows: [{ seq: job.seq, run: job.run, progress }] }).catch(
      (error) =>
        this.#log(
          "debug",
          `worker ${this.id}: could not record the progress of job ${job.id}: ${
            (error as Error)?.message ?? error
          }`,
        ),
    );
  }

  /** Counters since this worker was created. */
  get counts(): WorkerCounts {
    return this.#attempts.counts;
  }

  /** True while {@linkcode Worker.start}'s loop runs. */
  get running(): boolean {
    return this.#loop !== undefined;
  }

  /** The names of the tasks this worker runs. */
  get taskNames(): string[] {
    return [...this.#tasks.keys()];
  }

  /** The backend, open, with this worker registered in its current generation. */
  async #ready(): Promise<Backend> {
    if (this.#closed) throw new QueueClosedError(this.path, "worker");
    const backend = this.#backend;
    try {
      await (this.#opened ??= this.#telemetry
        ? Promise.all([
          backend.open({ log: this.#log }),
          loadTelemetry().then((t) => {
            this.#attempts.telemetry = t;
            this.#claimer.traced = true;
          }),
        ]).then(() => {})
        : backend.open({ log: this.#log }));
    } catch (error) {
      this.#opened = undefined;
      throw error;
    }
    if (this.#registeredIn !== backend.generation) {
      const first = !this.#started;
      this.#started = true;
      const now = this.#clock.now();
      const other = await backend.registerWorker({
        workerId: this.id,
        tasks: this.#claimer.tasks,
        queues: this.#claimer.queues,
        concurrency: this.concurrency,
        now,
        previous: first,
      });
      if (other !== undefined && other.stoppedAt === null && now - other.seenAt < this.#leaseMs) {
        this.#log(
          "warn",
          `worker ${this.id}: another worker with this id was seen ${
            Math.round((now - other.seenAt) / 1000)
          } s ago (host ${other.host}, pid ${other.pid}) and has not stopped; worker ids must ` +
            `be unique among running workers (do not give replicas the same GIGQ_WORKER_ID). ` +
            `If that worker was killed, ignore this: its jobs come back when their leases expire`,
        );
      }
      this.#registeredIn = backend.generation;
    }
    return backend;
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake === undefined) this.#woken = true;
    else wake();
  }

  /** Waits until a handler settles, `ms` pass (clock time), or stop() is called. */
  #wait(ms: number | undefined): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let timer: TimerId | undefined;
      this.#wake = () => {
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) timer = this.#clock.setTimeout(() => this.#signal(), Math.max(0, ms));
    });
  }

  #armHeartbeat(): void {
    if (this.#heartbeat !== undefined) return;
    const every = this.#leaseMs / 3;
    this.#heartbeatDue = this.#clock.now() + every;
    this.#heartbeat = this.#clock.setTimeout(async () => {
      this.#heartbeat = undefined;
      if (this.#opened === undefined || this.#closed) return;
      if (this.#loop === undefined && this.#attempts.size === 0) return;
      const now = this.#clock.now();
      // Renewed last at #heartbeatDue - every: past that plus the lease, the
      // claims lapsed while this isolate could not run its timers.
      const blocked = now - (this.#heartbeatDue - every);
      if (blocked > this.#leaseMs && !this.#stallLogged) this.#stalled(blocked);
      this.#stallLogged = false;
      this.#checkFile();
      try {
        await this.#tracked(this.#backend.renewLeases({
          owner: this.#claimer.owner,
          workerId: this.id,
          now: this.#clock.now(),
          leaseMs: this.#leaseMs,
          graceMs: this.#claimer.graceMs,
        }));
      } catch (error) {
        this.#log(
          "error",
          `worker ${this.id}: could not renew leases: ${errorText(error).message}`,
        );
      }
      if (this.#loop !== undefined || this.#attempts.size > 0) this.#armHeartbeat();
    }, this.#leaseMs / 3);
  }

  /** Logs a blocked event loop that let this worker's leases lapse (`culprit`'s handler, if known). */
  #stalled(ms: number, culprit?: Running): void {
    this.#stallLogged = true;
    const jobs = (culprit === undefined ? this.#attempts.undecidedAttempts() : [culprit])
      .map((e) => `${e.job.id} (${e.job.name})`);
    this.#log(
      "error",
      `worker ${this.id}: its event loop was blocked for ${(ms / 1000).toFixed(1)} s, longer ` +
        `than its ${this.#leaseMs / 1000} s lease, so it could not renew its claims` +
        (jobs.length > 0 ? ` on job ${jobs.join(", ")}` : "") +
        `: another worker may have taken ${jobs.length === 1 ? "that job" : "those jobs"} and ` +
        `run ${jobs.length === 1 ? "it" : "them"} again. A synchronous (CPU-bound) handler ` +
        `blocks its isolate: run such tasks in a WorkerPool (gigq worker does), let the handler ` +
        `await now and then, or raise the lease`,
    );
  }

  /** Notices the database file being deleted or replaced under this worker. */
  #checkFile(): void {
    if (this.#reopen || this.#opened === undefined) return;
    const state = this.#backend.storageState();
    if (state === "same") return;
    const advice = "never delete, move or copy over a live queue file; to copy one, use " +
      "gigq backup";
    if (state === "deleted") {
      // Deleted: jobs submitted from now on create a new file; reopen then.
      if (!this.#missingLogged) {
        this.#missingLogged = true;
        this.#log(
          "error",
          `worker ${this.id}: the database file ${this.path} was deleted while in use; it ` +
            `will use a new file at that path once one appears (${advice})`,
        );
      }
      return;
    }
    this.#log(
      "error",
      `worker ${this.id}: the database file ${this.path} was replaced while in use; ` +
        `reopening it once the jobs in flight are recorded in the old one (${advice})`,
    );
    this.#reopen = true;
    this.#signal();
  }

  /**
   * While attempts run: looks every {@linkcode CANCEL_CHECK_MS} (and at
   * each notification of a cancel, where the backend sends them) for jobs
   * cancelled while they run, and aborts their handlers.
   */
  #armCancelCheck(): void {
    if (this.#closed || this.#attempts.undecided === 0) return;
    this.#unwatchEnds ??= this.#backend.watchEnds({
      wake: () => void this.#lookForCancels(),
      debug: (message) => this.#log("debug", `worker ${this.id}: ${message}`),
    });
    if (this.#cancelTimer !== undefined) return;
    this.#cancelTimer = this.#clock.setTimeout(() => {
      this.#cancelTimer = undefined;
      void this.#lookForCancels();
    }, CANCEL_CHECK_MS);
  }

  #clearCancelCheck(): void {
    if (this.#cancelTimer !== undefined) this.#clock.clearTimeout(this.#cancelTimer);
    this.#cancelTimer = undefined;
    const unwatch = this.#unwatchEnds;
    this.#unwatchEnds = undefined;
    unwatch?.();
  }

  /** Tracks `p` as in flight until it settles. */
  #tracked<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    const done = () => void this.#inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  async #lookForCancels(): Promise<void> {
    if (this.#cancelLook !== "idle") {
      this.#cancelLook = "again";
      return;
    }
    this.#cancelLook = "looking";
    try {
      do {
        // Behind the steps and renewals in flight, and steps wait for it: a
        // look needs no connection of its own (one opened while the network
        // is cut would only fail on connecting, and fail a step with it).
        while (this.#inFlight.size > 0) {
          await Promise.allSettled([...this.#inFlight]);
        }
        this.#cancelLook = "looking";
        const runs = this.#attempts.undecidedAttempts().map((e) => ({
          seq: e.job.seq,
          run: e.job.run,
        }));
        if (runs.length === 0 || this.#closed) break;
        const look = this.#look = this.#backend.cancelledRuns({ runs });
        let seqs: number[];
        try {
          seqs = await look;
        } finally {
          this.#look = undefined;
        }
        if (seqs.length > 0) this.#attempts.cancelled(new Set(seqs));
      } while ((this.#cancelLook as string) === "again");
    } catch (error) {
      this.#log(
        "warn",
        `worker ${this.id}: could not look for cancelled jobs: ${errorText(error).message}`,
      );
    } finally {
      this.#cancelLook = "idle";
    }
    if (this.#attempts.undecided > 0 && !this.#closed) this.#armCancelCheck();
    else this.#clearCancelCheck();
  }

  #clearHeartbeat(): void {
    if (this.#heartbeat !== undefined) this.#clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  /** Writes decided outcomes and claims up to `limit` jobs, in one transaction. */
  async #cycle(backend: Backend, limit: number): Promise<Claimed[]> {
    // Never beside a look for cancels: together they would need a connection more.
    while (this.#look !== undefined) await this.#look.catch(() => {});
    const outcomes = this.#attempts.take();
    let claimed: Claimed[];
    try {
      claimed = await this.#tracked(backend.step({
        claimer: this.#claimer,
        outcomes,
        limit,
        now: this.#clock.now(),
      }));
    } catch (error) {
      this.#attempts.giveBack(outcomes);
      throw error;
    }
    // Written: now listeners may hear of them (and of the claims, before their handlers run).
    if (this.#events.any) emitStep(this.#events, this.id, outcomes, claimed);
    return claimed;
  }

  /**
   * Claims one job, runs it to the end (or its timeout), records the outcome,
   * and resolves to true; resolves to false when no job is ready. Not
   * available while {@linkcode Worker.start} runs.
   *
   * @example Drain the queue from a script
   * ```ts ignore
   * while (await worker.processOne()) { }
   * ```
   */
  async processOne(): Promise<boolean> {
    if (this.#loop !== undefined) {
      throw new Error(`Cannot call processOne on worker ${this.id}: start() is running`);
    }
    const backend = await this.#ready();
    const [job] = await this.#cycle(backend, 1);
    if (job === undefined) return false;
    const entry = this.#attempts.run(job);
    if (!entry.decided) {
      this.#armHeartbeat();
      this.#armCancelCheck();
      await new Promise<void>((resolve) => entry.onDecided = resolve);
    }
    await this.#cycle(backend, 0);
    if (this.#attempts.undecided === 0) {
      this.#attempts.clearDeadline();
      this.#clearCancelCheck();
    }
    if (this.#attempts.size === 0) this.#clearHeartbeat();
    return true;
  }

  /**
   * Runs the worker loop until {@linkcode Worker.stop}: claims ready jobs
   * whenever a slot is free, polls every `pollInterval` seconds when idle
   * (sooner when a delayed job comes due). Resolves once stopped and drained:
   * every started handler has ended or timed out and its outcome is written.
   * Database errors are logged and retried, never fatal.
   *
   * @example
   * ```ts ignore
   * const done = worker.start();
   * // ...
   * worker.stop();
   * await done;
   * ```
   */
  start(): Promise<void> {
    if (this.#loop !== undefined) return this.#loop;
    if (this.#closed) return Promise.reject(new QueueClosedError(this.path, "worker"));
    this.#stopRequested = false;
    this.#loop = this.#runLoop().finally(() => {
      this.#loop = undefined;
      this.#idle = false;
      this.#attempts.clearDeadline();
      this.#clearHeartbeat();
      this.#clearCancelCheck();
      this.#stopWatcher();
      this.#stopScheduler();
      if (this.#graceTimer !== undefined) this.#clock.clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
    });
    return this.#loop;
  }

  /** Starts firing its tasks' schedules (on their own timers: the claim loop never waits for them). */
  #startScheduler(): void {
    this.#scheduler ??= new Scheduler({
      backend: () => this.#ready(),
      clock: this.#clock,
      tasks: this.#claimer.tasks,
      label: this.path,
      refreshMs: this.#pollMs,
      log: (level, message) => this.#log(level, `worker ${this.id}: ${message}`),
    });
    this.#scheduler.start();
  }

  #stopScheduler(): void {
    this.#scheduler?.stop();
    this.#scheduler = undefined;
  }

  async #runLoop(): Promise<void> {
    let backend = await this.#ready();
    // Opening may have taken long (a migration): let a stop signal that came
    // meanwhile be handled before anything is claimed.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (this.#stopRequested) {
      await this.#drain(backend);
      return;
    }
    const queues = this.#claimer.queues;
    this.#log(
      "info",
      `worker ${this.id} started (concurrency ${this.concurrency}, ${
        queues === undefined
          ? "every queue"
          : `queue${queues.length === 1 ? "" : "s"} ${
            queues.map((q) => JSON.stringify(q)).join(", ")
          }`
      })`,
    );
    this.#armHeartbeat();
    this.#armPrune();
    this.#startScheduler();
    if (this.#attempts.telemetry !== undefined) this.#reportDepth(this.#attempts.telemetry);
    const unsubscribe = backend.onLocalCommit(() => {
      if (this.#idle) this.#signal();
    });
    let failures = 0;
    while (!this.#stopRequested) {
      this.#woken = false;
      // A replaced file: claim nothing more from the old one, and reopen once
      // what runs from it is recorded there.
      let free = 0;
      let claimed: Claimed[];
      try {
        if (this.#reopen && this.#attempts.undecided === 0 && !this.#attempts.hasOutcomes) {
          this.#reopenFile();
        }
        free = this.#reopen ? 0 : this.concurrency - this.#attempts.size;
        if (this.#registeredIn !== backend.generation || this.#opened === undefined) {
          backend = await this.#ready();
        }
        claimed = await this.#cycle(backend, Math.min(free, MAX_BATCH));
        failures = 0;
      } catch (error) {
        failures++;
        this.#log("error", `worker ${this.id}: ${errorText(error).message}; retrying`);
        await this.#wait(Math.min(this.#pollMs, 100 * 2 ** Math.min(failures, 10)));
        continue;
      }
      for (const job of claimed) this.#attempts.run(job);
      if (claimed.length > 0) this.#armCancelCheck();
      if (this.#stopRequested) break;
      if (!this.#attempts.hasOutcomes) {
        if (this.#reopen) {
          if (this.#attempts.undecided > 0) await this.#wait(undefined);
        } else if (claimed.length < free) {
          // Nothing more is ready: sleep until a handler ends, another
          // process commits, the next delayed job or lease expiry is due, or
          // the poll interval passes.
          this.#idle = true;
          const ms = await this.#untilNextPoll(backend);
          this.#startWatcher();
          await this.#wait(ms);
          this.#stopWatcher();
          this.#idle = false;
          this.#checkFile();
        } else {
          // Every slot is busy: wait for a handler to end.
          await this.#wait(undefined);
        }
      }
      await yieldToEventLoop();
    }
    unsubscribe();
    this.#stopDepth?.();
    this.#stopDepth = undefined;
    await this.#stopPruning();
    await this.#drain(backend);
  }

  /**
   * Reports the pending jobs of the queues it serves as `gigq.queue.depth`,
   * read at most once per DEPTH_EVERY_MS whatever the export interval: a
   * bounded count per queue it names, or (serving every queue) the queue
   * list's counts.
   */
  #reportDepth(telemetry: Telemetry): void {
    const queues = this.#claimer.queues;
    this.#stopDepth = telemetry.depth(async () => {
      const backend = await this.#ready();
      const now = this.#clock.now();
      if (queues === undefined) {
        return (await backend.queueList({ now })).map((q) => [q.name, q.pending] as const);
      }
      const rows: (readonly [string, number])[] = [];
      for (const queue of queues) {
        const { count } = await backend.countJobs({
          status: "pending",
          queue,
          task: undefined,
          search: undefined,
          cap: 1_000_000,
          now,
        });
        rows.push([queue, count]);
      }
      return rows;
    }, DEPTH_EVERY_MS);
  }

  /**
   * Sets the next round of pruning, `pruneInterval` from now give or take
   * half of it (on the worker's clock), while the loop runs.
   */
  #armPrune(): void {
    if (!this.#prune || this.#pruneTimer !== undefined || this.#stopRequested || this.#closed) {
      return;
    }
    this.#pruneTimer = this.#clock.setTimeout(() => {
      this.#pruneTimer = undefined;
      this.#pruning = this.#pruneRound().finally(() => {
        this.#pruning = undefined;
        this.#armPrune();
      });
    }, this.#pruneMs * (0.5 + Math.random()));
  }

  /** Sets no more rounds of pruning, and waits for the one under way (the loop is stopping). */
  async #stopPruning(): Promise<void> {
    if (this.#pruneTimer !== undefined) this.#clock.clearTimeout(this.#pruneTimer);
    this.#pruneTimer = undefined;
    await this.#pruning;
  }

  /**
   * One round of pruning: batches of at most {@linkcode PRUNE_BATCH} jobs,
   * each its own short transaction, until the backend has looked at every
   * job old enough; the event loop runs between two batches, so the claim
   * loop never waits behind more than one. A failure is logged; the next
   * round tries again.
   */
  async #pruneRound(): Promise<void> {
    if (this.#reopen) return;
    let deleted = 0;
    try {
      const backend = await this.#ready();
      let after: number | undefined = 0;
      while (after !== undefined && !this.#stopRequested) {
        const began = performance.now();
        const batch = await backend.prune({ now: this.#clock.now(), limit: PRUNE_BATCH, after });
        deleted += batch.deleted;
        after = batch.next;
        if (after === undefined) break;
        // Real time, not the clock's: the pause leaves the database to others.
        const pause = Math.max(PRUNE_PAUSE_MS, PRUNE_PAUSE_FACTOR * (performance.now() - began));
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    } catch (error) {
      if (!this.#closed) {
        this.#log(
          "warn",
          `worker ${this.id}: could not prune ended jobs: ${
            errorText(error).message
          }; trying again in ${this.#pruneMs / 1000} s`,
        );
      }
    }
    this.#log(
      deleted > 0 ? "info" : "debug",
      `worker ${this.id}: pruned ${deleted} ended job${
        deleted === 1 ? "" : "s"
      } past their queue's retention`,
    );
  }

  /** Drops the connection to a replaced file; the loop opens the one now at the path. */
  #reopenFile(): void {
    this.#reopen = false;
    this.#missingLogged = false;
    this.#backend.reopen();
    this.#opened = undefined;
  }

  async #untilNextPoll(backend: Backend): Promise<number> {
    let ms = this.#pollMs;
    try {
      const next = await backend.nextWake({ now: this.#clock.now() });
      if (next !== undefined) ms = Math.min(ms, Math.max(0, next - this.#clock.now()));
    } catch {
      // A failed peek only means polling at the normal interval.
    }
    return ms;
  }

  /** While the loop is idle, lets the backend wake it for work committed elsewhere. */
  #startWatcher(): void {
    this.#unwatch = this.#backend.watch({
      tasks: this.#claimer.tasks,
      queues: this.#claimer.queues,
      now: () => this.#clock.now(),
      wake: () => {
        if (this.#idle) this.#signal();
      },
      debug: (message) => this.#log("debug", `worker ${this.id}: ${message}`),
      intervalMs: this.#watchMs,
      enabled: this.#watchEnabled,
    });
  }

  #stopWatcher(): void {
    const unwatch = this.#unwatch;
    this.#unwatch = undefined;
    unwatch?.();
  }

  async #drain(backend: Backend): Promise<void> {
    for (;;) {
      if (this.#attempts.undecided > 0) {
        await this.#wait(undefined);
        continue;
      }
      if (!this.#attempts.hasOutcomes) break;
      try {
        await this.#cycle(backend, 0);
      } catch (error) {
        this.#log("error", `worker ${this.id}: ${errorText(error).message}; retrying`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      await backend.workerStopped({ workerId: this.id, now: this.#clock.now() });
    } catch (error) {
      this.#log(
        "warn",
        `worker ${this.id}: could not record its stop: ${errorText(error).message}`,
      );
    }
    this.#log("info", `worker ${this.id} stopped`);
  }

  /**
   * Asks the loop to stop: no new claims; running handlers finish (or time
   * out) and their outcomes are written before `start()`'s promise resolves.
   * With `grace`, handlers still running after that many seconds have their
   * signal aborted and their jobs released back to pending (the interrupted
   * attempt is not counted); `grace: 0` releases them at once.
   *
   * @example Stop on SIGTERM, giving handlers 10 seconds
   * ```ts ignore
   * Deno.addSignalListener("SIGTERM", () => worker.stop({ grace: 10 }));
   * ```
   *
   * @param options how long to wait for running handlers
   */
  stop(options: StopOptions = {}): void {
    knownKeys("Cannot stop worker", options, ["grace"]);
    const grace = options.grace === undefined ? undefined : seconds(
      "Cannot stop worker",
      "grace",
      options.grace,
      { min: 0, max: MAX_TIMEOUT_SECONDS, minExclusive: false },
    );
    this.#stopRequested = true;
    this.#stopScheduler();
    if (grace !== undefined) {
      if (this.#graceTimer !== undefined) this.#clock.clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
      if (grace === 0) this.#releaseAll();
      else this.#graceTimer = this.#clock.setTimeout(() => this.#releaseAll(), grace * 1000);
    }
    this.#signal();
  }

  /** Interrupts every running handler and releases its job. */
  #releaseAll(): void {
    this.#graceTimer = undefined;
    this.#attempts.releaseAll(
      `Released: worker ${this.id} stopped before the attempt finished`,
    );
  }

  /**
   * Stops using the worker and releases its connection (closed unless a queue
   * or worker in this isolate still uses it). If the loop is running, its
   * running handlers are aborted and their jobs released to pending first
   * (like `stop({ grace: 0 })`), and the connection is released once that is
   * written. Safe to call twice.
   *
   * @example
   * ```ts ignore
   * await using worker = new Worker("jobs.db", { tasks: [greet] });
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#loop !== undefined) {
      // Running: release what is in flight and let the loop write that down
      // before the connection goes.
      this.stop({ grace: 0 });
      this.#loop.finally(() => this.#release());
    } else {
      this.#release();
    }
  }

  #release(): void {
    this.#stopScheduler();
    this.#clearHeartbeat();
    this.#clearCancelCheck();
    this.#stopWatcher();
    this.#attempts.clearDeadline();
    this.#backend.close();
  }

  /** Stops, waits for the loop to drain, then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stop();
    await this.#loop;
    this.close();
  }
}
