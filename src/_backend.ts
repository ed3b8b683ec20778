/**
 * The storage seam: what JobQueue, Worker and WorkerPool need from where the
 * queue lives. Internal (not exported from `mod.ts`) and free to change.
 * Every operation is asynchronous, runs as its own transaction, takes one
 * params object carrying `now` (epoch ms, from the caller's clock) and
 * returns the public report types. A backend knows its own storage (SQLite's
 * files, WAL and pragmas stay under `src/sqlite/`); nothing outside its
 * folder names a driver. A Web Worker reopens the same backend from its
 * structured-cloneable {@linkcode BackendSpec}.
 *
 * @module
 */
import type { JsonValue } from "./_json.ts";
import type { Backoff, Job } from "./job.ts";
import type {
  JobCount,
  JobDetails,
  JobInfo,
  QueueInfo,
  QueueStats,
  WorkerInfo,
} from "./job_info.ts";
import type { JobStatus } from "./job_status.ts";
import type { QueueConfig, QueueSettings, SettingsRow } from "./queue_config.ts";

/** How to open a backend again, in another isolate (structured-cloneable). */
export type BackendSpec = SqliteSpec | PostgresSpec;

/** A queue in a SQLite file. */
export interface SqliteSpec {
  /** Which backend. */
  kind: "sqlite";
  /** The database file (absolute), `:memory:` or a `file:` URI. */
  path: string;
  /** The SQLite driver. */
  driver: "node" | "ffi";
  /** `PRAGMA synchronous`. */
  synchronous?: "NORMAL" | "FULL";
  /** `PRAGMA busy_timeout`, in milliseconds. */
  busyTimeout?: number;
}

/** A queue in one schema of a PostgreSQL database. */
export interface PostgresSpec {
  /** Which backend. */
  kind: "postgres";
  /** The connection URL, without GigQ's own parameters (`schema`, `max`). */
  url: string;
  /** The schema that holds the queue's tables. */
  schema: string;
  /** Most connections the client opens (its default when undefined). */
  max?: number;
}

/** A job a worker has claimed. */
export interface Claimed {
  seq: number;
  id: string;
  name: string;
  task: string;
  params: string;
  /** Attempt number since submit or requeue (1-based). */
  attempt: number;
  maxAttempts: number;
  timeout: number;
  retryDelay: number;
  backoff: Backoff;
  /** Claims ever made of this job: the fencing token. */
  run: number;
  children: number;
  hasParents: boolean;
  priority: number;
  runAt: number;
  /** The named queue it waited in. */
  queue: string;
  /** The last progress its handler reported (JSON), written with its outcome. */
  progress?: string;
  /** The cap on its exponential backoff, in seconds. */
  maxRetryDelay: number;
  workerId: string;
  startedAt: number;
  /** Filled for jobs with dependencies. */
  parentResults: Record<string, JsonValue> | undefined;
  /**
   * The W3C trace context (JSON) of the span that submitted it, read only
   * for a claimer with `traced` (left out otherwise: a property more on every
   * claimed job costs the hot path measurably).
   */
  traceContext?: string | null;
}

/** How an attempt ended. */
export type Outcome =
  | { kind: "completed"; job: Claimed; result: string; at: number }
  | {
    /** Interrupted by its worker stopping: back to pending, the attempt not counted. */
    kind: "released";
    job: Claimed;
    reason: string;
    at: number;
  }
  | {
    kind: "failed" | "timeout";
    job: Claimed;
    /** Short message stored on the job. */
    error: string;
    /** Longer text (a stack) stored on the execution. */
    detail: string;
    /** No retry, whatever attempts are left (the failure would repeat). */
    permanent: boolean;
    at: number;
    /** What the handler asked for besides the failure (the KV facade's retries and keys). */
    extras?: FailureExtras;
  };

/** Who claims: one Worker object, and what it can run. */
export interface Claimer {
  /** The worker id recorded on the jobs it runs. */
  workerId: string;
  /** This Worker object's own token: only it renews the leases it took. */
  owner: string;
  /** The names of the tasks it runs: it claims no other job. */
  tasks: readonly string[];
  /** The queues it claims from (undefined: every queue); paused ones are skipped. */
  queues: readonly string[] | undefined;
  /** How long a claim lasts without renewal. */
  leaseMs: number;
  /** A lease never outlasts its attempt's deadline by more than this. */
  graceMs: number;
  /**
   * Its attempts are traced (telemetry on): read each claimed job's trace
   * context too (SQLite reads it apart, so claims with telemetry off read
   * nothing more than before).
   */
  traced?: boolean;
}

