/**
 * {@linkcode Job}: one unit of work to submit.
 *
 * @module
 */
import { uuidv7 } from "./_uuid.ts";
import {
  instant,
  integer,
  knownKeys,
  MAX_RETRY_DELAY_SECONDS,
  MAX_TIMEOUT_SECONDS,
  oneOf,
  PRIORITY_RANGE,
  queueName,
  seconds,
  text,
  uniqueKey,
} from "./_validate.ts";
import { describe, quote } from "./job_status.ts";

/**
 * How the wait between attempts grows:
 * - `"fixed"`: every retry waits `retryDelay` seconds (GigQ's rule);
 * - `"exponential"`: after attempt *n* fails, the wait is
 *   `d = min(retryDelay × 2^(n-1), maxRetryDelay)` with "equal jitter": half of
 *   `d` fixed plus a uniformly random share of the other half, so between
 *   `d / 2` and `d` seconds. The jitter spreads the retries of jobs that
 *   failed together (an outage) instead of sending them back at one instant.
 */
export type Backoff = "fixed" | "exponential";

/** The allowed {@linkcode Backoff} values. */
export const BACKOFFS: readonly Backoff[] = ["fixed", "exponential"];

/**
 * The longest wait exponential backoff grows to by default, in seconds (one
 * day): the default of {@linkcode JobOptions.maxRetryDelay}.
 */
export const MAX_BACKOFF_SECONDS = 86_400;

/**
 * Options shared by tasks and jobs. Durations are in seconds, as in GigQ.
 */
export interface JobOptions {
  /**
   * Higher runs first; equal priorities run oldest first. A 32-bit integer.
   *
   * @default {0}
   */
  priority?: number;
  /**
   * How many times the job may run before it ends `failed` or `timeout`.
   *
   * @default {3}
   */
  maxAttempts?: number;
  /**
   * Seconds an attempt may run before its `ctx.signal` aborts and the attempt
   * counts as timed out. At most 2,147,483 (the longest JavaScript timer).
   *
   * @default {300}
   */
  timeout?: number;
  /**
   * Seconds to wait before a failed or timed-out attempt is retried.
   *
   * @default {0}
   */
  retryDelay?: number;
  /**
   * How the retry delay grows from one attempt to the next.
   *
   * @default {"fixed"}
   */
  backoff?: Backoff;
  /**
   * The longest wait between attempts with `backoff: "exponential"`, in
   * seconds: the doubling stops there (before the jitter takes up to half
   * off). From 0 (retries are immediately ready) to 315,360,000 (ten years).
   * A fixed backoff ignores it: it always waits `retryDelay`.
   *
   * @default {86400}
   */
  maxRetryDelay?: number;
  /**
   * Free text shown by `status`.
   *
   * @default {""}
   */
  description?: string;
  /**
   * The named queue the job waits in: 1 to 128 characters. Workers claim
   * from the queues they serve (`WorkerOptions.queues`, default every
   * queue); a queue can be paused as a whole (`JobQueue.pause`).
   *
   * @default {"default"}
   */
  queue?: string;
}

/** The task a job runs: a {@linkcode Task} object or its name. */
export interface TaskRef {
  /** The task's name, which workers look up. */
  readonly name: string;
  /** The task's default options. */
  readonly options: Readonly<Required<JobOptions>>;
}

