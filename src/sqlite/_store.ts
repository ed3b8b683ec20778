/**
 * The SQLite backend's statements, grouped by operation. Every method here
 * is synchronous and runs inside one transaction opened by the caller
 * (`SqliteBackend`, which implements the async `Backend` seam on top).
 */
import {
  collisionMessage,
  iso,
  isoOrNull,
  JOB_RECORD_COLUMNS,
  notEmptyMessage,
  toAttemptRecord,
  toEdgeRecord,
  toJobInfo,
  toJobRecord,
} from "../_job_row.ts";
import { fromJson, type JsonValue } from "../_json.ts";
import {
  type ActivityRow,
  beforeNotFoundMessage,
  type BulkFilter,
  CANCELLED_WHILE_RUNNING,
  cascadeMessage,
  type Claimed,
  type Claimer,
  type JobFilter,
  keyHeldMessage,
  lapseMessage,
  type LimitState,
  type Outcome,
  type PreparedJob,
  PRUNE_WINDOW,
  type PruneBatch,
  type PruneParams,
  type QueueDump,
  SCHEDULE_RUNS_KEEP_MS,
  scheduleCollisionMessage,
  type ScheduleFire,
  type ScheduleRecord,
  type ScheduleRunRecord,
  type StepParams,
  STOPPED_WORKERS_SHOWN,
} from "../_backend.ts";
import type { FailureExtras, KvEntry, KvRow } from "../_backend.ts";
import { SCHEDULE_COLUMNS, toScheduleRecord, toScheduleRunRecord } from "../_schedule_row.ts";
import {
  claimRangeParams,
  claimSql,
  countJobsSql,
  insertReadyJobsSql,
  listJobsSql,
  READY_JOB_VALUES,
  READY_JOBS_PER_STATEMENT,
  SQL,
} from "./_sql.ts";
import { JobNotFoundError } from "../errors.ts";
import { type Backoff, type Job, retryDelaySeconds } from "../job.ts";
import type { JobStatus } from "../job_status.ts";
import type { Connection, SqlValue } from "./connection.ts";
import { SqliteError } from "./connection.ts";
import { diskFullMessage, readOnlyMessage } from "./_file_errors.ts";
import { retryBusy } from "./_busy.ts";
import { migrate } from "./schema.ts";
import {
  applyConfig,
  DEFAULT_KEEP_COMPLETED,
  DEFAULT_KEEP_FAILED,
  isLimited,
  NO_SETTINGS,
  type QueueConfig,
  type QueueSettings,
  type SettingsRow,
  settingsValues,
  toSettings,
} from "../queue_config.ts";
import {
  type ExecutionInfo,
  type JobCount,
  type JobDetails,
  type JobInfo,
  type QueueInfo,
  queueInfos,
  type WorkerInfo,
  workerInfos,
} from "../job_info.ts";

/** The error a job cancelled because of another job's end carries (shared by the backends). */
export { cascadeMessage };

/** A job of a batch (or the one holding its unique key), as later jobs of the batch see it. */
interface BatchEntry {
  seq: number;
  status: string;
  root: number | null;
  id: string;
}

/** The claim statements for a number of (queue, task) ranges, built once each. */
const plans = new Map<number, { one: string; many: string }>();

function claimPlan(ranges: number): { one: string; many: string } {
  let plan = plans.get(ranges);
  if (plan === undefined) {
    plan = { one: claimSql(ranges, true), many: claimSql(ranges, false) };
    plans.set(ranges, plan);
  }
  return plan;
}

/** The settings in a row of SQL.queueSettings (six columns from `at`). */
function rowOfSettings(r: readonly SqlValue[], at = 0): SettingsRow {
  const n = (v: unknown) => v === null ? null : Number(v);
  return {
    concurrency: n(r[at]),
    key_concurrency: n(r[at + 1]),
    rate_max: n(r[at + 2]),
    rate_per: n(r[at + 3]),
    keep_completed: n(r[at + 4]),
    keep_failed: n(r[at + 5]),
  };
}

/** The settings in a row of SQL.queueStates (after the name and paused). */
const rowOfStates = (r: readonly SqlValue[]) => rowOfSettings(r, 2);

/** The 15 values of SQL.insertReadyJob for `job` (insertReadyKeyedJob takes its key after them). */
function readyJobValues(job: Job, params: string, now: number): SqlValue[] {
  return [
    job.id,
    job.name,
    job.task,
    job.module ?? null,
    params,
    job.priority,
    job.maxAttempts,
    job.timeout,
    job.retryDelay,
    job.backoff,
    job.description,
    job.runAt ?? now,
    now,
    job.queue,
    job.maxRetryDelay,
  ];
}

/** Most concurrency keys a claim of a queue with a per-key limit looks at. */
const KEYS_PER_CLAIM = 1000;

/** The default queue alone: what a worker of every queue serves while no queue is named. */
const DEFAULT_ONLY: readonly string[] = Object.freeze(["default"]);

const stores = new WeakMap<Connection, Store>();

const warnToStderr = (level: "info" | "warn", message: string) => {
  if (level === "warn") console.error(`gigq warn: ${message}`);
};
const migrated = new WeakSet<Connection>();

/**
 * Runs `fn`. SQLite says "attempt to write a readonly database" or "database
 * or disk is full" without naming the file; a process with several databases
 * open needs to know which one, so such an error `fn` throws is rethrown
 * naming `path` and saying what to do.
 */
function namingFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof SqliteError) || !(error.readOnly || error.diskFull)) throw error;
    const message = error.readOnly ? readOnlyMessage(path) : diskFullMessage(path);
    throw new SqliteError(message, error.code, { cause: error });
  }
}

/** The statements of {@linkcode insertReadyJobsSql}, by their number of rows. */
const readyJobsSqls: string[] = [];
const readyJobsSql = (rows: number) => (readyJobsSqls[rows] ??= insertReadyJobsSql(rows));

/** Whether `error` is SQLite refusing a second job with the same id (SQLITE_CONSTRAINT_UNIQUE). */
const isDuplicateId = (error: unknown) => error instanceof SqliteError && error.code === 2067;

/** What submitting a job whose id is already in the file says. */
function duplicateIdError(job: Job): RangeError {
  return new RangeError(
    `Cannot submit job ${JSON.stringify(job.name)}: a job with id ${job.id} was already ` +
      `submitted (create a new Job to run the task again)`,
  );
}

/** Storage operations bound to one connection. */
export class Store {
  readonly conn: Connection;

  private constructor(conn: Connection) {
    this.conn = conn;
  }