/** The refusal to requeue job `id` while job `holder` holds its unique key. */
export function keyHeldMessage(id: string, key: string, queue: string, holder?: string): string {
  const by = holder === undefined ? "a job submitted meanwhile" : `job ${holder}`;
  return `Cannot requeue job ${id}: its unique key ${JSON.stringify(key)} is held by ${by}, ` +
    `pending or running in queue ${JSON.stringify(queue)}; nothing was changed (requeue it ` +
    `once that job has ended)`;
}

/** The refusal of a listing whose cursor `before` is no job's id. */
export function beforeNotFoundMessage(what: string, id: string): string {
  return `Cannot ${what}: before must be the id of a job, and no job has id ${
    JSON.stringify(id)
  } (it may have been deleted since it was listed)`;
}

/** The error a job cancelled while it ran carries (and its attempt's record). */
export const CANCELLED_WHILE_RUNNING = "Cancelled by a user while it ran";

/** Which jobs a bulk cancel or requeue touches (validated: at least one filter given). */
export interface BulkFilter {
  /** The statuses a job may have (for cancel: pending and running at most). */
  statuses: readonly JobStatus[];
  /** Only jobs of this named queue (undefined: any). */
  queue: string | undefined;
  /** Only jobs of this name (undefined: any). */
  name: string | undefined;
  /** Only jobs of this task (undefined: any). */
  task: string | undefined;
}

/** Most jobs a bulk cancel or requeue changes in one transaction (it runs several for more). */
export const BULK_BATCH = 500;

/**
 * One batch of retention (see {@linkcode Backend.prune}): a round starts
 * `after` seq 0 and follows each batch's `next` until it is undefined.
 */
export interface PruneParams {
  /** A job is pruned once its queue's retention has passed since it ended (epoch ms). */
  now: number;
  /** Most jobs to delete. */
  limit: number;
  /** Look only at jobs after this seq. */
  after: number;
}

/** What one batch of retention did. */
export interface PruneBatch {
  /** How many jobs it deleted. */
  deleted: number;
  /** Where the round's next batch begins; undefined: the round is over. */
  next: number | undefined;
}

/**
 * Most ended jobs a worker's retention deletes in one transaction (each
 * batch looks at {@linkcode PRUNE_WINDOW} times as many jobs at most).
 * Measured (bench/retention.ts, SQLite, a writer in another process): 500
 * a batch took ~4 ms (25 ms at a WAL checkpoint) and raised the other
 * writer's p99 from ~8 to ~25 ms; 200 kept it at ~18 ms and still prunes
 * 100,000 jobs in ~7 s.
 */
export const PRUNE_BATCH = 200;

/** How many jobs, per job it may delete, one batch of retention looks at. */
export const PRUNE_WINDOW = 4;

/** Which jobs `listJobs` and `countJobs` look at (validated; undefined: any). */
export interface JobFilter {
  status: JobStatus | undefined;
  queue: string | undefined;
  /** Only jobs of this task name. */
  task: string | undefined;
  /** A job id (exact) or text the params JSON, as stored, contains (case-sensitive, literal). */
  search: string | undefined;
}

/** What `listJobs` asks for: newest first (by seq), at most `limit`. */
export interface ListParams extends JobFilter {
  limit: number;
  /**
   * Only jobs submitted before the job of this id (by seq); an unknown id is
   * a `JobNotFoundError`.
   */
  before: string | undefined;
  now: number;
}

/** What `countJobs` asks for: how many jobs match, counting at most `cap + 1`. */
export interface CountParams extends JobFilter {
  cap: number;
  now: number;
}

/** Jobs that ended in one minute (see `Backend.activity`). */
export interface ActivityRow {
  /** The minute's start (epoch ms). */
  minute: number;
  completed: number;
  /** Failed and timed out. */
  failed: number;
}

/** Most stopped workers `Backend.workers` lists. */
export const STOPPED_WORKERS_SHOWN = 100;

