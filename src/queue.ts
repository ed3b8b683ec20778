/**
 * {@linkcode JobQueue}: submit jobs and ask about them.
 *
 * @module
 */
import { resolve } from "node:path";
import { DEFAULT_MAX_PAYLOAD_BYTES, toJson } from "./_json.ts";
import {
  type ActivityMinute,
  activityMinutes,
  type JobCount,
  type JobDetails,
  type JobInfo,
  type QueueInfo,
  type QueueStats,
  type WorkerInfo,
} from "./job_info.ts";
import type { JsonValue } from "./_json.ts";
import type { Backend, BulkFilter, JobFilter, PreparedJob } from "./_backend.ts";
import { backendLabel, backendSpec, openBackend } from "./_open_backend.ts";
import { registerQueue } from "./_queue_backend.ts";
import { instant, integer, knownKeys, oneOf, queueName, text } from "./_validate.ts";
import { type Clock, systemClock } from "./clock.ts";
import { JobNotFoundError, QueueClosedError, WaitTimeoutError } from "./errors.ts";
import { hasGivenId, Job } from "./job.ts";
import { describe, type JobStatus, parseJobStatus, quote } from "./job_status.ts";
import type { Connection, ConnectionOptions } from "./_open_backend.ts";
import { applyConfig, NO_SETTINGS, type QueueConfig, type QueueSettings } from "./queue_config.ts";
import { mergeSchedule, prepareSchedule, slotJobs, toScheduleInfo } from "./_schedule_plan.ts";
import { scheduleChanged } from "./_scheduler.ts";
import { checkTelemetry, loadedTelemetry, loadTelemetry } from "./_telemetry.ts";
import type { ScheduleInfo, ScheduleOptions } from "./schedule.ts";

/** Options for {@linkcode JobQueue}. */
export interface JobQueueOptions extends ConnectionOptions {
  /**
   * The source of time (tests inject one to move time instead of sleeping).
   *
   * @default {systemClock}
   */
  clock?: Clock;
  /**
   * The largest params JSON a job may carry, in UTF-8 bytes. (Params may
   * also nest at most 1,000 arrays or objects deep, and their strings and
   * keys must be well-formed Unicode.)
   *
   * @default {1048576}
   */
  maxPayloadBytes?: number;
  /**
   * Whether to create the queue where there is none: the database file, or
   * GigQ's tables in it. `false` is for tools that only look at a queue or
   * change its jobs: where there is no queue (no file, an empty one, or a
   * database without GigQ's tables) the constructor throws a
   * {@linkcode NoQueueError} and nothing is created or changed — an empty or
   * foreign file is not even switched to WAL mode. (A `file:` URI should
   * carry `mode=rw` for SQLite itself to refuse a missing file.) On
   * PostgreSQL, where opening waits for the server, the first operation
   * rejects with it instead, and no schema or table is created.
   *
   * @default {true}
   */
  create?: boolean;
  /**
   * With `create: false`: where the queue's directory (or file system) is
   * read-only, so that SQLite cannot create the `-wal` and `-shm` files WAL
   * mode needs, read the file as it is on disk instead of failing, when that
   * is safe: its WAL is missing or empty, so every commit is in the file and
   * no process can be writing to it. {@linkcode JobQueue.readOnly} then says
   * so, and writes fail. A WAL that holds commits is a
   * {@linkcode ReadOnlyQueueError}, and so is the `node` driver without
   * every permission (`--allow-all`), which Deno's `node:sqlite` needs for
   * such a read.
   *
   * @default {false}
   */
  readOnlyFallback?: boolean;
  /**
   * OpenTelemetry: a `gigq.submit` span (kind PRODUCER) for each submit
   * call, its trace context stored on the jobs so that each attempt's span
   * links to it (see the README's "OpenTelemetry"). Turning it on loads
   * `npm:@opentelemetry/api@1` (on first use); off, submits pay nothing for
   * it. Spans go where the global tracer provider sends them: with Deno's
   * built-in OpenTelemetry (`OTEL_DENO=true`), to its OTLP exporter.
   *
   * @default {true when the environment has OTEL_DENO=true (read only with env access granted), else false}
   */
  telemetry?: boolean;
}

/**
 * What a {@linkcode JobQueue.transaction} function gets: the connection its
 * statements run on, and submits that commit (or roll back) with them.
 */
export interface QueueTransaction {
  /** The SQLite connection, inside the open transaction: run the application's statements on it. */
  readonly connection: Connection;
  /** Adds a job in this transaction; returns its id. */
  submit(job: Job): string;
  /** Adds jobs in this transaction (ordered so dependencies come first); returns their ids in the order given. */
  submitMany(jobs: Iterable<Job>): string[];
}

/**
 * Which jobs {@linkcode JobQueue.countJobs} counts (and, with a limit and a
 * cursor, {@linkcode JobQueue.listJobs} lists): every filter given must
 * match.
 *
 * @example
 * ```ts ignore
 * const filter: CountOptions = { queue: "emails", status: "failed", search: "ada@example.com" };
 * const { count } = await queue.countJobs(filter);
 * ```
 */
export interface JobFilterOptions {
  /**
   * Only jobs with this status.
   *
   * @default {every status}
   */
  status?: JobStatus;
  /**
   * Only jobs of this named queue.
   *
   * @default {every queue}
   */
  queue?: string;
  /**
   * Only jobs of this task name (exactly, as {@linkcode JobInfo.task}).
   *
   * @default {every task}
   */
  task?: string;
  /**
   * Only the job with this id, and the jobs whose params JSON (as stored:
   * what `JSON.stringify` made of them, without spaces) contains this text:
   * case-sensitive, every character literal (no wildcards: `%`, `_`, `*`
   * and `?` are themselves). For example `"user":42` or `ada@example.com`. Finding text
   * in params reads every job the other filters leave (no index holds
   * params).
   *
   * @default {no search}
   */
  search?: string;
}

/** Options for {@linkcode JobQueue.listJobs}. */
export interface ListOptions extends JobFilterOptions {
  /**
   * At most this many jobs.
   *
   * @default {100}
   */
  limit?: number;
  /**
   * A cursor: only jobs submitted before the job with this id (pass the
   * last job of a page to get the next page). An id no job has is a
   * {@linkcode JobNotFoundError}.
   *
   * @default {from the newest job}
   */
  before?: string;
}