/** Everything {@linkcode Job}'s constructor accepts. */
export interface JobInit extends JobOptions {
  /** The task to run: a task object from `task()`, or a task name. */
  task: TaskRef | string;
  /**
   * A human-readable name.
   *
   * @default {the task's name}
   */
  name?: string;
  /**
   * The handler's first argument. Must be a JSON value that comes back
   * unchanged (checked at submit): at most 1,000 arrays or objects deep, with
   * strings and keys of well-formed Unicode (no lone surrogate), within the
   * queue's `maxPayloadBytes`.
   *
   * @default {{}}
   */
  params?: unknown;
  /**
   * Jobs (or their ids) that must complete first. Each must already be
   * submitted, or be submitted in the same `submitMany` call.
   *
   * @default {[]}
   */
  dependencies?: readonly (string | Job)[];
  /**
   * Not before this time: a Date, an ISO 8601 string or epoch milliseconds.
   *
   * @default {now}
   */
  runAt?: Date | string | number;
  /**
   * Where the task came from (for example `./tasks.ts#greet` from the CLI).
   * Informational: workers never import a module because a job names it.
   */
  module?: string;
  /**
   * While a job with this key in the same queue is pending or running,
   * submitting another returns that job's id and adds nothing (a unique
   * index decides, so racing submitters create exactly one). Once the holder
   * ends (completed, failed, cancelled or timed out), the key is free again.
   * 1 to 1,000 characters.
   *
   * @default {none}
   */
  uniqueKey?: string;
  /**
   * Jobs sharing a concurrency key run at most the queue's `keyConcurrency`
   * at a time (`JobQueue.configureQueue`), across every worker; jobs of
   * other keys are not held back by a busy one. Without a `keyConcurrency`
   * on the queue it limits nothing. 1 to 1,000 characters.
   *
   * @default {none}
   */
  concurrencyKey?: string;
}

/** The id the next Job constructed takes, set by {@linkcode withJobId} (internal). */
let assignedId: string | undefined;

function takeAssignedId(): string | undefined {
  const id = assignedId;
  assignedId = undefined;
  return id;
}

/** Jobs made with an id given by {@linkcode withJobId}: two of them may share one. */
const madeWithId = new WeakSet<Job>();

/** Whether `job`'s id was given to it (see {@linkcode withJobId}) rather than made. Internal. */
export function hasGivenId(job: Job): boolean {
  return madeWithId.has(job);
}

/**
 * Task defaults already checked: a frozen options object (as task() makes)
 * is checked once, not at every job. Others are checked each time.
 */
const checkedDefaults = new WeakSet<object>();

/** The keys of {@linkcode JobOptions}: what a task (and a schedule) gives its jobs. Internal. */
export const JOB_OPTION_KEYS = [
  "priority",
  "maxAttempts",
  "timeout",
  "retryDelay",
  "backoff",
  "maxRetryDelay",
  "description",
  "queue",
] as const satisfies readonly (keyof JobOptions)[];

/** Whether `init` sets none of the options of {@linkcode JobOptions}. */
function setsNoOption(init: JobInit): boolean {
  return JOB_OPTION_KEYS.every((k) => init[k] === undefined);
}

/** A job id's form: a UUID, in lower case. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Constructs a job with a given id (a lower-case UUID) rather than a new one:
 * for the HTTP API, whose clients make the id, so that a submit retried after
 * a lost response cannot add the job twice. Internal.
 */
export function withJobId(id: unknown, init: JobInit): Job {
  if (typeof id !== "string" || !UUID.test(id)) {
    throw new TypeError(
      `Cannot create job: id must be a UUID in lower case (like ${uuidv7()}), got ${describe(id)}`,
    );
  }
  assignedId = id;
  try {
    return new Job(init);
  } finally {
    assignedId = undefined;
  }
}

/** The longest job id a dependency may name (ids are 36-character UUIDs). */
const MAX_ID_CHARS = 200;

/** The fields of {@linkcode JobInit} (internal). */
export const JOB_KEYS = [
  "task",
  "name",
  "params",
  "dependencies",
  "runAt",
  "module",
  "uniqueKey",
  "concurrencyKey",
  ...JOB_OPTION_KEYS,
] as const;

/** Default job options (GigQ's defaults). */
export const DEFAULT_JOB_OPTIONS: Readonly<Required<JobOptions>> = Object.freeze({
  priority: 0,
  maxAttempts: 3,
  timeout: 300,
  retryDelay: 0,
  backoff: "fixed" as Backoff,
  maxRetryDelay: MAX_BACKOFF_SECONDS,
  description: "",
  queue: "default",
});