  /**
   * The store for `conn`, creating or upgrading the schema on first use
   * (an upgrade of a database with many jobs is logged before it starts).
   */
  static async open(
    conn: Connection,
    log: (level: "info" | "warn", message: string) => void = warnToStderr,
  ): Promise<Store> {
    if (!migrated.has(conn)) {
      await retryBusy(() => namingFile(conn.path, () => migrate(conn, log)));
      migrated.add(conn);
    }
    let store = stores.get(conn);
    if (store === undefined) {
      store = new Store(conn);
      stores.set(conn, store);
    }
    return store;
  }

  /** Runs `fn` in a write transaction, retrying while the database is locked. */
  write<T>(fn: () => T): Promise<T> {
    // Named inside the synchronous attempt: no extra promise on the worker's hot path.
    return retryBusy(() => namingFile(this.conn.path, () => this.conn.transaction(fn, "write")));
  }

  /** Runs `fn` in a read transaction (one consistent snapshot). */
  read<T>(fn: () => T): Promise<T> {
    return retryBusy(() => this.conn.transaction(fn, "read"));
  }

  #stmt(sql: string) {
    return this.conn.prepare(sql);
  }

  /**
   * Inserts jobs already ordered parents-first; returns their ids. A job
   * whose unique key a pending or running job of its queue holds is not
   * inserted: its id in the result is the holder's (and a later job of the
   * batch that depends on it depends on the holder).
   */
  insertJobs(jobs: readonly PreparedJob[], now: number, traceContext?: string): string[] {
    const ids: string[] = new Array(jobs.length);
    let j = 0;
    try {
      // Only a batch with dependencies needs to remember what it inserted.
      const batch = jobs.some((p) => p.job.dependencies.length > 0)
        ? new Map<string, BatchEntry>()
        : undefined;
      // The named queues this call has recorded (in this same transaction).
      let named: Set<string> | undefined;
      // jobs[plain..j) have no dependencies or keys and are not inserted yet.
      let plain = 0;
      for (; j < jobs.length; j++) {
        const { job, params } = jobs[j];
        if (job.queue !== "default" && !(named ??= new Set()).has(job.queue)) {
          this.#nameQueue(job.queue, now);
          named.add(job.queue);
        }
        const key = job.uniqueKey;
        if (batch === undefined && key === undefined && job.concurrencyKey === undefined) {
          // Inserted with the plain jobs beside it, many a statement, in the batch's order.
          ids[j] = job.id;
          continue;
        }
        if (plain < j) this.#insertPlain(jobs, plain, j, now);
        plain = j + 1;
        if (job.dependencies.length === 0 && job.concurrencyKey === undefined) {
          const values = readyJobValues(job, params, now);
          if (key !== undefined) values.push(key);
          const { changes, lastInsertRowid: seq } = this.#stmt(
            key === undefined ? SQL.insertReadyJob : SQL.insertReadyKeyedJob,
          ).run(...values);
          const entry = changes > 0
            ? { seq, status: "pending", root: null, id: job.id }
            : this.#holder(job.queue, key!);
          ids[j] = entry.id;
          batch?.set(job.id, entry);
        } else {
          ids[j] = this.#insertDependent(job, params, now, batch);
        }
      }
      if (plain < j) this.#insertPlain(jobs, plain, j, now);
    } catch (e) {
      if (isDuplicateId(e) && j < jobs.length) throw duplicateIdError(jobs[j].job);
      throw e;
    }
    if (traceContext !== undefined) this.#setTraceContext(jobs, ids, traceContext);
    return ids;
  }

  /**
   * Writes the submit span's trace context on the jobs this call inserted
   * (not on a holder of a unique key), in the insert's transaction: a
   * statement apart, so that the inserts telemetry-off submits run stay as
   * they are.
   */
  #setTraceContext(jobs: readonly PreparedJob[], ids: readonly string[], traceContext: string) {
    const inserted = ids.filter((id, i) => id === jobs[i].job.id);
    if (inserted.length === 0) return;
    this.#stmt(SQL.setTraceContext).run(traceContext, JSON.stringify(inserted));
  }

  /**
   * Inserts `jobs[from..to)`, jobs without dependencies, unique key or
   * concurrency key, up to {@linkcode READY_JOBS_PER_STATEMENT} a statement:
   * statements of 64, 32, 16, ... rows, so a few prepared statements serve
   * every batch size. A statement refused for a duplicate id is undone alone
   * (the transaction goes on), and its rows are tried one at a time to name
   * the job.
   */
  #insertPlain(jobs: readonly PreparedJob[], from: number, to: number, now: number): void {
    for (let i = from; i < to;) {
      let rows = READY_JOBS_PER_STATEMENT;
      while (rows > to - i) rows >>= 1;
      if (rows === 1) {
        try {
          this.#insertOnePlain(jobs[i], now);
        } catch (e) {
          throw isDuplicateId(e) ? duplicateIdError(jobs[i].job) : e;
        }
        i++;
        continue;
      }
      const values: SqlValue[] = new Array(rows * READY_JOB_VALUES);
      let v = 0;
      for (let r = i; r < i + rows; r++) {
        const { job, params } = jobs[r];
        const runAt = job.runAt ?? now;
        values[v++] = job.id;
        values[v++] = job.name;
        values[v++] = job.task;
        values[v++] = job.module ?? null;
        values[v++] = params;
        values[v++] = job.priority;
        values[v++] = job.maxAttempts;
        values[v++] = job.timeout;
        values[v++] = job.retryDelay;
        values[v++] = job.backoff;
        values[v++] = job.description;
        values[v++] = runAt;
        values[v++] = runAt > now ? 1 : 0;
        values[v++] = now;
        values[v++] = now;
        values[v++] = job.queue;
        values[v++] = job.maxRetryDelay;
      }
      try {
        this.#stmt(readyJobsSql(rows)).run(...values);
      } catch (error) {
        if (!isDuplicateId(error)) throw error;
        for (let r = i; r < i + rows; r++) {
          try {
            this.#insertOnePlain(jobs[r], now);
          } catch (e) {
            throw isDuplicateId(e) ? duplicateIdError(jobs[r].job) : e;
          }
        }
        throw error;
      }
      i += rows;
    }
  }

  /** Inserts one job without dependencies, unique key or concurrency key (15 values). */
  #insertOnePlain({ job, params }: PreparedJob, now: number): void {
    this.#stmt(SQL.insertReadyJob).run(...readyJobValues(job, params, now));
  }

  /**
   * Records named queue `queue` in gigq_queues (a worker of every queue reads
   * it), in the submit's transaction: a statement for each job outside
   * 'default', nothing for the others.
   */
  #nameQueue(queue: string, now: number): void {
    this.#stmt(SQL.nameQueue).run(queue, now);
  }

  /** The job holding `key` in `queue` (found in the same transaction as the insert it stopped). */
  #holder(queue: string, key: string): BatchEntry {
    const row = this.#stmt(SQL.keyHolder).values(queue, key)[0];
    return {
      seq: Number(row[0]),
      status: row[1] as string,
      root: row[2] === null ? null : Number(row[2]),
      id: row[3] as string,
    };
  }

  /** Inserts a job that has dependencies, with its edges; records it in `batch`; returns its id. */
  #insertDependent(
    job: Job,
    params: string,
    now: number,
    batch: Map<string, BatchEntry> | undefined,
  ): string {
    let parentsLeft = 0;
    let status = "pending";
    let root: number | null = null;
    const parentSeqs: number[] = [];
    const parentIds: string[] = [];
    for (const depId of job.dependencies) {
      let parent = batch?.get(depId);
      if (parent === undefined) {
        const row = this.#stmt(SQL.findParent).values(depId)[0];
        if (row === undefined) {
          throw new JobNotFoundError(
            depId,
            `Cannot submit job ${JSON.stringify(job.name)}: its dependency ${
              JSON.stringify(depId)
            } does not exist (submit it first, or in the same submitMany call)`,
          );
        }
        parent = {
          seq: Number(row[0]),
          status: row[1] as string,
          root: row[2] === null ? null : Number(row[2]),
          id: depId,
        };
      }
      // A parent of the batch left out for its unique key: the job that holds the key.
      if (parentSeqs.includes(parent.seq)) continue;
      parentSeqs.push(parent.seq);
      parentIds.push(parent.id);
      if (parent.status !== "completed") parentsLeft++;
      if (
        status === "pending" &&
        (parent.status === "failed" || parent.status === "timeout" ||
          parent.status === "cancelled")
      ) {
        status = "cancelled";
        root = parent.root ?? parent.seq;
      }
    }
    let error: string | null = null;
    if (root !== null) {
      const r = this.#stmt(SQL.jobBySeq).values(root)[0];
      error = cascadeMessage(String(r?.[0]), String(r?.[2]));
    }
    const runAt = job.runAt ?? now;
    const key = job.uniqueKey ?? null;
    const { changes, lastInsertRowid: seq } = this.#stmt(SQL.insertJob).run(
      job.id,
      job.name,
      job.task,
      job.module ?? null,
      params,
      job.priority,
      job.maxAttempts,
      job.timeout,
      job.retryDelay,
      job.backoff,
      job.description,
      JSON.stringify(parentIds),
      status,
      runAt,
      runAt > now ? 1 : 0,
      parentsLeft,
      error,
      root,
      status === "cancelled" ? now : null,
      now,
      job.queue,
      key,
      job.maxRetryDelay,
      job.concurrencyKey ?? null,
    );
    if (changes === 0) {
      const holder = this.#holder(job.queue, key!);
      batch?.set(job.id, holder);
      return holder.id;
    }
    for (let i = 0; i < parentSeqs.length; i++) {
      this.#stmt(SQL.insertEdge).run(parentSeqs[i], seq, i);
      this.#stmt(SQL.addChild).run(parentSeqs[i]);
    }
    batch?.set(job.id, { seq, status, root, id: job.id });
    return job.id;
  }

  /**
   * One worker step: record `outcomes`, return expired leases to the queue,
   * and claim up to `limit` ready jobs. Returns the claimed jobs by priority.
   */
  cycle(p: StepParams): Claimed[] {
    for (const outcome of p.outcomes) this.finish(outcome, p.now);
    this.reapExpired(p.now);
    if (p.limit <= 0 || p.claimer.tasks.length === 0) return [];
    return this.claim(p.claimer, p.limit, p.now);
  }

  /**
   * Claims up to `limit` ready jobs of the claimer's tasks: first from the
   * limited queues it serves (each up to what its limits leave), then from
   * the others.
   */
  claim(c: Claimer, limit: number, now: number): Claimed[] {
    if (this.#stmt(SQL.due).values(now)[0][0] === 1) this.#stmt(SQL.promote).run(now);
    const { open, limited } = this.servedQueues(c.queues);
    const claimed: Claimed[] = [];
    for (const [queue, settings] of limited) {
      if (claimed.length >= limit) break;
      this.#claimLimited(c, queue, settings, limit - claimed.length, now, claimed);
    }
    const left = limit - claimed.length;
    if (open.length > 0 && left > 0) this.#claimFrom(c, open, left, now, claimed);
    if (claimed.length > 1) {
      claimed.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.seq - b.seq);
    }
    if (c.traced === true) {
      const read = this.#stmt(SQL.traceContextOf);
      for (const job of claimed) job.traceContext = read.values(job.seq)[0][0] as string | null;
    }
    return claimed;
  }

  /** Claims up to `limit` ready jobs of the claimer's tasks in `queues` into `out`. */
  #claimFrom(c: Claimer, queues: readonly string[], limit: number, now: number, out: Claimed[]) {
    const { params, ranges } = claimRangeParams(queues, c.tasks);
    const plan = claimPlan(ranges);
    const rows = this.#stmt(limit === 1 ? plan.one : plan.many).values(
      c.workerId,
      now,
      now + c.leaseMs,
      limit,
      c.graceMs,
      c.owner,
      ...params,
    );
    this.#claimed(rows, c.workerId, now, out);
  }

  /** Adds the jobs of claim rows (see claimSql's RETURNING) to `out`. */
  #claimed(rows: SqlValue[][], workerId: string, now: number, out: Claimed[]): void {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const job: Claimed = {
        seq: r[0] as number,
        id: r[1] as string,
        name: r[2] as string,
        task: r[3] as string,
        params: r[4] as string,
        attempt: r[5] as number,
        maxAttempts: r[6] as number,
        timeout: r[7] as number,
        retryDelay: r[8] as number,
        backoff: r[9] as Backoff,
        run: r[10] as number,
        children: r[11] as number,
        hasParents: r[12] === 1,
        priority: r[13] as number,
        runAt: r[14] as number,
        queue: r[15] as string,
        maxRetryDelay: r[16] as number,
        workerId,
        startedAt: now,
        parentResults: undefined,
      };
      if (job.hasParents) {
        const results: Record<string, JsonValue> = {};
        for (const [id, result] of this.#stmt(SQL.parentResults).values(job.seq)) {
          results[id as string] = fromJson(result);
        }
        job.parentResults = results;
      }
      out.push(job);
    }
  }

  /**
   * How many more jobs limited queue `queue` may start now, up to `want`:
   * what its concurrency (its running jobs counted, in this transaction)
   * and its rate (its starts in the window) leave.
   */
  #room(
    queue: string,
    s: SettingsRow,
    want: number,
    now: number,
    latest: number | undefined,
  ): number {
    let room = want;
    if (s.concurrency !== null) {
      room = Math.min(
        room,
        s.concurrency - Number(this.#stmt(SQL.runningInQueue).values(queue)[0][0]),
      );
    }
    if (s.rate_max !== null && s.rate_per !== null && room > 0) {
      // Only starts no later claim can count: those a window before the
      // latest start (a claim's time is never before it, see #claimLimited).
      this.#stmt(SQL.dropStarts).run(queue, (latest ?? now) - s.rate_per);
      room = Math.min(
        room,
        s.rate_max - this.#stmt(SQL.startsSince).values(queue, now - s.rate_per).length,
      );
    }
    return room;
  }

  /**
   * Claims up to `want` jobs of limited queue `queue` into `out`, as its
   * limits allow. Safe without locks of its own: the claim runs in a write
   * transaction, so no other claim counts the same running jobs meanwhile.
   */
  #claimLimited(
    c: Claimer,
    queue: string,
    s: SettingsRow,
    want: number,
    now: number,
    out: Claimed[],
  ): void {
    let latest: number | undefined;
    if (s.rate_max !== null) {
      // The claim's time is its caller's, read before it waited for the
      // write lock; another process may since have claimed at a later time.
      // Claims of a rate-limited queue take the later of the two, so the
      // starts' times only grow and each claim counts the window they end.
      const t = this.#stmt(SQL.latestStart).values(queue)[0]?.[0];
      if (typeof t === "number") latest = t;
      if (latest !== undefined && latest > now) now = latest;
    }
    const room = this.#room(queue, s, want, now, latest);
    if (room <= 0) return;
    const before = out.length;
    if (s.key_concurrency === null) {
      this.#claimFrom(c, [queue], room, now, out);
    } else {
      const seqs = this.#keyedChoice(queue, c.tasks, s.key_concurrency, room);
      if (seqs.length === 0) return;
      const rows = this.#stmt(SQL.claimSeqs).values(
        c.workerId,
        now,
        now + c.leaseMs,
        null,
        c.graceMs,
        c.owner,
        JSON.stringify(seqs),
      );
      this.#claimed(rows, c.workerId, now, out);
    }
    if (s.rate_max !== null) {
      for (let i = before; i < out.length; i++) this.#stmt(SQL.recordStart).run(queue, now);
    }
  }

  /**
   * The seqs of up to `room` ready jobs of a queue with a per-key limit,
   * in claim order: the best jobs of each key that has room (at most
   * `perKey` running), and of jobs without a key. Keys are found one index
   * seek each (never by reading a busy key's backlog), at most
   * {@linkcode KEYS_PER_CLAIM} a claim, taking turns from where the last
   * claim stopped.
   */
  #keyedChoice(queue: string, tasks: readonly string[], perKey: number, room: number): number[] {
    const running = new Map<string, number>();
    for (const [key, n] of this.#stmt(SQL.runningByKey).values(queue)) {
      running.set(key as string, Number(n));
    }
    const candidates: { seq: number; priority: number; runAt: number }[] = [];
    const taskList = JSON.stringify(tasks);
    const start = this.#keyCursor.get(queue) ?? "";
    let key = start;
    let wrapped = start === "";
    for (let seen = 0; seen < KEYS_PER_CLAIM;) {
      const next = this.#stmt(SQL.nextReadyKey).values(queue, key)[0]?.[0] as string | undefined;
      if (next === undefined || (wrapped && start !== "" && next > start)) {
        if (wrapped) break;
        wrapped = true;
        key = "";
        continue;
      }
      key = next;
      seen++;
      const free = perKey - (running.get(key) ?? 0);
      if (free <= 0) continue;
      for (
        const [seq, priority, runAt] of this.#stmt(SQL.readyOfKey).values(
          queue,
          key,
          taskList,
          Math.min(free, room),
        )
      ) {
        candidates.push({
          seq: seq as number,
          priority: priority as number,
          runAt: runAt as number,
        });
      }
    }
    this.#keyCursor.set(queue, key);
    for (const task of tasks) {
      for (
        const [seq, priority, runAt] of this.#stmt(SQL.readyWithoutKey).values(queue, task, room)
      ) {
        candidates.push({
          seq: seq as number,
          priority: priority as number,
          runAt: runAt as number,
        });
      }
    }
    candidates.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.seq - b.seq);
    return candidates.slice(0, room).map((c) => c.seq);
  }

  /** Per limited queue, the key after which its next claim looks first. */
  #keyCursor = new Map<string, string>();

  /**
   * The queues a claim reads, in this transaction: those `served` (undefined:
   * 'default' and every named queue) that are not paused, apart (`limited`,
   * with their settings) those with a limit the claim must count.
   */
  servedQueues(
    served: readonly string[] | undefined,
  ): { open: readonly string[]; limited: [string, SettingsRow][] } {
    const states = this.#stmt(SQL.queueStates).values();
    if (states.length === 0) return { open: served ?? DEFAULT_ONLY, limited: [] };
    const skip = new Set<string>();
    const limited: [string, SettingsRow][] = [];
    const named: string[] = [];
    const wanted = served === undefined ? undefined : new Set(served);
    for (const r of states) {
      const name = r[0] as string;
      if (r[1] === 1) {
        skip.add(name);
        continue;
      }
      const settings = rowOfStates(r);
      if (isLimited(settings)) {
        skip.add(name);
        if (wanted === undefined || wanted.has(name)) limited.push([name, settings]);
      } else if (name !== "default") {
        named.push(name);
      }
    }
    const all = served ?? ["default", ...named];
    return { open: skip.size === 0 ? all : all.filter((q) => !skip.has(q)), limited };
  }

  /**
   * Records how an attempt ended. Fenced: if the attempt no longer owns the
   * job (it timed out, or its lease expired and another worker took it),
   * nothing changes and this returns false.
   */
  finish(o: Outcome, now: number): boolean {
    const job = o.job;
    // The handler's last progress, before the outcome (which a retry clears).
    if (job.progress !== undefined && o.kind !== "released") {
      this.#stmt(SQL.setProgress).run(job.progress, job.seq, job.run);
    }
    if (o.kind === "completed") {
      // The job's row is the record of its completed attempt: no attempts row.
      // Its children, as they are now, are released by the schema's trigger.
      return this.#stmt(SQL.complete).run(o.result, now, job.seq, job.run).changes > 0;
    }
    if (o.kind === "released") {
      if (this.#stmt(SQL.release).run(o.reason, now, job.seq, job.run).changes === 0) return false;
      this.#execution(job, "cancelled", now, o.reason);
      return true;
    }
    return this.#endAttempt(
      job.seq,
      job.id,
      job.run,
      job.attempt,
      job.maxAttempts,
      job.retryDelay,
      job.backoff,
      job.maxRetryDelay,
      job.children,
      o.permanent,
      o.kind,
      o.error,
      o.detail,
      job.workerId,
      job.startedAt,
      now,
      o.extras,
    );
  }

  #execution(job: Claimed, status: string, now: number, error: string | null): void {
    this.#stmt(SQL.insertExecution).run(
      job.seq,
      job.run,
      job.attempt,
      job.workerId,
      status,
      job.startedAt,
      now,
      error,
    );
  }

  #endAttempt(
    seq: number,
    id: string,
    run: number,
    attempt: number,
    maxAttempts: number,
    retryDelay: number,
    backoff: Backoff,
    maxRetryDelay: number,
    _children: number, // as claimed; the row says what it is now
    permanent: boolean,
    kind: "failed" | "timeout",
    error: string,
    detail: string,
    workerId: string,
    startedAt: number,
    now: number,
    extras?: FailureExtras,
  ): boolean {
    let changed: number;
    if (!permanent && attempt < maxAttempts) {
      const runAt = now + (extras?.retryInMs ??
        Math.round(retryDelaySeconds(retryDelay, backoff, attempt, maxRetryDelay) * 1000));
      changed = this.#stmt(SQL.retry).run(error, now, runAt, runAt > now ? 1 : 0, seq, run)
        .changes;
    } else {
      // Its children as they are now (not as claimed): one may have come since.
      const row = this.#stmt(SQL.fail).values(kind, error, now, seq, run)[0];
      changed = row === undefined ? 0 : 1;
      if (row !== undefined && (row[0] as number) > 0) this.cascade(seq, id, kind, now);
      // The facade's keysIfUndelivered: written with the failure that ends the job, or not at all.
      if (row !== undefined && extras?.setIfFinal !== undefined) this.kvSet(extras.setIfFinal, now);
    }
    if (changed === 0) return false;
    this.#stmt(SQL.insertExecution).run(seq, run, attempt, workerId, kind, startedAt, now, detail);
    return true;
  }

  /** Ends attempts whose worker stopped renewing the lease. Returns how many. */
  reapExpired(now: number): number {
    const rows = this.#stmt(SQL.expiredLeases).values(now);
    for (const r of rows) {
      const message = lapseMessage({
        workerId: r[7],
        startedAt: Number(r[8]),
        leaseUntil: Number(r[9]),
        timeout: Number(r[11]),
      });
      this.#endAttempt(
        r[0] as number,
        r[1] as string,
        r[2] as number,
        r[3] as number,
        r[4] as number,
        r[5] as number,
        r[6] as Backoff,
        r[12] as number,
        r[10] as number,
        false,
        "timeout",
        message,
        message,
        r[7] as string,
        r[8] as number,
        now,
      );
    }
    return rows.length;
  }

  /** Cancels every pending descendant of job `seq`, which ended with `status`. */
  cascade(seq: number, id: string, status: string, now: number): void {
    this.#stmt(SQL.cascadeCancel).run(seq, cascadeMessage(id, status), seq, now);
  }

  /**
   * Renews the leases of what `owner` (one Worker object) claimed, capped at
   * each attempt's deadline plus `graceMs`, and records that `workerId` was seen.
   */
  heartbeat(
    p: { owner: string; workerId: string; now: number; leaseMs: number; graceMs: number },
  ): void {
    this.#stmt(SQL.renewLeases).run(p.now + p.leaseMs, p.owner, p.graceMs);
    this.#stmt(SQL.workerSeen).run(p.workerId, p.now);
  }

  /** The last record of worker `workerId`, if any. */
  workerRow(
    workerId: string,
  ): { host: string; pid: number; seenAt: number; stoppedAt: number | null } | undefined {
    const r = this.#stmt(SQL.workerById).values(workerId)[0];
    if (r === undefined) return undefined;
    return {
      host: String(r[0]),
      pid: Number(r[1]),
      seenAt: Number(r[2]),
      stoppedAt: r[3] === null ? null : Number(r[3]),
    };
  }

  /** Records a worker starting. */
  registerWorker(
    workerId: string,
    tasks: string[],
    queues: readonly string[] | undefined,
    concurrency: number,
    now: number,
  ): void {
    let host = "unknown";
    try {
      // Ask first: without the permission, Deno would prompt on a terminal.
      if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
        host = Deno.hostname();
      }
    } catch {
      // The host name is informational only.
    }
    this.#stmt(SQL.upsertWorker).run(
      workerId,
      host,
      Deno.pid,
      JSON.stringify(tasks),
      concurrency,
      now,
      queues === undefined ? null : JSON.stringify(queues),
    );
  }

  /** Records a worker stopping. */
  workerStopped(workerId: string, now: number): void {
    this.#stmt(SQL.workerStopped).run(workerId, now);
  }

  /**
   * Cancels a pending or running job and its pending descendants. A running
   * job ends `cancelled` at once, its attempt recorded as cancelled; its
   * worker notices (see {@linkcode Store.cancelledRuns}) and aborts the
   * handler, whose late finish is fenced out.
   */
  cancel(id: string, now: number): boolean {
    const row = this.#stmt(SQL.cancel).values(id, now)[0];
    if (row !== undefined) {
      if ((row[1] as number) > 0) this.cascade(row[0] as number, id, "cancelled", now);
      return true;
    }
    const r = this.#stmt(SQL.runningJob).values(id)[0];
    if (r === undefined) return false;
    const [seq, run, attempt, workerId, startedAt] = r as [number, number, number, string, number];
    const done = this.#stmt(SQL.cancelRunning).values(CANCELLED_WHILE_RUNNING, now, seq, run)[0];
    if (done === undefined) return false;
    this.#stmt(SQL.insertExecution).run(
      seq,
      run,
      attempt,
      workerId,
      "cancelled",
      startedAt,
      now,
      CANCELLED_WHILE_RUNNING,
    );
    if ((done[0] as number) > 0) this.cascade(seq, id, "cancelled", now);
    return true;
  }

  /** Which of the claims given (seq and run) were cancelled while they ran. */
  cancelledRuns(runs: readonly { seq: number; run: number }[]): number[] {
    const list = JSON.stringify(runs.map((r) => [r.seq, r.run]));
    return this.#stmt(SQL.cancelledRuns).values(list).map((r) => Number(r[0]));
  }

  /** The largest seq now (a bulk operation goes no further: jobs added meanwhile are left alone). */
  maxSeq(): number {
    return Number(this.#stmt(SQL.maxSeq).values()[0][0]);
  }

  /**
   * One batch of a bulk cancel or requeue: applies `op` to up to `limit`
   * jobs matching `f` after seq `after` and up to seq `upTo`, in seq order.
   * Returns how many it changed, the last seq it looked at, and whether the
   * batch was full (more may match).
   */
  bulk(
    op: "cancel" | "requeue",
    f: BulkFilter,
    after: number,
    upTo: number,
    limit: number,
    now: number,
  ): { count: number; last: number; full: boolean } {
    const rows = this.#stmt(SQL.bulkMatches).values(
      after,
      upTo,
      JSON.stringify(f.statuses),
      f.queue ?? null,
      f.name ?? null,
      limit,
      f.task ?? null,
    );
    let count = 0;
    for (const [seq, id] of rows) {
      const done = op === "cancel"
        ? this.cancel(id as string, now)
        : this.#requeueSeq(seq as number, id as string, now, false);
      if (done) count++;
    }
    const last = rows.length === 0 ? upTo : Number(rows[rows.length - 1][0]);
    return { count, last, full: rows.length === limit };
  }

  /**
   * Puts a failed, timed-out or cancelled job back to pending with its
   * attempts reset, and brings back the descendants its end had cancelled.
   * Refuses (false) while one of its own dependencies ended badly.
   */
  requeue(id: string, now: number): boolean {
    const row = this.#stmt(SQL.findParent).values(id)[0];
    if (row === undefined) return false;
    return this.#requeueSeq(row[0] as number, id, now, true);
  }

  /**
   * {@linkcode Store.requeue} of job `seq`. A unique key held by another
   * job is a `RangeError` when `throwHeld`, else a refusal (false).
   */
  #requeueSeq(seq: number, id: string, now: number, throwHeld: boolean): boolean {
    if (this.#stmt(SQL.badParent).values(seq).length > 0) return false;
    const [queue, key, status] = this.#stmt(SQL.jobKey).values(seq)[0] as [
      string,
      string | null,
      string,
    ];
    if (key !== null && status !== "pending" && status !== "running") {
      const holder = this.#stmt(SQL.keyHolder).values(queue, key)[0];
      if (holder !== undefined) {
        if (!throwHeld) return false;
        throw new RangeError(keyHeldMessage(id, key, queue, String(holder[3])));
      }
    }
    if (this.#stmt(SQL.requeue).run(now, seq).changes === 0) return false;
    for (const [d] of this.#stmt(SQL.cancelledBy).values(seq)) {
      const bad = this.#stmt(SQL.badParent).values(d)[0];
      if (bad === undefined) {
        this.#stmt(SQL.restore).run(d, now);
      } else {
        const rootSeq = (bad[3] ?? bad[0]) as number;
        const root = this.#stmt(SQL.jobBySeq).values(rootSeq)[0];
        this.#stmt(SQL.recancel).run(
          d,
          cascadeMessage(String(root?.[0]), String(root?.[2])),
          rootSeq,
          now,
        );
      }
    }
    return true;
  }

  /** Deletes finished jobs (see SQL.clear); returns how many. */
  clear(before: number): number {
    return this.#stmt(SQL.clear).run(before).changes;
  }

  /** One batch of retention (see `Backend.prune`); run it in one write transaction. */
  prune(p: PruneParams): PruneBatch {
    const head = this.#stmt(SQL.pruneHead).values(
      p.now,
      DEFAULT_KEEP_COMPLETED,
      DEFAULT_KEEP_FAILED,
      p.after,
    )[0];
    const [cut, first] = head;
    if (cut === null || first === null || Number(first) >= Number(cut)) {
      return { deleted: 0, next: undefined };
    }
    const end = Number(this.#stmt(SQL.pruneWindow).values(p.after, p.limit * PRUNE_WINDOW)[0][0]);
    const rows = this.#stmt(SQL.prune).values(
      p.after,
      end,
      p.now,
      DEFAULT_KEEP_COMPLETED,
      DEFAULT_KEEP_FAILED,
      p.limit,
    );
    let last = end;
    // A full batch may have left some of the window: the next one starts after it.
    if (rows.length >= p.limit) last = rows.reduce((m, r) => Math.max(m, Number(r[0])), 0);
    return { deleted: rows.length, next: last };
  }

  /** Every job (in seq order), edge and attempt; run it in one read transaction. */
  exportQueue(): QueueDump {
    return {
      jobs: this.#stmt(SQL.exportJobs).all().map(toJobRecord),
      edges: this.#stmt(SQL.exportEdges).all().map(toEdgeRecord),
      attempts: this.#stmt(SQL.exportAttempts).all().map(toAttemptRecord),
      queues: this.#stmt(SQL.queueStates).values().map((r) => ({
        name: String(r[0]),
        paused: r[1] === 1,
        settings: rowOfStates(r),
      })),
      schedules: this.listSchedules(),
      scheduleRuns: this.#stmt(SQL.exportScheduleRuns).all().map(toScheduleRunRecord),
    };
  }

  /**
   * Inserts a dump after the jobs already here (seqs moved past the largest
   * one), refusing a non-empty queue unless `force`, and any id already
   * here. Run it in one write transaction: a refusal throws before any write.
   */
  importQueue(dump: QueueDump, force: boolean, now: number): void {
    const path = JSON.stringify(this.conn.path);
    const [count, max] = this.#stmt(SQL.jobCountAndMaxSeq).values()[0].map(Number);
    if (count > 0 && !force) throw new Error(notEmptyMessage(path, count));
    if (count > 0) {
      const taken: string[] = [];
      let total = 0;
      const find = this.#stmt(SQL.findParent);
      for (const j of dump.jobs) {
        if (find.values(j.id).length === 0) continue;
        total++;
        if (taken.length < 3) taken.push(j.id);
      }
      if (total > 0) throw new Error(collisionMessage(path, taken, total));
    }
    const byName = this.#stmt(SQL.scheduleByName);
    const takenNames = dump.schedules.filter((d) => byName.values(d.name).length > 0);
    if (takenNames.length > 0) {
      throw new Error(scheduleCollisionMessage(path, takenNames.map((d) => d.name)));
    }
    const offset = count > 0 ? max : 0;
    const insertJob = this.#stmt(SQL.importJob);
    for (const j of dump.jobs) {
      insertJob.run(
        ...JOB_RECORD_COLUMNS.map((c) =>
          c === "seq"
            ? j.seq + offset
            : c === "cancelled_by"
            ? (j.cancelled_by === null ? null : j.cancelled_by + offset)
            : j[c]
        ),
      );
    }
    const insertEdge = this.#stmt(SQL.insertEdge);
    for (const e of dump.edges) insertEdge.run(e.parent + offset, e.child + offset, e.position);
    const insertAttempt = this.#stmt(SQL.insertExecution);
    for (const a of dump.attempts) {
      insertAttempt.run(
        a.job + offset,
        a.run,
        a.attempt,
        a.worker_id,
        a.status,
        a.started_at,
        a.completed_at,
        a.error,
      );
    }
    // Every named queue is recorded; a queue paused there is paused here
    // (one paused only here stays so).
    for (const name of new Set(dump.jobs.map((j) => j.queue))) {
      if (name !== "default") this.#stmt(SQL.nameQueue).run(name, now);
    }
    for (const q of dump.queues) {
      if (q.paused) this.setPaused(q.name, true, now);
      const r = q.settings;
      if (r !== undefined && Object.values(r).some((v) => v !== null)) {
        this.#stmt(SQL.setSettings).run(
          q.name,
          now,
          ...settingsValues(r),
        );
      }
    }
    const insertSchedule = this.#stmt(SQL.importSchedule);
    for (const d of dump.schedules) insertSchedule.run(...scheduleValues(d));
    const insertRun = this.#stmt(SQL.importScheduleRun);
    for (const r of dump.scheduleRuns) insertRun.run(r.schedule, r.slot, r.job_id, r.fired_at);
  }

  // Schedules -----------------------------------------------------------------

  /** Every schedule by name; with `tasks`, only those of these tasks. */
  listSchedules(tasks?: readonly string[]): ScheduleRecord[] {
    const rows = tasks === undefined
      ? this.#stmt(SQL.schedules).all()
      : this.#stmt(SQL.schedulesOfTasks).all(JSON.stringify(tasks));
    return rows.map(toScheduleRecord);
  }

  /** Stores what `merge` makes of schedule `name` as stored (run in a write transaction). */
  saveSchedule(
    name: string,
    merge: (stored: ScheduleRecord | undefined) => ScheduleRecord,
  ): ScheduleRecord {
    const row = this.#stmt(SQL.scheduleByName).get(name);
    const next = merge(row === undefined ? undefined : toScheduleRecord(row));
    this.#stmt(SQL.saveSchedule).run(...scheduleValues(next));
    return next;
  }

  /** Deletes schedule `name`, pruning its slot records; whether it existed. */
  deleteSchedule(name: string, now: number): boolean {
    const deleted = this.#stmt(SQL.deleteSchedule).run(name).changes > 0;
    this.#stmt(SQL.pruneScheduleRuns).run(name, now - SCHEDULE_RUNS_KEEP_MS);
    return deleted;
  }

  /**
   * Fires slots of a schedule if it is as the caller read it (see
   * `Backend.fireSchedule`; run in a write transaction): the ids of the
   * jobs inserted, or undefined when it had changed.
   */
  fireSchedule(f: ScheduleFire): string[] | undefined {
    const row = this.#stmt(SQL.scheduleByName).get(f.name);
    if (row === undefined) return undefined;
    const s = toScheduleRecord(row);
    if (
      s.paused || s.next_run_at !== f.expected.nextRunAt || s.updated_at !== f.expected.updatedAt
    ) {
      return undefined;
    }
    const record = this.#stmt(SQL.insertScheduleRun);
    const jobs: PreparedJob[] = [];
    for (const r of f.runs) {
      // A slot recorded before (a clock set back) fires no second job.
      if (record.run(f.name, r.slot, r.job.job.id, f.now).changes > 0) jobs.push(r.job);
    }
    const ids = jobs.length === 0 ? [] : this.insertJobs(jobs, f.now);
    this.#stmt(SQL.advanceSchedule).run(f.name, f.nextRunAt, f.lastRunAt);
    this.#stmt(SQL.pruneScheduleRuns).run(f.name, f.now - SCHEDULE_RUNS_KEEP_MS);
    return ids;
  }

  /** The slot record of job `jobId`, if a schedule made it. */
  scheduleRunOf(jobId: string): ScheduleRunRecord | undefined {
    const row = this.#stmt(SQL.scheduleRunOfJob).get(jobId);
    return row === undefined ? undefined : toScheduleRunRecord(row);
  }

  /** The job and its attempts, or undefined. */
  getJob(id: string): JobDetails | undefined {
    const row = this.#stmt(SQL.jobById).get(id);
    if (row === undefined) return undefined;
    const executions: ExecutionInfo[] = this.#stmt(SQL.executions).all(row.seq).map((e) => ({
      attempt: Number(e.attempt),
      run: Number(e.run),
      status: e.status as JobStatus,
      workerId: e.worker_id as string,
      startedAt: iso(e.started_at),
      completedAt: isoOrNull(e.completed_at),
      error: e.error as string | null,
    }));
    // The attempt running now, and a completed one, live on the job's row
    // (before schema 3 a completed attempt also had a row: not repeated).
    const last = executions.at(-1)?.run;
    if (
      (row.status === "running" || row.status === "completed") && last !== Number(row.runs)
    ) {
      executions.push({
        attempt: Number(row.attempts),
        run: Number(row.runs),
        status: row.status,
        workerId: row.worker_id as string,
        startedAt: iso(row.started_at),
        completedAt: isoOrNull(row.completed_at),
        error: null,
      });
    }
    const children = this.#stmt(SQL.childIds).values(row.seq).map((r) => String(r[0]));
    return { ...toJobInfo(row), executions, children };
  }

  /**
   * Newest first, at most `limit`, matching `f`; jobs before job `before`
   * only, if given (a JobNotFoundError for an unknown id).
   */
  list(f: JobFilter, limit: number, before: string | undefined): JobInfo[] {
    const beforeSeq = before === undefined ? undefined : this.#seqOf(before, "list jobs");
    const { sql, params } = listJobsSql({ ...f, beforeSeq }, limit);
    return this.#stmt(sql).all(...params).map(toJobInfo);
  }

  /** How many jobs match `f`, up to `cap`. */
  countJobs(f: JobFilter, cap: number): JobCount {
    const { sql, params } = countJobsSql(f, cap);
    const n = Number(this.#stmt(sql).values(...params)[0][0]);
    return n > cap ? { count: cap, exact: false } : { count: n, exact: true };
  }

  /** The workers table (see Backend.workers). */
  workers(stopped: boolean): WorkerInfo[] {
    const rows = this.#stmt(SQL.liveWorkers).all();
    if (stopped) rows.push(...this.#stmt(SQL.stoppedWorkers).all(STOPPED_WORKERS_SHOWN));
    return workerInfos(
      rows,
      this.#stmt(SQL.runningByWorker).values().map((r) => [String(r[0]), String(r[1])] as const),
    );
  }

  /** Jobs ended per minute (see Backend.activity). */
  activity(since: number, minutes: number, queue: string | undefined): ActivityRow[] {
    const end = since + minutes * 60_000;
    const rows = queue === undefined
      ? this.#stmt(SQL.activity).values(since, end)
      : this.#stmt(SQL.activityInQueue).values(since, end, queue);
    return rows.map((r) => ({
      minute: since + Number(r[0]) * 60_000,
      completed: Number(r[1]),
      failed: Number(r[2]),
    }));
  }

  /** The seq of job `id`, a listing's cursor: a JobNotFoundError naming it if there is none. */
  #seqOf(id: string, what: string): number {
    const row = this.#stmt(SQL.seqOfId).values(id)[0];
    if (row === undefined) throw new JobNotFoundError(id, beforeNotFoundMessage(what, id));
    return Number(row[0]);
  }

  /** Count per status of queue `queue`'s jobs. */
  queueStats(queue: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [status, n] of this.#stmt(SQL.statsOfQueue).values(queue)) {
      counts.set(status as string, Number(n));
    }
    return counts;
  }

  /** Every queue with jobs or a stored state. */
  queueList(): QueueInfo[] {
    return queueInfos(
      this.#stmt(SQL.queueCounts).values().map((r) =>
        [r[0] as string, r[1] as string, Number(r[2])] as const
      ),
      this.#stmt(SQL.queueStates).values().map((r) =>
        [r[0] as string, r[1] === 1, rowOfStates(r)] as const
      ),
    );
  }

  /** How full queue `queue`'s limits are at `now` (see Backend.limitState). */
  limitState(queue: string, key: string | null, now: number): LimitState {
    const found = this.#stmt(SQL.queueSettings).values(queue)[0];
    const settings = found === undefined ? { ...NO_SETTINGS } : rowOfSettings(found);
    return {
      settings,
      running: Number(this.#stmt(SQL.runningInQueue).values(queue)[0][0]),
      keyRunning: key === null ? 0 : Number(this.#stmt(SQL.runningOfKey).values(queue, key)[0][0]),
      starts: settings.rate_per === null
        ? []
        : this.#stmt(SQL.startsSince).values(queue, now - settings.rate_per).map((r) =>
          Number(r[0])
        ),
    };
  }

  /** Applies `config` to queue `queue`'s stored settings; returns them. */
  configureQueue(queue: string, config: QueueConfig, now: number): QueueSettings {
    const found = this.#stmt(SQL.queueSettings).values(queue)[0];
    const row = applyConfig(found === undefined ? NO_SETTINGS : rowOfSettings(found), config);
    this.#stmt(SQL.setSettings).run(
      queue,
      now,
      ...settingsValues(row),
    );
    return toSettings(row);
  }

  /** Records progress of running attempts (fenced). */
  setProgress(rows: readonly { seq: number; run: number; progress: string }[]): void {
    const stmt = this.#stmt(SQL.setProgress);
    for (const r of rows) stmt.run(r.progress, r.seq, r.run);
  }

  /** Pauses or resumes `queue`. */
  setPaused(queue: string, paused: boolean, now: number): void {
    if (paused) this.#stmt(SQL.setPaused).run(queue, 1, now);
    else this.#stmt(SQL.resume).run(queue, now);
  }

  /** Count per status (read in one transaction). */
  stats(): Map<string, number> {
    const [total, pending, running] = this.#stmt(SQL.statsOpen).values()[0].map(Number);
    const counts = new Map<string, number>([["pending", pending], ["running", running]]);
    let ended = 0;
    for (const [status, n] of this.#stmt(SQL.statsEnded).values()) {
      counts.set(status as string, Number(n));
      ended += Number(n);
    }
    counts.set("completed", total - pending - running - ended);
    return counts;
  }

  /** Whether lease owner `owner` runs a job more than `graceMs` past its timeout. */
  workerOverdue(owner: string, now: number, graceMs: number): boolean {
    return this.#stmt(SQL.workerOverdue).values(owner, now - graceMs)[0]?.[0] === 1;
  }

  /**
   * Ends the running attempts of a worker that is gone. `"died"`: each
   * attempt counts as failed (retried while attempts are left). `"terminated"`
   * (ended from outside because a handler would not stop): attempts more than
   * `graceMs` past their timeout count as timed out; the others, interrupted
   * through no fault of their own, go back to pending uncounted.
   * Returns the ids of the jobs it touched.
   */
  endWorker(
    owner: string,
    how: "died" | "terminated",
    message: string,
    now: number,
    graceMs: number,
  ): string[] {
    const ids: string[] = [];
    for (const r of this.#stmt(SQL.workerJobs).values(owner)) {
      const [
        seq,
        id,
        run,
        attempt,
        maxAttempts,
        retryDelay,
        backoff,
        startedAt,
        timeout,
        children,
        workerId,
        maxRetryDelay,
      ] = r as [
        number,
        string,
        number,
        number,
        number,
        number,
        Backoff,
        number,
        number,
        number,
        string,
        number,
      ];
      ids.push(id);
      if (how === "terminated" && startedAt + timeout * 1000 + graceMs > now) {
        const reason = `Released: ${message}`;
        if (this.#stmt(SQL.release).run(reason, now, seq, run).changes > 0) {
          this.#stmt(SQL.insertExecution).run(
            seq,
            run,
            attempt,
            workerId,
            "cancelled",
            startedAt,
            now,
            reason,
          );
        }
        continue;
      }
      const kind = how === "died" ? "failed" : "timeout";
      const error = how === "died"
        ? message
        : `Job timed out after ${timeout} seconds; its handler ignored the abort signal, so ${message}`;
      this.#endAttempt(
        seq,
        id,
        run,
        attempt,
        maxAttempts,
        retryDelay,
        backoff,
        maxRetryDelay,
        children,
        false,
        kind,
        error,
        error,
        workerId,
        startedAt,
        now,
      );
    }
    return ids;
  }

  // ---- The key-value table (the Deno KV-style facade) ----

  /** The entry of key `key`, if any. */
  kvGet(key: string): KvRow | undefined {
    const r = this.#stmt(SQL.kvGet).values(key)[0];
    return r === undefined ? undefined : kvRow(r);
  }

  /** The entries whose key starts with `prefix`, by key, at most `limit`. */
  kvList(prefix: string, limit: number): KvRow[] {
    return this.#stmt(SQL.kvList).values(prefix, prefix.length, limit).map(kvRow);
  }

  /** Sets entries (call inside a write transaction). */
  kvSet(entries: readonly KvEntry[], now: number): void {
    for (const e of entries) this.#stmt(SQL.kvSet).run(e.key, e.value, now);
  }

  /** Deletes key `key`; whether it was there. */
  kvDelete(key: string): boolean {
    return this.#stmt(SQL.kvDelete).run(key).changes > 0;
  }
}

/** A row of gigq_kv (key, value, updated_at). */
function kvRow(r: unknown[]): KvRow {
  return { key: String(r[0]), value: String(r[1]), updatedAt: Number(r[2]) };
}

/** A schedule's values in SCHEDULE_COLUMNS order, as SQLite stores them. */
function scheduleValues(s: ScheduleRecord): (string | number | null)[] {
  return SCHEDULE_COLUMNS.map((c) =>
    c === "paused" ? (s.paused ? 1 : 0) : s[c] as string | number | null
  );
}