/** Options for {@linkcode JobQueue.countJobs}. */
export interface CountOptions extends JobFilterOptions {
  /**
   * Stop counting past this many jobs (the count is then `cap`, and
   * `exact` false): a count stays fast however many jobs match.
   *
   * @default {10000}
   */
  cap?: number;
}

/** Options for {@linkcode JobQueue.workers}. */
export interface WorkersOptions {
  /**
   * Also list workers that stopped (the last 100 to stop).
   *
   * @default {false}
   */
  stopped?: boolean;
}

/** Options for {@linkcode JobQueue.activity}. */
export interface ActivityOptions {
  /**
   * How many minutes, ending with the current one: 1 to 1440.
   *
   * @default {60}
   */
  minutes?: number;
  /**
   * Only jobs of this named queue.
   *
   * @default {every queue}
   */
  queue?: string;
}

/** The default cap of {@linkcode JobQueue.countJobs}. */
const DEFAULT_COUNT_CAP = 10_000;
/** The longest search text, and job id a cursor may be. */
const MAX_SEARCH = 1000;

/** Options for {@linkcode JobQueue.stats}. */
export interface StatsOptions {
  /**
   * Only jobs of this named queue.
   *
   * @default {every queue}
   */
  queue?: string;
}

/** What {@linkcode JobQueue.trySubmit} did with a job. */
export interface SubmitResult {
  /** The job's id — or, if it was not inserted, the id of the job that holds its unique key. */
  id: string;
  /** False when a pending or running job of its queue held its `uniqueKey`: nothing was added. */
  inserted: boolean;
}

/**
 * Which jobs {@linkcode JobQueue.requeueMany} puts back: at least one of
 * the fields must be given.
 */
export interface RequeueManyFilter {
  /**
   * Only jobs that ended this way.
   *
   * @default {"failed" and "timeout" (cancelled jobs were cancelled on purpose)}
   */
  status?: "failed" | "timeout" | "cancelled";
  /**
   * Only jobs of this named queue.
   *
   * @default {every queue}
   */
  queue?: string;
  /**
   * Only jobs of this name (exact match).
   *
   * @default {every name}
   */
  name?: string;
  /**
   * Only jobs of this task (exact match).
   *
   * @default {every task}
   */
  task?: string;
}

/**
 * Which jobs {@linkcode JobQueue.cancelMany} cancels: at least one of the
 * fields must be given.
 */
export interface CancelManyFilter {
  /**
   * Only jobs in this state.
   *
   * @default {"pending" and "running"}
   */
  status?: "pending" | "running";
  /**
   * Only jobs of this named queue.
   *
   * @default {every queue}
   */
  queue?: string;
  /**
   * Only jobs of this name (exact match).
   *
   * @default {every name}
   */
  name?: string;
  /**
   * Only jobs of this task (exact match).
   *
   * @default {every task}
   */
  task?: string;
}

/** Options for {@linkcode JobQueue.waitFor}. */
export interface WaitOptions {
  /**
   * Seconds to wait at most (`Infinity`: no limit). Past it, the wait
   * rejects with a {@linkcode WaitTimeoutError}; the job is left as it is.
   *
   * @default {Infinity}
   */
  timeout?: number;
}

/** Statuses a job ends in. */
const ENDED: ReadonlySet<string> = new Set(["completed", "failed", "timeout", "cancelled"]);

/**
 * How often a wait reads its job even without a wake-up (a notification
 * lost, a WAL that cannot be watched), in milliseconds.
 */
const WAIT_POLL_MS = 1000;

/** The longest wait, in seconds, short of none (a timer cannot be set for longer). */
const MAX_WAIT_SECONDS = 2_000_000;

/** Validates a bulk filter: known keys, at least one given, each of the right kind. */
function bulkFilter(
  context: string,
  filter: unknown,
  statuses: readonly JobStatus[],
  defaults: readonly JobStatus[],
): BulkFilter {
  const keys = ["status", "queue", "name", "task"];
  if (filter === undefined || filter === null || typeof filter !== "object") {
    throw new TypeError(
      `${context}: give a filter object with at least one of status, queue, name or task, got ${
        describe(filter)
      }`,
    );
  }
  knownKeys(context, filter, keys);
  const f = filter as { status?: unknown; queue?: unknown; name?: unknown; task?: unknown };
  if (keys.every((k) => (f as Record<string, unknown>)[k] === undefined)) {
    throw new TypeError(
      `${context}: give at least one filter (status, queue, name or task), got an empty filter; ` +
        `nothing was changed`,
    );
  }
  const status = f.status === undefined ? undefined : oneOf(context, "status", f.status, statuses);
  const queue = f.queue === undefined ? undefined : queueName(context, "queue", f.queue);
  if (f.name !== undefined && typeof f.name !== "string") {
    throw new TypeError(`${context}: name must be a job name (a string), got ${describe(f.name)}`);
  }
  if (f.task !== undefined && typeof f.task !== "string") {
    throw new TypeError(`${context}: task must be a task name (a string), got ${describe(f.task)}`);
  }
  return {
    statuses: status === undefined ? defaults : [status],
    queue,
    name: f.name as string | undefined,
    task: f.task as string | undefined,
  };
}

/** Options for {@linkcode JobQueue.clearCompleted}. */
export interface ClearOptions {
  /**
   * Only jobs that ended before this time (a Date, ISO string or epoch ms).
   *
   * @default {no limit}
   */
  before?: Date | string | number;
}

const QUEUE_OPTION_KEYS = [
  "driver",
  "synchronous",
  "busyTimeout",
  "clock",
  "maxPayloadBytes",
  "create",
  "readOnlyFallback",
  "telemetry",
] as const;

/** The error for a Job that a batch holds twice. */
function twiceInBatch(job: Job): RangeError {
  return new RangeError(
    `Cannot submit job ${quote(job.name)}: the same Job (id ${job.id}) appears ` +
      `twice in the batch`,
  );
}