/** A worker's record in the workers table, as it starts (or reconnects). */
export interface WorkerRegistration {
  workerId: string;
  tasks: readonly string[];
  /** undefined: every queue. */
  queues: readonly string[] | undefined;
  concurrency: number;
  now: number;
  /** Whether to return the record a previous worker of this id left. */
  previous: boolean;
}

/** One worker step: write outcomes, return expired leases, claim. */
export interface StepParams {
  claimer: Claimer;
  outcomes: readonly Outcome[];
  /** Most jobs to claim (0: only write and reap). */
  limit: number;
  now: number;
}

/** A lease renewal by one Worker object. */
export interface RenewParams {
  owner: string;
  workerId: string;
  now: number;
  leaseMs: number;
  graceMs: number;
}

/** What {@linkcode Backend.insertJobs} inserts. */
export interface InsertParams {
  jobs: readonly PreparedJob[];
  now: number;
  /**
   * The submit span's W3C trace context (JSON), written on each job
   * inserted; only with telemetry on (undefined leaves the column NULL).
   */
  traceContext?: string;
}

/** A transaction's insert of prepared jobs (with the submit span's trace context, if any). */
export type TxInsert = (jobs: readonly PreparedJob[], traceContext?: string) => string[];

/** A job validated and serialized for insertion. */
export interface PreparedJob {
  job: Job;
  params: string;
}

/** What {@linkcode Backend.limitState} found. */
export interface LimitState {
  settings: SettingsRow;
  running: number;
  keyRunning: number;
  /** Epoch ms of each start in the rate window (empty without a rate limit). */
  starts: number[];
}

/** What the workers table says of a worker. */
export interface WorkerRecord {
  host: string;
  pid: number;
  seenAt: number;
  stoppedAt: number | null;
}

/** What {@linkcode Backend.migration} found. */
export interface MigrationPlan {
  /** The version found (0: no queue yet). */
  from: number;
  /** This GigQ's version. */
  to: number;
  /** The statements from `from` to `to`; empty when current. */
  sql: string;
}

/**
 * How a queue opens its storage (JobQueue's `create` and `readOnlyFallback`
 * options). The default creates what is missing.
 */
export interface OpenMode {
  /** False: refuse (a `NoQueueError`) where there is no queue yet, creating nothing. */
  create: boolean;
  /**
   * With `create` false: where the storage cannot be opened for writing
   * because its directory is read-only, read it as it is when that is safe
   * (a `ReadOnlyQueueError` where it is not).
   */
  readOnlyFallback: boolean;
}

/** What the workers table says of the workers, for `why()`. */
export interface WorkerFacts {
  /** When any worker that has not stopped last showed a sign of life (epoch ms), if one has. */
  lastSeen: number | undefined;
  /** The task names of each worker seen since `liveSince` that has not stopped. */
  liveTasks: string[][];
  /** When worker `workerId` last showed a sign of life, if it was asked about and has. */
  seenAt: number | undefined;
}

/**
 * One job's row as both backends store it, column by column (times in epoch
 * ms; `scheduled` 0 or 1; `seq` and `cancelled_by` are the source's seqs).
 */
export interface JobRecord {
  seq: number;
  id: string;
  name: string;
  task: string;
  module: string | null;
  params: string;
  priority: number;
  max_attempts: number;
  timeout: number;
  retry_delay: number;
  backoff: string;
  description: string;
  dependencies: string;
  status: JobStatus;
  attempts: number;
  runs: number;
  run_at: number;
  scheduled: number;
  parents_left: number;
  children: number;
  result: string | null;
  error: string | null;
  worker_id: string | null;
  lease_until: number | null;
  cancelled_by: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  completed_at: number | null;
  lease_owner: string | null;
  queue: string;
  unique_key: string | null;
  progress: string | null;
  max_retry_delay: number;
  concurrency_key: string | null;
  /** The submit span's W3C trace context (JSON), carried by a copy so attempts still link to it. */
  trace_context: string | null;
}

/** One dependency edge (parent and child by seq; `position` in the child's list). */
export interface EdgeRecord {
  parent: number;
  child: number;
  position: number;
}

/** One recorded attempt (a completed one lives on its job's row). */
export interface AttemptRecord {
  job: number;
  run: number;
  attempt: number;
  worker_id: string;
  status: string;
  started_at: number;
  completed_at: number;
  error: string | null;
}

/**
 * One schedule's row as both backends store it (times in epoch ms; `params`
 * and `options` JSON text: the job options its jobs get).
 */