/** Validates job options, filling defaults from `base`. */
export function resolveJobOptions(
  context: string,
  options: JobOptions,
  base: Readonly<Required<JobOptions>> = DEFAULT_JOB_OPTIONS,
): Required<JobOptions> {
  return {
    priority: integer(context, "priority", options.priority ?? base.priority, ...PRIORITY_RANGE),
    maxAttempts: integer(
      context,
      "maxAttempts",
      options.maxAttempts ?? base.maxAttempts,
      1,
      1_000_000,
    ),
    timeout: seconds(context, "timeout", options.timeout ?? base.timeout, {
      min: 0,
      max: MAX_TIMEOUT_SECONDS,
      minExclusive: true,
    }),
    retryDelay: seconds(context, "retryDelay", options.retryDelay ?? base.retryDelay, {
      min: 0,
      max: MAX_RETRY_DELAY_SECONDS,
      minExclusive: false,
    }),
    backoff: oneOf(context, "backoff", options.backoff ?? base.backoff, BACKOFFS),
    maxRetryDelay: seconds(
      context,
      "maxRetryDelay",
      options.maxRetryDelay ?? base.maxRetryDelay ?? MAX_BACKOFF_SECONDS,
      { min: 0, max: MAX_RETRY_DELAY_SECONDS, minExclusive: false },
    ),
    description: text(context, "description", options.description ?? base.description, {
      max: 10_000,
      allowEmpty: true,
    }),
    queue: queueName(context, "queue", options.queue ?? base.queue),
  };
}

function isTaskRef(value: unknown): value is TaskRef {
  return typeof value === "object" && value !== null &&
    typeof (value as TaskRef).name === "string" &&
    typeof (value as TaskRef).options === "object";
}

/**
 * One unit of work: a task name, its params, and how to run it. The id is
 * assigned at construction, so a job can be named as another's dependency
 * before either is submitted. Jobs are immutable.
 *
 * @example Submit a job that runs after another
 * ```ts ignore
 * import { Job, JobQueue, task } from "@gigq/gigq";
 * const resize = task("resize", (p: { file: string }) => p.file);
 * const queue = new JobQueue("jobs.db");
 * const first = new Job({ task: resize, params: { file: "a.png" } });
 * const second = new Job({ task: resize, params: { file: "b.png" }, dependencies: [first] });
 * await queue.submitMany([first, second]);
 * ```
 */
export class Job {
  /** A UUID (version 7, time-ordered), assigned at construction. */
  readonly id: string;
  /** The name of the task a worker runs for this job. */
  readonly task: string;
  /** A human-readable name. */
  readonly name: string;
  /** The handler's first argument (checked to be JSON at submit). */
  readonly params: unknown;
  /** Ids of the jobs that must complete first, in order, without duplicates. */
  readonly dependencies: readonly string[];
  /** Higher runs first. */
  readonly priority: number;
  /** How many times the job may run. */
  readonly maxAttempts: number;
  /** Seconds an attempt may run. */
  readonly timeout: number;
  /** Seconds before a retry. */
  readonly retryDelay: number;
  /** How the retry delay grows. */
  readonly backoff: Backoff;
  /** The longest exponential wait between attempts, in seconds. */
  readonly maxRetryDelay: number;
  /** Free text. */
  readonly description: string;
  /** Earliest start, in epoch milliseconds, or `undefined` for "as soon as possible". */
  readonly runAt: number | undefined;
  /** Where the task came from, if known. */
  readonly module: string | undefined;
  /** The named queue it waits in. */
  readonly queue: string;
  /** Its unique key, if any: no second pending or running job in its queue has it. */
  readonly uniqueKey: string | undefined;
  /** Its concurrency key, if any (see {@linkcode JobInit.concurrencyKey}). */
  readonly concurrencyKey: string | undefined;