/** Orders jobs parents-first; refuses duplicates and cycles within the batch. */
function orderBatch(jobs: readonly Job[]): readonly Job[] {
  // A made id belongs to one Job object, so the objects tell a Job given
  // twice; hashing every id instead cost submitMany 0.8 µs a job. Ids given
  // to jobs (withJobId) are compared as ids.
  const seen = new Set<Job>();
  let given: Set<string> | undefined;
  let withDependencies = false;
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    if (!(job instanceof Job)) {
      throw new TypeError(
        `Cannot submit: jobs[${i}] must be a Job (new Job({...}) or task.toJob()), got ${
          describe(job)
        }`,
      );
    }
    if (seen.has(job)) throw twiceInBatch(job);
    seen.add(job);
    if (hasGivenId(job)) {
      given ??= new Set();
      if (given.has(job.id)) throw twiceInBatch(job);
      given.add(job.id);
    }
    if (job.dependencies.length > 0) withDependencies = true;
  }
  if (!withDependencies) return jobs;
  const byId = new Map<string, Job>();
  for (const job of jobs) {
    if (byId.has(job.id)) throw twiceInBatch(job);
    byId.set(job.id, job);
  }
  if (!jobs.some((j) => j.dependencies.some((d) => byId.has(d)))) return jobs;
  const ordered: Job[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (job: Job, path: Job[]): void => {
    const s = state.get(job.id);
    if (s === "done") return;
    if (s === "visiting") {
      const cycle = [...path.slice(path.indexOf(job)), job].map((j) => quote(j.name));
      throw new RangeError(`Cannot submit: the dependencies form a cycle: ${cycle.join(" → ")}`);
    }
    state.set(job.id, "visiting");
    for (const dep of job.dependencies) {
      const parent = byId.get(dep);
      if (parent !== undefined) visit(parent, [...path, job]);
    }
    state.set(job.id, "done");
    ordered.push(job);
  };
  for (const job of jobs) visit(job, []);
  return ordered;
}

/**
 * Submits jobs to a queue file and answers questions about them. Cheap to
 * create: it uses this isolate's shared connection to the file.
 *
 * @example Submit a job and read its result
 * ```ts ignore
 * import { JobQueue, task, Worker } from "@gigq/gigq";
 *
 * const double = task("double", (p: { n: number }) => p.n * 2);
 * const queue = new JobQueue("jobs.db");
 * const id = await double.submit(queue, { n: 21 });
 * await new Worker("jobs.db", { tasks: [double] }).processOne();
 * console.log(await queue.getResult(id)); // 42
 * queue.close();
 * ```
 */
export class JobQueue implements Disposable {
  /** The database path (absolute). */
  readonly path: string;
  #options: ConnectionOptions;
  #clock: Clock;
  #maxPayload: number;
  #backend: Backend;
  #opened: Promise<void> | undefined;
  #closed = false;
  /** Submits are traced (the telemetry module loads with the backend). */
  #telemetry: boolean;