export interface ScheduleRecord {
  name: string;
  cron: string;
  timezone: string;
  task: string;
  module: string | null;
  params: string;
  options: string;
  missed: string;
  paused: boolean;
  /** The first slot not yet fired (null: the expression has no more slots). */
  next_run_at: number | null;
  /** The last slot fired, if any. */
  last_run_at: number | null;
  created_at: number;
  /** Grows with each change (by at least 1 ms), so a fire can tell the row it read is current. */
  updated_at: number;
}

/** One fired slot of a schedule: its job (times in epoch ms). */
export interface ScheduleRunRecord {
  schedule: string;
  slot: number;
  job_id: string;
  fired_at: number;
}

/** What a fire of schedule slots writes, decided from the schedule as it was read. */
export interface ScheduleFire {
  name: string;
  /** The row as read: the fire writes nothing if its next_run_at or updated_at has changed, or it was paused. */
  expected: { nextRunAt: number; updatedAt: number };
  /** The slots to record, each with its job. */
  runs: readonly { slot: number; job: PreparedJob }[];
  /** The schedule's next_run_at and last_run_at after the fire. */
  nextRunAt: number | null;
  lastRunAt: number | null;
  now: number;
}

/**
 * Slot records kept per schedule (so `why` can name the slot of a job): at
 * most the last {@linkcode SCHEDULE_RUNS_KEEP}; of those, ones older than
 * {@linkcode SCHEDULE_RUNS_KEEP_MS} only among the last
 * {@linkcode SCHEDULE_RUNS_KEEP_OLD} (a monthly schedule keeps its last
 * months). Pruned in each fire's transaction, and when a schedule is removed.
 */
export const SCHEDULE_RUNS_KEEP = 1000;
/** How long a slot record beyond the last {@linkcode SCHEDULE_RUNS_KEEP_OLD} is kept: 7 days. */
export const SCHEDULE_RUNS_KEEP_MS = 7 * 86_400_000;
/** The last slot records of a schedule kept whatever their age. */
export const SCHEDULE_RUNS_KEEP_OLD = 10;

/** A whole queue's jobs, edges and attempts, read in one snapshot (jobs in seq order). */
export interface QueueDump {
  jobs: JobRecord[];
  edges: EdgeRecord[];
  attempts: AttemptRecord[];
  /** The stored state of each named (or paused, or configured) queue. */
  queues: { name: string; paused: boolean; settings?: SettingsRow }[];
  /** The schedules, by name. */
  schedules: ScheduleRecord[];
  /** The slot records of the schedules (and of schedules removed since). */
  scheduleRuns: ScheduleRunRecord[];
}

/** The refusal to copy schedules the target already has (nothing written). */
export function scheduleCollisionMessage(label: string, names: readonly string[]): string {
  return `Cannot copy into ${label}: it already has schedule${names.length === 1 ? "" : "s"} ${
    names.slice(0, 3).map((n) => JSON.stringify(n)).join(", ")
  }${names.length > 3 ? ` and ${names.length - 3} more` : ""}; nothing was copied (unschedule ` +
    `${names.length === 1 ? "it" : "them"} there first)`;
}

/** What the storage under a backend is now, compared with what it opened. */
export type StorageState = "same" | "deleted" | "replaced";

/** The operations of one queue's storage. */
export interface Backend {
  /** How to open it again elsewhere. */
  readonly spec: BackendSpec;
  /**
   * Grows by one each time the backend had to reconnect (its connection was
   * closed under it): a worker registers again then.
   */
  readonly generation: number;
  /**
   * True when the storage is read as it is, read-only (the `readOnlyFallback`
   * of {@linkcode OpenMode} was taken): writes fail.
   */
  readonly readOnly: boolean;
  /** Connects and creates or upgrades the schema; announces a long upgrade through `log`. */
  open(p: { log?: (level: "info" | "warn", message: string) => void }): Promise<void>;

  /**
   * The queue's schema version as found (0: no queue), this GigQ's, and the
   * statements between them (empty when current); with `apply`, brings the
   * schema up to date as `open` does. Without it, creates and changes nothing.
   */
  migration(p: { apply: boolean }): Promise<MigrationPlan>;