  /**
   * Validates `init` and creates the job. Throws a `TypeError` or `RangeError`
   * naming the bad field and value.
   *
   * @param init the task, params and options
   */
  constructor(init: JobInit) {
    let context = "Cannot create job";
    knownKeys(context, init, JOB_KEYS);
    const taskRef = init.task;
    let taskName: string;
    let base = DEFAULT_JOB_OPTIONS;
    if (isTaskRef(taskRef)) {
      taskName = taskRef.name;
      base = taskRef.options;
    } else if (typeof taskRef === "string") {
      taskName = text(context, "task", taskRef, { max: 1000, allowEmpty: false });
    } else {
      throw new TypeError(
        `${context}: task must be a task from task() or a task name, got ${describe(taskRef)}`,
      );
    }
    const name = init.name === undefined
      ? taskName
      : text(context, "name", init.name, { max: 1000, allowEmpty: false });
    context = "";
    // Made only when a check needs it: quoting the name cost a tenth of a job's making.
    const ctx = () => context ||= `Cannot create job ${quote(name)}`;
    const defaultsOnly = setsNoOption(init);
    let options: Readonly<Required<JobOptions>>;
    if (defaultsOnly && checkedDefaults.has(base)) {
      options = base;
    } else {
      options = resolveJobOptions(ctx(), init, base);
      // Defaults that came through unchanged serve later jobs as they are.
      if (
        defaultsOnly && Object.isFrozen(base) &&
        JOB_OPTION_KEYS.every((k) => options[k] === base[k])
      ) checkedDefaults.add(base);
    }
    const deps = init.dependencies ?? [];
    if (!Array.isArray(deps)) {
      throw new TypeError(
        `${ctx()}: dependencies must be an array of jobs or job ids, got ${describe(deps)}`,
      );
    }
    const ids: string[] = [];
    for (const [i, dep] of deps.entries()) {
      const id = dep instanceof Job ? dep.id : dep;
      if (typeof id !== "string" || id.trim() === "") {
        throw new TypeError(
          `${ctx()}: dependencies[${i}] must be a job or a job id, got ${describe(dep)}`,
        );
      }
      // No job id is longer (they are UUIDs); a longer one would only be
      // repeated whole by the "does not exist" error.
      text(ctx(), `dependencies[${i}]`, id, { max: MAX_ID_CHARS, allowEmpty: false });
      if (!ids.includes(id)) ids.push(id);
    }
    const given = takeAssignedId();
    this.id = given ?? uuidv7();
    if (given !== undefined) madeWithId.add(this);
    this.task = taskName;
    this.name = name;
    this.params = init.params === undefined ? {} : init.params;
    this.dependencies = Object.freeze(ids);
    this.priority = options.priority;
    this.maxAttempts = options.maxAttempts;
    this.timeout = options.timeout;
    this.retryDelay = options.retryDelay;
    this.backoff = options.backoff;
    this.maxRetryDelay = options.maxRetryDelay;
    this.description = options.description;
    this.runAt = init.runAt === undefined ? undefined : instant(ctx(), "runAt", init.runAt);
    this.module = init.module === undefined
      ? undefined
      : text(ctx(), "module", init.module, { max: 2000, allowEmpty: false });
    this.queue = options.queue;
    this.uniqueKey = init.uniqueKey === undefined
      ? undefined
      : uniqueKey(ctx(), "uniqueKey", init.uniqueKey);
    this.concurrencyKey = init.concurrencyKey === undefined
      ? undefined
      : uniqueKey(ctx(), "concurrencyKey", init.concurrencyKey);
    if (ids.includes(this.id)) throw new RangeError(`${ctx()}: a job cannot depend on itself`);
    Object.freeze(this);
  }
}

/**
 * Seconds to wait before retrying after attempt `attempt` (1-based) failed.
 * Pure: the randomness comes from `random` (a number in [0, 1), as
 * `Math.random` gives).
 *
 * - `"fixed"`: `retryDelay`, whatever `maxRetryDelay` says.
 * - `"exponential"`: with `d = min(retryDelay × 2^(attempt-1), maxRetryDelay)`,
 *   `d / 2 + random() × d / 2` ("equal jitter"): between `d / 2` and `d`.
 *
 * @example The bounds of the third retry's wait
 * ```ts ignore
 * retryDelaySeconds(2, "exponential", 3, 86_400, () => 0); // 4
 * retryDelaySeconds(2, "exponential", 3, 86_400, () => 1); // 8
 * retryDelaySeconds(2, "exponential", 30, 60, () => 1); // 60: the cap
 * ```
 */
export function retryDelaySeconds(
  retryDelay: number,
  backoff: Backoff,
  attempt: number,
  maxRetryDelay: number = MAX_BACKOFF_SECONDS,
  random: () => number = Math.random,
): number {
  if (backoff === "fixed" || retryDelay === 0) return retryDelay;
  const d = Math.min(retryDelay * 2 ** Math.min(Math.max(attempt - 1, 0), 60), maxRetryDelay);
  return d / 2 + random() * (d / 2);
}