  /**
   * Opens (and on first use creates, unless `create` is false) the queue in `path`.
   *
   * @example Open only a queue that exists
   * ```ts ignore
   * const queue = new JobQueue("jobs.db", { create: false }); // NoQueueError if there is none
   * ```
   *
   * @param path the database file, or `":memory:"` (private to this isolate)
   * @param options driver, pragmas, clock, payload limit, and whether to create the queue
   */
  constructor(path: string, options: JobQueueOptions = {}) {
    knownKeys("Cannot open queue", options, QUEUE_OPTION_KEYS);
    const create = options.create ?? true;
    const readOnlyFallback = options.readOnlyFallback ?? false;
    for (const [name, value] of [["create", create], ["readOnlyFallback", readOnlyFallback]]) {
      if (typeof value !== "boolean") {
        throw new TypeError(`Cannot open queue: ${name} must be a boolean, got ${describe(value)}`);
      }
    }
    if (readOnlyFallback && create) {
      throw new RangeError(
        "Cannot open queue: readOnlyFallback needs create: false (a queue read as it is on " +
          "disk cannot be created), got create: true",
      );
    }
    this.#options = {
      driver: options.driver,
      synchronous: options.synchronous,
      busyTimeout: options.busyTimeout,
    };
    const spec = backendSpec(path, this.#options);
    this.path = backendLabel(spec);
    this.#clock = options.clock ?? systemClock;
    this.#maxPayload = integer(
      "Cannot open queue",
      "maxPayloadBytes",
      options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      2,
      1_073_741_824,
    );
    this.#telemetry = checkTelemetry("Cannot open queue", options.telemetry);
    this.#backend = openBackend(spec, {
      create: create as boolean,
      readOnlyFallback: readOnlyFallback as boolean,
    });
    registerQueue(this, {
      backend: () => this.#ready(),
      now: () => this.#clock.now(),
      clock: this.#clock,
      prepare: (jobs) => this.#prepare(this.#list(jobs)),
      telemetry: this.#telemetry,
    });
  }

  /** The driver this queue's connection uses. */
  get driver(): "node" | "ffi" {
    return this.#options.driver ?? "node";
  }

  /**
   * True when the queue reads its file as it is on disk, read-only, because
   * its directory is read-only (see {@linkcode JobQueueOptions.readOnlyFallback}):
   * reads work, writes fail.
   *
   * @example
   * ```ts ignore
   * const queue = new JobQueue(path, { create: false, readOnlyFallback: true });
   * if (queue.readOnly) console.error(`note: reading ${path} as it is on disk`);
   * ```
   */
  get readOnly(): boolean {
    return this.#backend.readOnly;
  }

  /** The backend, open (its schema made) before first use. */
  async #ready(): Promise<Backend> {
    if (this.#closed) throw new QueueClosedError(this.path);
    try {
      await (this.#opened ??= this.#telemetry
        ? Promise.all([this.#backend.open({}), loadTelemetry()]).then(() => {})
        : this.#backend.open({}));
    } catch (error) {
      this.#opened = undefined;
      throw error;
    }
    return this.#backend;
  }

  /** Runs a submit of `jobs` in a `gigq.submit` span (telemetry on); `fn` gets its trace context. */
  async #traced<T>(jobs: readonly Job[], fn: (tc: string | undefined) => Promise<T>): Promise<T> {
    const telemetry = await loadTelemetry();
    return await telemetry.submit(jobs, fn);
  }

  #list(jobs: Iterable<Job>): Job[] {
    if (jobs === null || typeof (jobs as Iterable<Job>)?.[Symbol.iterator] !== "function") {
      throw new TypeError(`Cannot submit: expected an iterable of jobs, got ${describe(jobs)}`);
    }
    return [...jobs];
  }

  #prepare(jobs: readonly Job[]): PreparedJob[] {
    return orderBatch(jobs).map((job) => ({
      job,
      params: toJson(
        job.params,
        "params",
        () => `Cannot submit job ${quote(job.name)}`,
        this.#maxPayload,
      ),
    }));
  }

  /**
   * Submits one job; resolves to its id. Its params must be JSON (a
   * `TypeError` names the bad key), and each dependency must already exist.
   *
   * @example
   * ```ts ignore
   * const id = await queue.submit(new Job({ task: "greet", params: { name: "Bob" } }));
   * ```
   *
   * @param job the job to submit
   */
  async submit(job: Job): Promise<string> {
    return (await this.trySubmit(job)).id;
  }

  /**
   * Submits one job, saying whether it was added: a job with a
   * {@linkcode JobInit.uniqueKey} that a pending or running job of its
   * queue holds is not, and `id` is then that job's.
   *
   * @example Submit once per invoice, however many times it is asked
   * ```ts ignore
   * const { id, inserted } = await queue.trySubmit(
   *   new Job({ task: "invoice", params: { n: 42 }, uniqueKey: "invoice:42" }),
   * );
   * if (!inserted) console.log(`already queued as ${id}`);
   * ```
   *
   * @param job the job to submit
   */
  trySubmit(job: Job): Promise<SubmitResult> {
    return this.#telemetry
      ? this.#traced([job], (tc) => this.#trySubmit(job, tc))
      : this.#trySubmit(job, undefined);
  }

  async #trySubmit(job: Job, traceContext: string | undefined): Promise<SubmitResult> {
    const prepared = this.#prepare([job]);
    const backend = await this.#ready();
    const [id] = await backend.insertJobs({
      jobs: prepared,
      now: this.#clock.now(),
      traceContext,
    });
    const inserted = id === job.id;
    if (inserted) backend.notifyLocalCommit();
    return { id, inserted };
  }

  /**
   * Submits many jobs in one transaction: all or none. Jobs may depend on
   * jobs earlier or later in the same batch (not in a cycle). Resolves to
   * their ids, in the order given.
   *
   * @example
   * ```ts ignore
   * const ids = await queue.submitMany(files.map((file) => resize.toJob({ file })));
   * ```
   *
   * @param jobs the jobs to submit
   */
  async submitMany(jobs: Iterable<Job>): Promise<string[]> {
    return (await this.trySubmitMany(jobs)).map((r) => r.id);
  }

  /**
   * {@linkcode JobQueue.submitMany}, saying of each job whether it was
   * added (see {@linkcode JobQueue.trySubmit}); in the order given. A job
   * of the batch that depends on one left out depends on the job holding
   * that one's key.
   *
   * @example
   * ```ts ignore
   * const results = await queue.trySubmitMany(jobs);
   * console.log(`${results.filter((r) => r.inserted).length} new`);
   * ```
   *
   * @param jobs the jobs to submit
   */
  async trySubmitMany(jobs: Iterable<Job>): Promise<SubmitResult[]> {
    const list = this.#list(jobs);
    return await (this.#telemetry
      ? this.#traced(list, (tc) => this.#trySubmitMany(list, tc))
      : this.#trySubmitMany(list, undefined));
  }

  async #trySubmitMany(
    list: readonly Job[],
    traceContext: string | undefined,
  ): Promise<SubmitResult[]> {
    const prepared = this.#prepare(list);
    if (prepared.length === 0) return [];
    const backend = await this.#ready();
    const ids = await backend.insertJobs({ jobs: prepared, now: this.#clock.now(), traceContext });
    // The backend answers in the batch's order (parents first), mostly the order given.
    let results: SubmitResult[];
    if (prepared.every((p, i) => p.job === list[i])) {
      results = list.map((j, i) => ({ id: ids[i], inserted: ids[i] === j.id }));
    } else {
      const byJob = new Map(prepared.map((p, i) => [p.job.id, ids[i]]));
      results = list.map((j) => {
        const id = byJob.get(j.id)!;
        return { id, inserted: id === j.id };
      });
    }
    if (results.some((r) => r.inserted)) backend.notifyLocalCommit();
    return results;
  }

  /**
   * The job with its attempts, or `undefined` for an unknown id.
   *
   * @example
   * ```ts ignore
   * const job = await queue.getStatus(id);
   * console.log(job?.status, job?.attempts, job?.executions.length);
   * ```
   *
   * @param id the job id
   */
  async getStatus(id: string): Promise<JobDetails | undefined> {
    checkId(id);
    return await (await this.#ready()).getJob({ id, now: this.#clock.now() });
  }

  /**
   * The job's result: its handler's return value once it has completed,
   * `undefined` before that (or if it ended another way). Throws
   * {@linkcode JobNotFoundError} for an unknown id.
   *
   * @example
   * ```ts ignore
   * const result = await queue.getResult(id);
   * ```
   *
   * @param id the job id
   */
  async getResult(id: string): Promise<JsonValue | undefined> {
    const job = await this.getStatus(id);
    if (job === undefined) throw new JobNotFoundError(id);
    return job.status === "completed" ? job.result : undefined;
  }

  /**
   * Jobs, newest first (in the order they were submitted, reversed), at
   * most `limit`, matching every filter given (see
   * {@linkcode JobFilterOptions}). Page through them with `before`, the id
   * of the last job of the previous page: each job comes once, in order,
   * even while new jobs arrive. An unknown status is a `RangeError`; a
   * `before` no job has, a {@linkcode JobNotFoundError}.
   *
   * @example
   * ```ts ignore
   * for (const job of await queue.listJobs({ status: "failed", limit: 10 })) {
   *   console.log(job.id, job.error);
   * }
   * // Every job of queue "emails" for user 42, a page at a time:
   * const filter = { queue: "emails", search: '"user":42' };
   * let page = await queue.listJobs({ ...filter, limit: 100 });
   * while (page.length > 0) {
   *   for (const job of page) console.log(job.id, job.status);
   *   page = await queue.listJobs({ ...filter, limit: 100, before: page.at(-1)!.id });
   * }
   * ```
   *
   * @param options filters, limit and cursor
   */
  async listJobs(options: ListOptions = {}): Promise<JobInfo[]> {
    const context = "Cannot list jobs";
    knownKeys(context, options, ["status", "limit", "queue", "task", "search", "before"]);
    const filter = jobFilter(context, options);
    const limit = integer(context, "limit", options.limit ?? 100, 0, 1_000_000_000);
    const before = options.before === undefined
      ? undefined
      : text(context, "before", options.before, { max: MAX_SEARCH, allowEmpty: false });
    return await (await this.#ready()).listJobs({
      ...filter,
      limit,
      before,
      now: this.#clock.now(),
    });
  }

  /**
   * How many jobs match every filter given (see
   * {@linkcode JobFilterOptions}), counting at most `cap` (default
   * 10,000): past it, `count` is `cap` and `exact` false, so a count of a
   * huge table stays fast.
   *
   * @example
   * ```ts ignore
   * const { count, exact } = await queue.countJobs({ status: "failed", queue: "emails" });
   * console.log(exact ? `${count} failed` : `over ${count} failed`);
   * ```
   *
   * @param options filters and cap
   */
  async countJobs(options: CountOptions = {}): Promise<JobCount> {
    const context = "Cannot count jobs";
    knownKeys(context, options, ["status", "queue", "task", "search", "cap"]);
    const filter = jobFilter(context, options);
    const cap = integer(context, "cap", options.cap ?? DEFAULT_COUNT_CAP, 1, 1_000_000_000);
    return await (await this.#ready()).countJobs({ ...filter, cap, now: this.#clock.now() });
  }

  /**
   * The workers that have not stopped, as the workers table records them
   * (see {@linkcode WorkerInfo}), each with the ids of the jobs running
   * under its id now; by last sign of life, latest first. A worker that was
   * killed never records its stop: its `lastSeenAt` grows old. With
   * `stopped: true`, also the last 100 workers to stop.
   *
   * @example
   * ```ts ignore
   * for (const w of await queue.workers()) {
   *   console.log(w.id, w.host, w.pid, `${w.running.length}/${w.concurrency}`, w.lastSeenAt);
   * }
   * ```
   *
   * @param options whether to include stopped workers
   */
  async workers(options: WorkersOptions = {}): Promise<WorkerInfo[]> {
    const context = "Cannot list workers";
    knownKeys(context, options, ["stopped"]);
    const stopped = options.stopped ?? false;
    if (typeof stopped !== "boolean") {
      throw new TypeError(`${context}: stopped must be true or false, got ${describe(stopped)}`);
    }
    return await (await this.#ready()).workers({ stopped, now: this.#clock.now() });
  }

  /**
   * How many jobs completed, and how many failed or timed out (on their
   * last attempt), in each of the last `minutes` minutes (default 60, at
   * most 1440), ending with the current minute by the queue's clock: one
   * entry per minute, oldest first, zeros included. Jobs are counted by
   * when they ended, as they stand now (a job requeued since is not
   * counted). Reads every job (no index holds when a job ended).
   *
   * @example
   * ```ts ignore
   * for (const m of await queue.activity({ minutes: 15, queue: "emails" })) {
   *   console.log(m.minute, m.completed, m.failed);
   * }
   * ```
   *
   * @param options how many minutes, and of which queue
   */
  async activity(options: ActivityOptions = {}): Promise<ActivityMinute[]> {
    const context = "Cannot read activity";
    knownKeys(context, options, ["minutes", "queue"]);
    const minutes = integer(context, "minutes", options.minutes ?? 60, 1, 1440);
    const queue = options.queue === undefined
      ? undefined
      : queueName(context, "queue", options.queue);
    const now = this.#clock.now();
    const since = Math.floor(now / 60_000) * 60_000 - (minutes - 1) * 60_000;
    const rows = await (await this.#ready()).activity({ since, minutes, queue, now });
    return activityMinutes(since, minutes, rows);
  }

  /**
   * How many jobs are in each status, and in all.
   *
   * @example
   * ```ts ignore
   * const { pending, running, total } = await queue.stats();
   * ```
   */
  async stats(options: StatsOptions = {}): Promise<QueueStats> {
    const context = "Cannot count jobs";
    knownKeys(context, options ?? {}, ["queue"]);
    const queue = options?.queue === undefined
      ? undefined
      : queueName(context, "queue", options.queue);
    return await (await this.#ready()).stats({ queue, now: this.#clock.now() });
  }

  /**
   * Every queue that has jobs or was paused, by name: whether it is paused,
   * and its jobs by status.
   *
   * @example
   * ```ts ignore
   * for (const q of await queue.queues()) {
   *   console.log(q.name, q.paused ? "paused" : "", q.pending, q.running);
   * }
   * ```
   */
  async queues(): Promise<QueueInfo[]> {
    return await (await this.#ready()).queueList({ now: this.#clock.now() });
  }

  /**
   * Configures a queue's limits and retention, stored in the database so
   * every worker in every process obeys them (in the claim itself, not by
   * each worker's own count) until changed. Each field given is set (`null`:
   * back to its default); fields left out keep what is stored, so calling it
   * again with the same settings changes nothing. Returns the settings now
   * stored. Bad settings are a `TypeError` or `RangeError` naming them, and
   * nothing is stored.
   *
   * - `concurrency`: at most this many jobs of the queue run at once.
   * - `keyConcurrency`: at most this many running jobs per `concurrencyKey`
   *   (jobs of other keys are not held back behind a busy one).
   * - `rateLimit: { max, perSeconds }`: at most `max` job starts in any
   *   window of `perSeconds`; jobs over the limit wait (they do not fail).
   * - `keepCompleted`, `keepFailed`: seconds an ended job is kept before
   *   workers prune it (`Infinity`: forever).
   *
   * @example
   * ```ts ignore
   * await queue.configureQueue("emails", {
   *   concurrency: 5,
   *   rateLimit: { max: 100, perSeconds: 60 },
   *   keepCompleted: 86_400,
   * });
   * ```
   *
   * @param name the queue's name
   * @param config the settings to change
   */
  async configureQueue(name: string, config: QueueConfig): Promise<QueueSettings> {
    const queue = queueName("Cannot configure queue", "the queue name", name);
    // Checked before opening anything: bad settings change nothing.
    applyConfig(NO_SETTINGS, config);
    return await (await this.#ready()).configureQueue({ queue, config, now: this.#clock.now() });
  }

  /**
   * Pauses a named queue: no worker in any process claims its jobs until it
   * is resumed (the claim itself reads the flag); running jobs finish. The
   * pause is stored, so it survives restarts, and it holds for jobs added
   * later — pausing a queue that has no jobs yet is allowed.
   *
   * @example
   * ```ts ignore
   * await queue.pause("emails");
   * // … later
   * await queue.resume("emails");
   * ```
   *
   * @param name the queue's name
   */
  async pause(name: string): Promise<void> {
    const queue = queueName("Cannot pause", "the queue name", name);
    await (await this.#ready()).setPaused({ queue, paused: true, now: this.#clock.now() });
  }

  /**
   * Resumes a paused queue: its jobs are claimed again. Resuming a queue
   * that is not paused changes nothing.
   *
   * @example
   * ```ts ignore
   * await queue.resume("emails");
   * ```
   *
   * @param name the queue's name
   */
  async resume(name: string): Promise<void> {
    const queue = queueName("Cannot resume", "the queue name", name);
    const backend = await this.#ready();
    await backend.setPaused({ queue, paused: false, now: this.#clock.now() });
    backend.notifyLocalCommit();
  }

  /**
   * Cancels a pending or running job, and every pending job that depends on
   * it (they end `cancelled` with an error naming this job). A running job
   * ends `cancelled` at once in the queue (its attempt recorded as
   * cancelled); the worker running it, in whatever process, notices within
   * about a second (at once on PostgreSQL, where LISTEN works) and aborts
   * the handler's `ctx.signal` with a {@linkcode JobCancelledError}; what the
   * handler returns or throws after that is ignored. Returns false if the
   * job is unknown or has already ended.
   *
   * @example
   * ```ts ignore
   * if (!(await queue.cancel(id))) console.log("too late: it has ended");
   * ```
   *
   * @param id the job id
   */
  async cancel(id: string): Promise<boolean> {
    checkId(id);
    return await (await this.#ready()).cancel({ id, now: this.#clock.now() });
  }

  /**
   * Cancels every pending or running job that matches the filter (at least
   * one of `status`, `queue` and `name`), each as {@linkcode JobQueue.cancel}
   * does, with their pending dependents; resolves to how many matching jobs
   * it cancelled (dependents cancelled with them not counted). Jobs are
   * taken in batches of 500, each batch one transaction (so a huge set does
   * not hold up workers); jobs submitted after the call began are left
   * alone. A bad filter is a `TypeError` or `RangeError` naming it, and
   * nothing is changed.
   *
   * @example Cancel what waits in a queue
   * ```ts ignore
   * const n = await queue.cancelMany({ queue: "emails", status: "pending" });
   * console.log(`${n} cancelled`);
   * ```
   *
   * @param filter which jobs: `status` ("pending" or "running"; default both), `queue`, `name`
   */
  async cancelMany(filter: CancelManyFilter): Promise<number> {
    const f = bulkFilter("Cannot cancel jobs", filter, ["pending", "running"], [
      "pending",
      "running",
    ]);
    return await (await this.#ready()).cancelMany({ filter: f, now: this.#clock.now() });
  }

  /**
   * Redrives ended jobs in bulk — the dead-letter workflow: failed jobs stay
   * in the queue, queryable, until this puts those matching the filter (at
   * least one of `status`, `queue` and `name`) back to pending, each as
   * {@linkcode JobQueue.requeue} does (attempts reset, the dependents its end
   * cancelled brought back). A job that waits on a dependency that itself
   * ended badly is skipped, and so is one whose unique key another pending
   * or running job holds. Resolves to how many it requeued. `status`
   * defaults to failed and timed-out jobs. Batched as
   * {@linkcode JobQueue.cancelMany}; a bad filter changes nothing.
   *
   * @example Redrive the failed jobs of a queue once the bug is fixed
   * ```ts ignore
   * const n = await queue.requeueMany({ status: "failed", queue: "emails" });
   * console.log(`${n} back to pending`);
   * ```
   *
   * @param filter which jobs: `status` ("failed", "timeout" or "cancelled"), `queue`, `name`
   */
  async requeueMany(filter: RequeueManyFilter): Promise<number> {
    const f = bulkFilter("Cannot requeue jobs", filter, ["failed", "timeout", "cancelled"], [
      "failed",
      "timeout",
    ]);
    const backend = await this.#ready();
    const n = await backend.requeueMany({ filter: f, now: this.#clock.now() });
    if (n > 0) backend.notifyLocalCommit();
    return n;
  }

  /**
   * Waits until the job has ended (completed, failed, timed out or
   * cancelled) and resolves to it, with its attempts. It wakes as workers
   * do — on a write to the SQLite file's WAL, or a PostgreSQL notification
   * that the job's end sends while someone waits — and reads the job once a
   * second besides, never faster. An unknown id is a
   * {@linkcode JobNotFoundError}; past `timeout` seconds a
   * {@linkcode WaitTimeoutError} names the job and its status.
   *
   * @example Submit and wait for the result
   * ```ts ignore
   * const id = await double.submit(queue, { n: 21 });
   * const job = await queue.waitFor(id, { timeout: 30 });
   * if (job.status === "completed") console.log(job.result); // 42
   * ```
   *
   * @param id the job id
   * @param options how long to wait at most
   */
  async waitFor(id: string, options: WaitOptions = {}): Promise<JobDetails> {
    checkId(id);
    const context = "Cannot wait for a job";
    knownKeys(context, options ?? {}, ["timeout"]);
    const timeout = options?.timeout ?? Infinity;
    if (
      typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0 ||
      (timeout > MAX_WAIT_SECONDS && timeout !== Infinity)
    ) {
      throw new RangeError(
        `${context}: timeout must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}, or ` +
          `Infinity (no limit), got ${describe(timeout)}`,
      );
    }
    const backend = await this.#ready();
    const clock = this.#clock;
    const deadline = clock.now() + timeout * 1000;
    let woken = false;
    let wakeUp: (() => void) | undefined;
    const wake = () => {
      woken = true;
      const w = wakeUp;
      wakeUp = undefined;
      w?.();
    };
    const stop = backend.watchEnds({ id, wake, debug: () => {} });
    try {
      for (;;) {
        woken = false;
        const job = await backend.getJob({ id, now: clock.now() });
        if (job === undefined) throw new JobNotFoundError(id);
        if (ENDED.has(job.status)) return job;
        const left = deadline - clock.now();
        if (left <= 0) throw new WaitTimeoutError(id, job.status, timeout);
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = clock.setTimeout(() => {
            wakeUp = undefined;
            resolve();
          }, Math.min(left, WAIT_POLL_MS));
          wakeUp = () => {
            clock.clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      stop();
    }
  }

  /**
   * Puts a failed, timed-out or cancelled job back to pending with its
   * attempts reset, and brings back the jobs its end had cancelled. Returns
   * false if the job is unknown, in another state, or waits on a dependency
   * that itself failed, timed out or was cancelled (requeue that one first).
   *
   * @example
   * ```ts ignore
   * for (const job of await queue.listJobs({ status: "failed" })) await queue.requeue(job.id);
   * ```
   *
   * @param id the job id
   */
  async requeue(id: string): Promise<boolean> {
    checkId(id);
    const backend = await this.#ready();
    const requeued = await backend.requeue({ id, now: this.#clock.now() });
    if (requeued) backend.notifyLocalCommit();
    return requeued;
  }

  /**
   * Deletes completed and cancelled jobs (and their attempts), optionally
   * only those that ended before a time. A finished job that a remaining job
   * still depends on is kept. Resolves to the number deleted.
   *
   * @example Delete what finished more than a week ago
   * ```ts ignore
   * const n = await queue.clearCompleted({ before: new Date(Date.now() - 7 * 86_400_000) });
   * ```
   *
   * @param options the cutoff
   */
  async clearCompleted(options: ClearOptions = {}): Promise<number> {
    knownKeys("Cannot clear jobs", options, ["before"]);
    const before = options.before === undefined
      ? Number.MAX_SAFE_INTEGER
      : instant("Cannot clear jobs", "before", options.before);
    return await (await this.#ready()).clear({ before, now: this.#clock.now() });
  }

  /**
   * Writes a consistent copy of the queue to `dest`, a new file, while
   * workers keep working: the copy holds every job committed before it
   * began. (Copying a live queue file is not a backup: without its `-wal`
   * file the copy loses commits, and a copy taken during a write can be
   * torn.) `dest` must not exist and its directory must (a `RangeError`
   * otherwise); the copy is written beside it under a temporary name, synced,
   * then put in place, so on any failure nothing is left at `dest`. A copy
   * that cannot be written (a full disk, a read-only directory) is a
   * `SqliteError` that names `dest` and says why.
   *
   * @example Back up the queue before an upgrade
   * ```ts ignore
   * await queue.backup("/backups/jobs-2026-01-31.db");
   * ```
   *
   * @param dest where the copy goes (a relative path is resolved against the current directory)
   */
  async backup(dest: string): Promise<void> {
    if (typeof dest !== "string" || dest === "") {
      throw new TypeError(
        `Cannot back up the queue: dest must be a non-empty string, got ${describe(dest)}`,
      );
    }
    const backend = await this.#ready();
    await backend.backup({ dest: resolve(dest), now: this.#clock.now() });
  }

  /**
   * Runs `fn` in one SQLite write transaction on the queue's connection, so
   * an application commits its own rows and its jobs together, or neither:
   * `tx.connection` runs the application's statements, `tx.submit(job)` and
   * `tx.submitMany(jobs)` add jobs and return their ids. A throw rolls back
   * everything `fn` wrote; workers are woken only after the commit.
   *
   * `fn` must be synchronous — no `await` inside: a transaction is never
   * held across one (it would block every other writer). An async function
   * is refused with a `TypeError` before it runs. Resolves to what `fn`
   * returns.
   *
   * @example Save an order and the job that e-mails its receipt, atomically
   * ```ts ignore
   * const jobId = await queue.transaction((tx) => {
   *   tx.connection.prepare("INSERT INTO orders (id, total) VALUES (?, ?)").run(42, 99.5);
   *   return tx.submit(sendReceipt.toJob({ order: 42 }));
   * });
   * ```
   *
   * @param fn the work to commit as one
   */
  async transaction<T>(fn: (tx: QueueTransaction) => T): Promise<T> {
    if (typeof fn !== "function") {
      throw new TypeError(`Cannot run a transaction: expected a function, got ${describe(fn)}`);
    }
    if (
      fn.constructor?.name === "AsyncFunction" || fn.constructor?.name === "AsyncGeneratorFunction"
    ) {
      throw new TypeError(
        "Cannot run an async function in a queue transaction: it must be synchronous (no " +
          "await inside), so that no lock is held across an await; nothing was written",
      );
    }
    const backend = await this.#ready();
    let inserted = 0;
    const result = await backend.transaction({
      now: this.#clock.now(),
      fn: (inner) => {
        let open = true;
        const closed = () => {
          if (!open) {
            throw new Error("Cannot submit through a queue transaction that has ended");
          }
        };
        const tx: QueueTransaction = {
          connection: inner.connection as Connection,
          submit: (job: Job) => {
            closed();
            const telemetry = this.#telemetry ? loadedTelemetry() : undefined;
            const ids = telemetry === undefined
              ? inner.insertJobs(this.#prepare([job]))
              : telemetry.submit([job], (tc) => inner.insertJobs(this.#prepare([job]), tc));
            inserted++;
            return ids[0];
          },
          submitMany: (jobs: Iterable<Job>) => {
            closed();
            const list = this.#list(jobs);
            if (list.length === 0) return [];
            const telemetry = this.#telemetry ? loadedTelemetry() : undefined;
            if (telemetry === undefined) inner.insertJobs(this.#prepare(list));
            else telemetry.submit(list, (tc) => inner.insertJobs(this.#prepare(list), tc));
            inserted += list.length;
            return list.map((j) => j.id);
          },
        };
        try {
          return fn(tx);
        } finally {
          open = false;
        }
      },
    });
    if (inserted > 0) backend.notifyLocalCommit();
    return result;
  }

  /**
   * Creates or updates (by name) a cron schedule: at each slot of `cron`,
   * read in `timezone`, one job of `task` with `params` and the job options
   * given (checked as `new Job({...})` checks them), named after the
   * schedule. Resolves to the schedule as stored. Anything bad (an unknown
   * option, a cron expression or time zone that does not parse, params that
   * are not JSON) is a `TypeError` or `RangeError` naming it, and nothing
   * is stored.
   *
   * Any running {@linkcode Worker} (or {@linkcode WorkerPool}) whose tasks
   * include the schedule's task fires its slots — no leader, no separate
   * process: each slot is recorded in the transaction that inserts its job,
   * so however many workers in however many processes race for a slot,
   * exactly one job is made. Workers see a new or changed schedule within
   * their `pollInterval` (5 seconds by default; at once in the process that
   * scheduled it).
   *
   * Scheduling an existing name again with the same `cron` and `timezone`
   * keeps its next slot, so an application may schedule at every start
   * without skipping or repeating a slot; a new `cron` or `timezone` takes
   * effect from its first slot after now. Slots missed while no worker ran
   * (more than 30 seconds late) follow `missed`: `"one"` (the default) fires
   * one job for the whole missed window, `"skip"` none, `"all"` one per slot.
   * See {@linkcode ScheduleOptions.timezone} for what happens on the days
   * the clocks change.
   *
   * @example Run a report every night at 01:00, Berlin time
   * ```ts ignore
   * import { JobQueue, task } from "@gigq/gigq";
   *
   * const report = task("report", async (p: { kind: string }) => `${p.kind} done`);
   * const queue = new JobQueue("jobs.db");
   * await queue.schedule({
   *   name: "nightly-report",
   *   cron: "0 1 * * *",
   *   timezone: "Europe/Berlin",
   *   task: report,
   *   params: { kind: "sales" },
   *   queue: "reports",
   * });
   * // A worker with the report task fires it: new Worker("jobs.db", { tasks: [report] }).start()
   * ```
   *
   * @param options the name, cron, task and params, and the jobs' options
   */
  async schedule(options: ScheduleOptions): Promise<ScheduleInfo> {
    const prepared = await prepareSchedule(options, this.#maxPayload);
    const backend = await this.#ready();
    const now = this.#clock.now();
    const stored = await backend.saveSchedule({
      name: prepared.name,
      merge: (row) => mergeSchedule(prepared, row, now),
      now,
    });
    scheduleChanged(this.path);
    return toScheduleInfo(stored);
  }

  /**
   * Removes a schedule: no more jobs are fired for it (jobs it fired stay).
   * Resolves to whether it existed.
   *
   * @example
   * ```ts ignore
   * if (!(await queue.unschedule("nightly-report"))) console.log("no such schedule");
   * ```
   *
   * @param name the schedule's name
   */
  async unschedule(name: string): Promise<boolean> {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot unschedule: name must be a string, got ${describe(name)}`);
    }
    const backend = await this.#ready();
    const removed = await backend.deleteSchedule({ name, now: this.#clock.now() });
    if (removed) scheduleChanged(this.path);
    return removed;
  }

  /**
   * Every schedule, by name: its cron, time zone, task, job options, and
   * its next and last slot.
   *
   * @example
   * ```ts ignore
   * for (const s of await queue.schedules()) console.log(s.name, s.cron, s.nextRunAt);
   * ```
   */
  async schedules(): Promise<ScheduleInfo[]> {
    const rows = await (await this.#ready()).listSchedules({ now: this.#clock.now() });
    return rows.map(toScheduleInfo);
  }

  /**
   * Submits one job of schedule `name` now, outside its cron slots (a
   * dashboard's "run now"): named after the schedule, with its task, params
   * and options. The schedule's own slots are not changed. Resolves to the
   * job's id; throws a `RangeError` for an unknown schedule.
   *
   * @example
   * ```ts ignore
   * const id = await queue.runSchedule("nightly-report");
   * ```
   *
   * @param name the schedule's name
   */
  async runSchedule(name: string): Promise<string> {
    if (typeof name !== "string") {
      throw new TypeError(`Cannot run schedule: name must be a string, got ${describe(name)}`);
    }
    const backend = await this.#ready();
    const now = this.#clock.now();
    const found = (await backend.listSchedules({ now })).find((s) => s.name === name);
    if (found === undefined) {
      throw new RangeError(`Cannot run schedule ${quote(name)}: no schedule has that name`);
    }
    const [prepared] = slotJobs(found, [now]);
    return await this.submit(prepared.job);
  }

  /**
   * Stops using the queue and releases its connection (closed unless another
   * open queue or worker in this isolate still uses it). Safe to call twice.
   *
   * @example
   * ```ts ignore
   * using queue = new JobQueue("jobs.db"); // closed at the end of the block
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backend.close();
  }

  /** Same as {@linkcode JobQueue.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The filters of a listing or count, checked. */
function jobFilter(context: string, options: JobFilterOptions): JobFilter {
  return {
    status: options.status === undefined ? undefined : parseJobStatus(options.status),
    queue: options.queue === undefined ? undefined : queueName(context, "queue", options.queue),
    task: options.task === undefined
      ? undefined
      : text(context, "task", options.task, { max: 1000, allowEmpty: false }),
    search: options.search === undefined
      ? undefined
      : text(context, "search", options.search, { max: MAX_SEARCH, allowEmpty: false }),
  };
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== "string") {
    throw new TypeError(`Invalid job id: expected a string, got ${describe(id)}`);
  }
}