  insertJobs(p: InsertParams): Promise<string[]>;
  /**
   * Inserts jobs within a transaction the application opened on its own
   * client (PostgreSQL only; SQLite has `transaction`): they commit or roll
   * back with it, and workers wake when it commits.
   */
  insertJobsIn?(p: InsertParams & { tx: unknown }): Promise<string[]>;
  /** The worker step, one transaction. Returns the claimed jobs by priority. */
  step(p: StepParams): Promise<Claimed[]>;
  renewLeases(p: RenewParams): Promise<void>;
  /** Records a worker starting; returns what was recorded of its id before, if `previous`. */
  registerWorker(p: WorkerRegistration): Promise<WorkerRecord | undefined>;
  workerStopped(p: { workerId: string; now: number }): Promise<void>;
  /** Whether lease owner `owner` runs a job more than `graceMs` past its timeout. */
  overdue(p: { owner: string; now: number; graceMs: number }): Promise<boolean>;
  /** Ends the running attempts of a lease owner that is gone (see the SQLite store). */
  endAttempts(p: {
    owner: string;
    how: "died" | "terminated";
    message: string;
    now: number;
    graceMs: number;
  }): Promise<string[]>;

  /**
   * Runs `fn` synchronously inside one write transaction, handing it the
   * backend's own connection (for the application's statements) and an
   * insert of prepared jobs in that transaction.
   */
  transaction<T>(p: {
    now: number;
    fn: (tx: { connection: unknown; insertJobs: TxInsert }) => T;
  }): Promise<T>;
  /** Cancels a pending or running job (a running one ends at once; its worker is told). */
  cancel(p: { id: string; now: number }): Promise<boolean>;
  requeue(p: { id: string; now: number }): Promise<boolean>;
  /**
   * Cancels every job matching `filter` (as `cancel` each), in transactions
   * of at most {@linkcode BULK_BATCH} jobs, in seq order; jobs added after
   * it began are left alone. Returns how many it cancelled.
   */
  cancelMany(p: { filter: BulkFilter; now: number }): Promise<number>;
  /**
   * Requeues every job matching `filter` (as `requeue` each, but a job whose
   * unique key is held is skipped, not an error), batched as `cancelMany`.
   * Returns how many it requeued.
   */
  requeueMany(p: { filter: BulkFilter; now: number }): Promise<number>;
  /** The claims (seq and run) lease owner `owner` runs now. */
  runningOf(p: { owner: string }): Promise<{ seq: number; run: number }[]>;
  /** Which of these claims (seq and run) were cancelled while they ran: their seqs. */
  cancelledRuns(p: { runs: readonly { seq: number; run: number }[] }): Promise<number[]>;
  /**
   * Calls `wake` when a job may have ended or been cancelled elsewhere (a
   * hint: callers also poll, slowly). With `id`, also makes that job's end
   * wake this watch where ends are otherwise silent (PostgreSQL). Returns the stop.
   */
  watchEnds(p: {
    id?: string;
    wake: () => void;
    debug: (message: string) => void;
  }): () => void;
  clear(p: { before: number; now: number }): Promise<number>;
  /**
   * One batch of retention, in one short transaction: deletes (with their
   * attempts and edges) at most `limit` ended jobs whose queue's retention
   * (`keepCompleted` for completed jobs, `keepFailed` for failed, timed-out
   * and cancelled ones; the defaults where the queue sets none; never for
   * -1) has passed since they ended, among the next `limit` ×
   * {@linkcode PRUNE_WINDOW} jobs after seq `after`. A job that a job still
   * there depends on is kept (it goes once its children have). The round is
   * over once the next job is newer than any retention: jobs are read in
   * seq order, which is the order they were submitted in.
   */
  prune(p: PruneParams): Promise<PruneBatch>;
  getJob(p: { id: string; now: number }): Promise<JobDetails | undefined>;
  listJobs(p: ListParams): Promise<JobInfo[]>;
  /** How many jobs match, up to `cap` (`exact` false when there are more), in one read. */
  countJobs(p: CountParams): Promise<JobCount>;
  /**
   * The workers table: those not stopped, and with `stopped` also the last
   * {@linkcode STOPPED_WORKERS_SHOWN} that stopped (by when), each with the
   * ids of the jobs running under its id; by last sign of life, latest first.
   */
  workers(p: { stopped: boolean; now: number }): Promise<WorkerInfo[]>;
  /**
   * The jobs that completed, and those that failed or timed out, per minute
   * (by `completed_at`) from `since` (a minute's start, epoch ms) for
   * `minutes` minutes, of one queue or of all: only minutes with some.
   */
  activity(
    p: { since: number; minutes: number; queue: string | undefined; now: number },
  ): Promise<ActivityRow[]>;
  /** Counts per status, of one queue's jobs or (queue undefined) of all. */
  stats(p: { queue: string | undefined; now: number }): Promise<QueueStats>;
  /** Every queue with jobs or a stored state, by name. */
  queueList(p: { now: number }): Promise<QueueInfo[]>;
  /**
   * Records running attempts' progress (fenced: an attempt that no longer
   * holds its job writes nothing).
   */
  setProgress(
    p: { rows: readonly { seq: number; run: number; progress: string }[] },
  ): Promise<void>;
  /**
   * Applies `config` (validated) to queue `queue`'s stored settings, in one
   * transaction; returns the settings stored.
   */
  configureQueue(p: { queue: string; config: QueueConfig; now: number }): Promise<QueueSettings>;
  /**
   * How full queue `queue`'s limits are now (for `why`): its settings, its
   * running jobs (in all, and of concurrency key `key`), and the times of
   * its starts in its rate window, oldest first.
   */
  limitState(p: { queue: string; key: string | null; now: number }): Promise<LimitState>;
  /** Whether queue `queue` is paused. */
  isPaused(p: { queue: string }): Promise<boolean>;
  /** Pauses or resumes a queue (kept in storage; a queue without jobs may be paused). */
  setPaused(p: { queue: string; paused: boolean; now: number }): Promise<void>;
  /** The workers' last signs of life and live task lists, in one read. */
  workerFacts(p: { workerId?: string; liveSince: number; now: number }): Promise<WorkerFacts>;
  /**
   * Writes a consistent copy of the storage to the new file `dest` (an
   * absolute path that must not exist; its directory must): all of it or,
   * on failure, nothing.
   */
  backup(p: { dest: string; now: number }): Promise<void>;

  /** Every job, edge and attempt, from one consistent snapshot. */
  exportQueue(p: { now: number }): Promise<QueueDump>;
  /**
   * Inserts `dump` in one transaction, keeping ids and the order of seqs
   * (renumbered after the jobs already there) and remapping what refers to
   * them. Refuses, writing nothing, a storage that holds jobs (unless
   * `force`) or any job with an id of the dump.
   */
  importQueue(p: { dump: QueueDump; force: boolean; now: number }): Promise<void>;

  /** Every schedule, by name; with `tasks`, only those of these tasks. */
  listSchedules(p: { tasks?: readonly string[]; now: number }): Promise<ScheduleRecord[]>;
  /**
   * Creates or updates schedule `name` in one transaction: `merge` is given
   * the stored row (locked until the write; undefined if there is none) and
   * returns the row to store. Resolves to the stored row.
   */
  saveSchedule(p: {
    name: string;
    merge: (stored: ScheduleRecord | undefined) => ScheduleRecord;
    now: number;
  }): Promise<ScheduleRecord>;
  /**
   * Deletes schedule `name` (its recent slot records stay, for `why`);
   * whether it existed.
   */
  deleteSchedule(p: { name: string; now: number }): Promise<boolean>;
  /**
   * Fires slots of a schedule in one transaction, if the schedule is still
   * as read (see {@linkcode ScheduleFire.expected}; on PostgreSQL its row is
   * locked, and one locked by another fire counts as changed): records each
   * slot (a slot recorded before is skipped, with its job), inserts the
   * jobs, moves next_run_at and last_run_at, and prunes the schedule's slot
   * records (see {@linkcode SCHEDULE_RUNS_KEEP}). Resolves to the ids of the
   * jobs inserted, or undefined when the schedule had changed (nothing
   * written).
   */
  fireSchedule(p: ScheduleFire): Promise<string[] | undefined>;
  /** The slot record of the schedule slot that made job `jobId`, if one did. */
  scheduleRunOf(p: { jobId: string }): Promise<ScheduleRunRecord | undefined>;

  /** The next moment something may become claimable (a delayed job, a lease), if known. */
  nextWake(p: { now: number }): Promise<number | undefined>;
  /**
   * While a worker is idle: calls `wake` when work for `tasks` may have
   * arrived from elsewhere (another process's commit). Returns the stop.
   */
  watch(p: {
    tasks: readonly string[];
    /** The queues the worker serves (undefined: every queue). */
    queues: readonly string[] | undefined;
    now: () => number;
    wake: () => void;
    debug: (message: string) => void;
    /** How often to look where nothing can be watched, in milliseconds. */
    intervalMs?: number;
    /** False: nothing to watch (the worker only polls). */
    enabled?: boolean;
  }): () => void;
  /** Calls `listener` after each commit of new work in this isolate. Returns the unsubscribe. */
  onLocalCommit(listener: () => void): () => void;
  /** Tells this isolate's listeners that new work was committed. */
  notifyLocalCommit(): void;
  /** Whether the storage was deleted or replaced since it was opened. */
  storageState(): StorageState;
  /** Lets go of the storage; the next operation opens what is there now. */
  reopen(): void;
  /** An opaque token the parent of a Web Worker uses to free what a terminated one left open. */
  releaseToken(): string | undefined;
  /** Lets go of the storage for good. Safe to call twice. */
  close(): void;

  // ---- The key-value table (gigq_kv), for the Deno KV-style facade (src/kv/) ----
  /** The entry of canonical key `key`, if there is one. */
  kvGet(p: { key: string }): Promise<KvRow | undefined>;
  /** The entries whose canonical key starts with `prefix`, by key, at most `limit`. */
  kvList(p: { prefix: string; limit: number }): Promise<KvRow[]>;
  /** Sets (inserts or replaces) entries, in one transaction. */
  kvSet(p: { entries: readonly KvEntry[]; now: number }): Promise<void>;
  /** Deletes the entry of canonical key `key`; whether there was one. */
  kvDelete(p: { key: string }): Promise<boolean>;
}

/**
 * The error of an attempt whose lease expired (times in epoch ms). A lease is
 * capped at the attempt's deadline (plus a grace): reaching the cap means the
 * attempt timed out with no live worker to record it.
 */
export function lapseMessage(
  p: { workerId: unknown; startedAt: number; leaseUntil: number; timeout: number },
): string {
  return p.leaseUntil >= p.startedAt + p.timeout * 1000
    ? `Job timed out after ${p.timeout} seconds and worker ${p.workerId} did not record it ` +
      `(the worker died or its event loop was blocked); the attempt was abandoned`
    : `Worker ${p.workerId} stopped renewing its lease (expired ${
      new Date(p.leaseUntil).toISOString()
    }); the attempt was abandoned`;
}

/** The error a job cancelled because of `rootId` carries. */
export function cascadeMessage(rootId: string, rootStatus: string): string {
  const what = rootStatus === "failed"
    ? "failed"
    : rootStatus === "timeout"
    ? "timed out"
    : "was cancelled";
  return `Cancelled: dependency ${rootId} ${what}`;
}

// ---- The key-value table and failure extras, for the Deno KV-style facade (src/kv/) ----

/** One entry to write to the key-value table: its canonical key and its JSON value. */
export interface KvEntry {
  /** The key's canonical text (the JSON of its parts). */
  key: string;
  /** The value, as JSON. */
  value: string;
}

/** One stored entry of the key-value table. */
export interface KvRow extends KvEntry {
  /** When it was last written (epoch ms, the writer's clock). */
  updatedAt: number;
}

/**
 * What a failed attempt's handler asks for besides the failure, carried by
 * the error it throws under {@linkcode FAILURE_EXTRAS} (the KV facade's
 * handler does; no public API sets it).
 */
export interface FailureExtras {
  /** The wait before the retry, in ms, instead of the job's retry delay. */
  retryInMs?: number;
  /** Entries set in the key-value table in the transaction that ends the job, if this failure does. */
  setIfFinal?: readonly KvEntry[];
}

/** The key under which a thrown error carries its {@linkcode FailureExtras}. */
export const FAILURE_EXTRAS: unique symbol = Symbol("gigq.failureExtras");

/** The {@linkcode FailureExtras} a thrown value carries, if any. */
export function failureExtras(thrown: unknown): FailureExtras | undefined {
  if (typeof thrown !== "object" || thrown === null) return undefined;
  const extras = (thrown as { [FAILURE_EXTRAS]?: unknown })[FAILURE_EXTRAS];
  return typeof extras === "object" && extras !== null ? extras as FailureExtras : undefined;
}
