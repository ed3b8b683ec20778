/**
 * The PostgreSQL backend: the queue's tables in one schema, reached through
 * this isolate's registry client. Every operation is one transaction (often
 * one statement); a claim takes ready rows with `FOR UPDATE SKIP LOCKED`, so
 * workers on many hosts never wait for each other's claims, and every
 * completion is fenced by the claim it belongs to. Commits that make work
 * ready send a NOTIFY inside their transaction; idle workers LISTEN, and
 * treat it as a hint over their poll.
 *
 * Loaded only on demand, by `src/_open_backend.ts`.
 *
 * @module
 */
import {
  collisionMessage,
  iso,
  isoOrNull,
  notEmptyMessage,
  toAttemptRecord,
  toEdgeRecord,
  toJobInfo,
  toJobRecord,
} from "../_job_row.ts";
import {
  type ActivityRow,
  type Backend,
  beforeNotFoundMessage,
  BULK_BATCH,
  type BulkFilter,
  CANCELLED_WHILE_RUNNING,
  cascadeMessage,
  type Claimed,
  type Claimer,
  type CountParams,
  keyHeldMessage,
  lapseMessage,
  type LimitState,
  type ListParams,
  type MigrationPlan,
  type PostgresSpec,
  type PreparedJob,
  PRUNE_WINDOW,
  type PruneBatch,
  type PruneParams,
  type QueueDump,
  type RenewParams,
  SCHEDULE_RUNS_KEEP_MS,
  scheduleCollisionMessage,
  type ScheduleFire,
  type ScheduleRecord,
  type ScheduleRunRecord,
  type StepParams,
  STOPPED_WORKERS_SHOWN,
  type StorageState,
  type WorkerFacts,
  type WorkerRecord,
  type WorkerRegistration,
} from "../_backend.ts";
import type { FailureExtras, InsertParams, KvEntry, KvRow, TxInsert } from "../_backend.ts";
import { fromJson, type JsonValue } from "../_json.ts";
import { SCHEDULE_COLUMNS, toScheduleRecord, toScheduleRunRecord } from "../_schedule_row.ts";
import { inFlight } from "../_in_flight.ts";
import { JobNotFoundError, NoQueueError, SchemaError } from "../errors.ts";
import { type Backoff, type Job, retryDelaySeconds } from "../job.ts";
import {
  type ExecutionInfo,
  type JobCount,
  type JobDetails,
  type JobInfo,
  type QueueInfo,
  queueInfos,
  type QueueStats,
  queueStats,
  type WorkerInfo,
  workerInfos,
} from "../job_info.ts";
import type { JobStatus } from "../job_status.ts";
import {
  acquireClient,
  type Client,
  holdIdle,
  holdWait,
  notifyLocalCommit,
  onLocalCommit,
  type Param,
  PREPARED,
  releaseClient,
  releaseIdle,
  type Sql,
  subscribe,
  type TransactionSql,
} from "./_client.ts";
import {
  channel,
  countJobsSql,
  listJobsSql,
  quoteIdent,
  type Statements,
  statements,
} from "./_sql.ts";
import { migrate, migrationSql, readVersion, SCHEMA_VERSION } from "./schema.ts";
import {
  applyConfig,
  DEFAULT_KEEP_COMPLETED,
  DEFAULT_KEEP_FAILED,
  isLimited,
  NO_SETTINGS,
  type QueueConfig,
  type QueueSettings,
  type SettingsRow,
  settingsRow,
  settingsValues,
  toSettings,
} from "../queue_config.ts";

type Row = Record<string, unknown>;

/** Serialization failures and deadlocks: the transaction is rolled back whole, so run it again. */
const RETRIED = new Set(["40001", "40P01"]);
/** Most runs of one transaction that keeps meeting those. */
const MAX_RUNS = 8;
/** Most rows a copy sends in one statement. */
const IMPORT_BATCH = 2000;
/** The longest NOTIFY payload that names tasks (the server's limit is 8000 bytes). */
const MAX_PAYLOAD = 4000;

/** The payload telling idle workers which tasks got work ("": any). */
function taskPayload(tasks: Iterable<string>): string {
  const text = JSON.stringify([...new Set(tasks)]);
  return new TextEncoder().encode(text).length <= MAX_PAYLOAD ? text : "";
}

/** Whether a notification's payload may concern a worker of `tasks`. */
function concerns(payload: string, tasks: readonly string[]): boolean {
  if (payload === "") return true;
  try {
    const named = JSON.parse(payload);
    return !Array.isArray(named) || named.some((t) => tasks.includes(t));
  } catch {
    return true;
  }
}

/** Runs a statement in a transaction, returning its rows (and `count`, the rows changed). */
type Run = (text: string, params: unknown[]) => Promise<Row[] & { count: number }>;

/**
 * A statement runner for `tx` that sends each statement at once, in the
 * order called (the client pipelines them on the transaction's connection),
 * and marks it handled: after a failure the ones behind it fail too, and only
 * the first failure, the one awaited, is the transaction's.
 */
function runner(tx: TransactionSql): Run {
  return (text, params) => {
    const query = tx.unsafe(text, params as Param[], PREPARED);
    query.catch(() => {});
    return query as unknown as Promise<Row[] & { count: number }>;
  };
}

/** A job inserted with no look at others: no dependencies, no unique key. */
function isPlain(p: PreparedJob): boolean {
  return p.job.dependencies.length === 0 && p.job.uniqueKey === undefined;
}

/** A key whose holders kept ending between an insert that found it held and the look for them. */
function keyChurn(job: Job): Error {
  return new Error(
    `Cannot submit job ${JSON.stringify(job.name)}: its unique key ${
      JSON.stringify(job.uniqueKey)
    } kept changing hands while it was submitted; try again`,
  );
}

/** A unique violation on the job id, in the words of `submit` (any other error as it is). */
function duplicateId(error: unknown, jobs: readonly PreparedJob[]): unknown {
  const code = (error as { code?: string })?.code;
  if (code !== "23505") return error;
  // Key (id)=(…) already exists.
  const dup = /\(id\)=\((.*)\)/.exec(String((error as { detail?: string }).detail))?.[1];
  const job = jobs.find((j) => j.job.id === dup)?.job ?? jobs[0].job;
  return new RangeError(
    `Cannot submit job ${JSON.stringify(job.name)}: a job with id ${job.id} was already ` +
      `submitted (create a new Job to run the task again)`,
  );
}

/** An attempt to end (a failure, a timeout, an expired lease, a lost Web Worker). */
interface Ending {
  seq: number;
  id: string;
  run: number;
  attempt: number;
  maxAttempts: number;
  retryDelay: number;
  backoff: Backoff;
  maxRetryDelay: number;
  permanent: boolean;
  kind: "failed" | "timeout";
  error: string;
  detail: string;
  workerId: string;
  startedAt: number;
  /** What the handler asked for besides the failure (the KV facade). */
  extras?: FailureExtras;
}

/** A queue in one schema of a PostgreSQL database. */
export class PostgresBackend implements Backend {
  readonly spec: PostgresSpec;
  readonly #label: string;
  readonly #q: Statements;
  readonly #channel: string;
  #client: Client | undefined;
  #generation = 0;
  #closed = false;
  /** The limited queues, as last read (at #limitsReadAt): which claims need the limited path. */
  #limited = new Map<string, SettingsRow>();
  #limitsReadAt = -Infinity;
  #log: ((level: "info" | "warn", message: string) => void) | undefined;
  readonly #create: boolean;

  /**
   * Takes this isolate's client for the spec's database and schema (no
   * connection opens until the first operation).
   *
   * @param spec the database and schema
   * @param label how messages name it (the URL without its password)
   * @param create whether a missing queue is made (else a `NoQueueError`, nothing created)
   */
  constructor(spec: PostgresSpec, label: string, create = true) {
    this.spec = spec;
    this.#label = label;
    this.#create = create;
    this.#q = statements(spec.schema);
    this.#channel = channel(spec.schema);
    this.#client = acquireClient(spec);
  }

  get generation(): number {
    return this.#generation;
  }

  /** A server's queue is never read as a file on disk. */
  get readOnly(): boolean {
    return false;
  }

  /** The client, its schema made, reconnecting if the registry closed ours. */
  async #ready(): Promise<Sql> {
    if (this.#closed) throw new Error(`Cannot use ${this.#label}: the backend is closed`);
    let client = this.#client;
    if (client === undefined || !client.open) {
      const had = client !== undefined;
      client = this.#client = acquireClient(this.spec);
      if (had) this.#generation++;
    }
    if (!this.#create && client.migrated === undefined) {
      // Looked at each time until a queue is there: another process may make it.
      const version = await readVersion(client.sql, this.spec.schema, this.#label).catch(
        (error) => Promise.reject(this.#openError(error)),
      );
      if (version === 0) throw new NoQueueError(this.#label, "missing");
    }
    if (client.migrated === undefined) {
      const c = client;
      c.migrated = migrate(c.sql, this.spec.schema, this.#label, this.#log).then(
        () => {},
        (error) => {
          c.migrated = undefined;
          throw this.#openError(error);
        },
      );
    }
    await client.migrated;
    return client.sql;
  }

  /** An error met while opening the queue, naming it (a refused connection says only its address). */
  #openError(error: unknown): unknown {
    if (error instanceof SchemaError || !(error instanceof Error)) return error;
    if (error.message.includes(this.#label)) return error;
    const code = (error as { code?: string }).code;
    const hint = code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "CONNECT_TIMEOUT"
      ? " (is the server running, and is the host and port right?)"
      : "";
    return new Error(`Cannot open ${this.#label}: ${error.message}${hint}`, { cause: error });
  }

  /** Runs `fn` in one transaction, again (whole) after a deadlock or serialization failure. */
  async #tx<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    const sql = await this.#ready();
    for (let run = 1;; run++) {
      try {
        return await sql.begin(fn) as T;
      } catch (error) {
        const code = (error as { code?: string })?.code;
        if (run >= MAX_RUNS || code === undefined || !RETRIED.has(code)) throw error;
        await new Promise((r) => setTimeout(r, Math.random() * 2 ** run));
      }
    }
  }

  async open(p: { log?: (level: "info" | "warn", message: string) => void }): Promise<void> {
    this.#log = p.log;
    await this.#ready();
  }

  async migration(p: { apply: boolean }): Promise<MigrationPlan> {
    if (this.#closed) throw new Error(`Cannot use ${this.#label}: the backend is closed`);
    let client = this.#client;
    if (client === undefined || !client.open) client = this.#client = acquireClient(this.spec);
    const from = await readVersion(client.sql, this.spec.schema, this.#label).catch(
      (error) => Promise.reject(this.#openError(error)),
    );
    if (p.apply) await this.#ready();
    const sql = from === SCHEMA_VERSION ? "" : migrationSql(this.spec.schema, from) + "\n";
    return { from, to: SCHEMA_VERSION, sql };
  }

  async insertJobs(p: InsertParams): Promise<string[]> {
    if (p.jobs.length === 0) return [];
    const q = this.#q;
    try {
      if (
        p.jobs.length === 1 && p.jobs[0].job.dependencies.length === 0 &&
        p.jobs[0].job.concurrencyKey === undefined && p.traceContext === undefined
      ) {
        // The usual submit: one statement, its own transaction, NOTIFY included.
        const { job, params } = p.jobs[0];
        const sql = await this.#ready();
        const key = job.uniqueKey;
        for (let tries = 1;; tries++) {
          const rows = await sql.unsafe(
            key === undefined ? q.insertReadyJob : q.insertReadyKeyedJob,
            [
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
              job.runAt ?? p.now,
              p.now,
              this.#channel,
              taskPayload([job.task]),
              job.queue,
              job.maxRetryDelay,
              ...(key === undefined ? [] : [key]),
            ] as Param[],
            PREPARED,
          );
          if (key === undefined || Number(rows[0].inserted) > 0) return [job.id];
          // Its key is held: by whom (the holder may have ended since: then insert again).
          const [holder] = await sql.unsafe(q.keyHolder, [job.queue, job.uniqueKey!], PREPARED);
          if (holder !== undefined) return [String(holder.id)];
          if (tries >= MAX_RUNS) throw keyChurn(job);
        }
      }
      if (p.jobs.every(isPlain)) {
        // One statement: no transaction to open and commit around it.
        return await this.#insertPlain(await this.#ready(), p.jobs, p.now, p.traceContext);
      }
      return await this.#tx((tx) => this.#insertBatch(tx, p.jobs, p.now, p.traceContext));
    } catch (error) {
      throw duplicateId(error, p.jobs);
    }
  }

  async insertJobsIn(p: InsertParams & { tx: unknown }): Promise<string[]> {
    // The schema is made (or checked) through this queue's own client first.
    await this.#ready();
    try {
      return await this.#insertBatch(
        p.tx as TransactionSql,
        p.jobs,
        Math.floor(p.now),
        p.traceContext,
      );
    } catch (error) {
      throw duplicateId(error, p.jobs);
    }
  }

  /**
   * Inserts jobs already ordered parents-first, with their edges, in `tx`;
   * returns their ids. A batch with unique keys goes job by job, so that a
   * job left out for its key hands its place to the job holding the key (its
   * id in the result, and the parent of the batch's jobs that depended on it).
   */
  async #insertBatch(
    tx: TransactionSql,
    jobs: readonly PreparedJob[],
    now: number,
    traceContext: string | undefined,
  ): Promise<string[]> {
    if (jobs.every(isPlain)) {
      await this.#insertPlain(tx, jobs, now, traceContext);
      return jobs.map((j) => j.job.id);
    }
    if (!jobs.some((j) => j.job.uniqueKey !== undefined)) {
      await this.#insertRows(tx, jobs, now, traceContext);
      return jobs.map((j) => j.job.id);
    }
    const q = this.#q;
    const placedAs = new Map<string, string>();
    const ids: string[] = [];
    for (const prepared of jobs) {
      let job = prepared.job;
      if (job.dependencies.some((d) => placedAs.has(d))) {
        const dependencies = [...new Set(job.dependencies.map((d) => placedAs.get(d) ?? d))];
        job = { ...job, dependencies } as Job;
      }
      for (let tries = 1;; tries++) {
        const inserted = await this.#insertRows(
          tx,
          [{ job, params: prepared.params }],
          now,
          traceContext,
        );
        if (inserted.length > 0) {
          ids.push(job.id);
          break;
        }
        const [holder] = await tx.unsafe(q.keyHolder, [job.queue, job.uniqueKey!], PREPARED);
        if (holder !== undefined) {
          placedAs.set(job.id, String(holder.id));
          ids.push(String(holder.id));
          break;
        }
        if (tries >= MAX_RUNS) throw keyChurn(job);
      }
    }
    return ids;
  }

  /**
   * Inserts jobs without dependencies or unique keys (see {@linkcode isPlain})
   * as one statement through `sql` (a transaction or the pool), with the
   * wake-up of idle workers; returns their ids. Columns the batch's jobs
   * share go once: a batch of one task sends only ids, params and run_at
   * per job.
   */
  async #insertPlain(
    sql: Sql | TransactionSql,
    jobs: readonly PreparedJob[],
    now: number,
    traceContext: string | undefined,
  ): Promise<string[]> {
    const q = this.#q;
    const first = jobs[0].job;
    const at = Math.floor(now);
    const ids = jobs.map((j) => j.job.id);
    const params = jobs.map((j) => j.params);
    const runAts = jobs.map((j) => j.job.runAt ?? at);
    const tail = [
      at,
      traceContext ?? null,
      this.#channel,
      taskPayload(jobs.map((j) => j.job.task)),
    ];
    const shared = (j: Job) =>
      j.name === first.name && j.task === first.task && j.module === first.module &&
      j.priority === first.priority && j.maxAttempts === first.maxAttempts &&
      j.timeout === first.timeout && j.retryDelay === first.retryDelay &&
      j.backoff === first.backoff && j.description === first.description &&
      j.queue === first.queue && j.maxRetryDelay === first.maxRetryDelay &&
      j.concurrencyKey === first.concurrencyKey;
    const uniform = jobs.every((j) => shared(j.job));
    const values = uniform
      ? [
        ids,
        params,
        runAts,
        first.name,
        first.task,
        first.module ?? null,
        first.priority,
        first.maxAttempts,
        first.timeout,
        first.retryDelay,
        first.backoff,
        first.description,
        first.queue,
        first.maxRetryDelay,
        first.concurrencyKey ?? null,
        ...tail,
      ]
      : [
        ids,
        jobs.map((j) => j.job.name),
        jobs.map((j) => j.job.task),
        jobs.map((j) => j.job.module ?? null),
        params,
        jobs.map((j) => j.job.priority),
        jobs.map((j) => j.job.maxAttempts),
        jobs.map((j) => j.job.timeout),
        jobs.map((j) => j.job.retryDelay),
        jobs.map((j) => j.job.backoff),
        jobs.map((j) => j.job.description),
        runAts,
        jobs.map((j) => j.job.queue),
        jobs.map((j) => j.job.maxRetryDelay),
        jobs.map((j) => j.job.concurrencyKey ?? null),
        ...tail,
      ];
    await sql.unsafe(
      uniform ? q.insertUniformJobs : q.insertPlainJobs,
      values as Param[],
      PREPARED,
    );
    return ids;
  }

  /**
   * Inserts jobs already ordered parents-first, with their edges, in `tx`;
   * returns the ids inserted (a job whose unique key is held is not).
   */
  async #insertRows(
    tx: TransactionSql,
    jobs: readonly PreparedJob[],
    now: number,
    traceContext: string | undefined,
  ): Promise<string[]> {
    const q = this.#q;
    const inBatch = new Set(jobs.map((j) => j.job.id));
    const outside = [
      ...new Set(jobs.flatMap((j) => j.job.dependencies.filter((d) => !inBatch.has(d)))),
    ];
    /** Parents by id: seq (outside the batch), status, and the root of a cancellation. */
    const parents = new Map<string, { seq?: number; status: string; root: number | null }>();
    if (outside.length > 0) {
      for (const r of await tx.unsafe(q.lockParents, [outside], PREPARED)) {
        // Numbers whatever the client's bigint parser (an application's returns strings).
        parents.set(String(r.id), {
          seq: Number(r.seq),
          status: String(r.status),
          root: r.root === null ? null : Number(r.root),
        });
      }
    }
    const rows: Row[] = [];
    const edges: { parent: string; child: string; position: number }[] = [];
    const roots = new Set<number>();
    for (const { job, params } of jobs) {
      let parentsLeft = 0;
      let status = "pending";
      let root: number | null = null;
      for (const [position, depId] of job.dependencies.entries()) {
        const parent = parents.get(depId);
        if (parent === undefined) {
          throw new JobNotFoundError(
            depId,
            `Cannot submit job ${JSON.stringify(job.name)}: its dependency ${
              JSON.stringify(depId)
            } does not exist (submit it first, or in the same submitMany call)`,
          );
        }
        edges.push({ parent: depId, child: job.id, position });
        if (parent.status !== "completed") parentsLeft++;
        if (
          status === "pending" &&
          (parent.status === "failed" || parent.status === "timeout" ||
            parent.status === "cancelled")
        ) {
          status = "cancelled";
          // A parent in the batch is never the root: it can only be cancelled by one outside.
          root = parent.root ?? parent.seq!;
          roots.add(root);
        }
      }
      parents.set(job.id, { status, root });
      rows.push({
        id: job.id,
        name: job.name,
        task: job.task,
        module: job.module ?? null,
        params,
        priority: job.priority,
        max_attempts: job.maxAttempts,
        timeout: job.timeout,
        retry_delay: job.retryDelay,
        backoff: job.backoff,
        description: job.description,
        dependencies: JSON.stringify(job.dependencies),
        status,
        run_at: job.runAt ?? now,
        parents_left: parentsLeft,
        error: null,
        cancelled_by: root,
        completed_at: status === "cancelled" ? now : null,
        queue: job.queue,
        unique_key: job.uniqueKey ?? null,
        max_retry_delay: job.maxRetryDelay,
        concurrency_key: job.concurrencyKey ?? null,
      });
      // Left out when off: a missing key reads as NULL.
      if (traceContext !== undefined) rows[rows.length - 1].trace_context = traceContext;
    }
    if (roots.size > 0) {
      const messages = new Map<number, string>();
      for (const r of await tx.unsafe(q.jobsBySeq, [[...roots]], PREPARED)) {
        messages.set(Number(r.seq), cascadeMessage(String(r.id), String(r.status)));
      }
      for (const row of rows) {
        if (row.cancelled_by !== null) row.error = messages.get(row.cancelled_by as number) ?? null;
      }
    }
    const run = runner(tx);
    // JSON parameters go as values: the client serializes them for jsonb.
    const inserting = run(q.insertJobs, [rows, now]);
    const sent: Promise<unknown>[] = [inserting];
    if (edges.length > 0) sent.push(run(q.insertEdges, [edges]));
    sent.push(run(q.notifyIdle, [this.#channel, taskPayload(jobs.map((j) => j.job.task))]));
    await Promise.all(sent);
    return (await inserting).map((r) => String(r.id));
  }

  async step(p: StepParams): Promise<Claimed[]> {
    const q = this.#q;
    const { claimer, now } = p;
    return await this.#tx(async (tx) => {
      const run = runner(tx);
      // Outcomes and the look for expired leases go out together.
      const completions = p.outcomes.filter((o) => o.kind === "completed");
      const written: Promise<unknown>[] = [];
      // The handlers' last progress, before their outcomes (which a retry clears).
      const progress = p.outcomes.filter((o) =>
        o.kind !== "released" && o.job.progress !== undefined
      )
        .map((o) => ({ seq: o.job.seq, run: o.job.run, progress: o.job.progress! }));
      if (progress.length > 0) written.push(run(q.setProgress, [progress]));
      const completed = completions.length === 0 ? undefined : run(q.complete, [
        completions.map((o) => ({ seq: o.job.seq, run: o.job.run, result: o.result })),
        now,
      ]);
      const ended: Promise<{ cascade?: [number, string, string]; ready: boolean }>[] = [];
      // Awaited below unless an earlier statement fails: then theirs is not the error.
      const pending = <T>(p: Promise<T>): Promise<T> => (p.catch(() => {}), p);
      for (const o of p.outcomes) {
        if (o.kind === "released") {
          const j = o.job;
          ended.push(pending(
            run(q.release, [
              o.reason,
              now,
              j.seq,
              j.run,
              j.attempt,
              j.workerId,
              j.startedAt,
              o.reason,
            ])
              .then((r) => ({ ready: r.count > 0 })),
          ));
        } else if (o.kind !== "completed") {
          const j = o.job;
          ended.push(pending(this.#end(run, {
            seq: j.seq,
            id: j.id,
            run: j.run,
            attempt: j.attempt,
            maxAttempts: j.maxAttempts,
            retryDelay: j.retryDelay,
            backoff: j.backoff,
            maxRetryDelay: j.maxRetryDelay,
            permanent: o.permanent,
            kind: o.kind,
            error: o.error,
            detail: o.detail,
            workerId: j.workerId,
            startedAt: j.startedAt,
            extras: o.extras,
          }, now)));
        }
      }
      // Ends someone may wait for (waitFor) send a NOTIFY; no one waits: none.
      const endedIds: string[] = [];
      for (const o of p.outcomes) {
        if (
          o.kind === "completed" ||
          (o.kind !== "released" && (o.permanent || o.job.attempt >= o.job.maxAttempts))
        ) {
          endedIds.push(o.job.id);
        }
      }
      if (endedIds.length > 0) written.push(run(q.notifyEnds, [this.#channel, endedIds]));
      const expired = run(q.expiredLeases, [now]);
      // The claim goes out behind them, in the same round trip: the rows it
      // takes are pending, never those the outcomes and the reap write.
      const claiming = p.limit > 0 && claimer.tasks.length > 0;
      const one = claimer.tasks.length === 1;
      const claim = (limit: number) => {
        const promoted = run(q.promote, [now]);
        const rows = run(one ? q.claimOne : q.claimMany, [
          claimer.workerId,
          now,
          now + claimer.leaseMs,
          limit,
          claimer.graceMs,
          claimer.owner,
          one ? claimer.tasks[0] : [...claimer.tasks],
          claimer.queues === undefined ? null : [...claimer.queues],
        ]);
        return Promise.all([promoted, rows]).then(([, r]) => r);
      };
      // Limited queues first (their claims count, under their rows' locks), then the others.
      const limitedRows = claiming ? await this.#claimLimited(run, claimer, p.limit, now) : [];
      const first = claiming && p.limit > limitedRows.length
        ? pending(claim(p.limit - limitedRows.length))
        : undefined;
      let wake = false;
      const parentsDone = completed === undefined
        ? []
        : (await completed).filter((r) => Number(r.children) > 0).map((r) => Number(r.seq));
      if (parentsDone.length > 0) {
        written.push(run(q.releaseChildren, [parentsDone]));
        wake = true;
      }
      let cascaded = false;
      for (const e of await Promise.all(ended)) {
        if (e.ready) wake = true;
        if (e.cascade !== undefined) {
          written.push(this.#cascade(run, ...e.cascade, now));
          cascaded = true;
        }
      }
      // Dependents cancelled with it end too: tell waiters ('[]': no idle worker wakes for it).
      if (cascaded) written.push(run(q.notify, [this.#channel, "[]"]));
      const reaped = await expired;
      await Promise.all(written);
      if (reaped.length > 0) {
        wake = true;
        await this.#reap(run, reaped, now);
      }
      if (wake) await run(q.notify, [this.#channel, ""]);
      if (first === undefined && limitedRows.length === 0) return [];
      const rows: Row[] = [...limitedRows, ...(first === undefined ? [] : await first)];
      // Jobs this step made ready (released children, retries due now, reaped
      // leases) were not there for the first claim: offer the free slots again.
      if (wake && claiming && rows.length < p.limit) {
        rows.push(...await claim(p.limit - rows.length));
      }
      const claimed: Claimed[] = rows.map((r) => ({
        seq: Number(r.seq),
        id: r.id as string,
        name: r.name as string,
        task: r.task as string,
        params: r.params as string,
        attempt: Number(r.attempts),
        maxAttempts: Number(r.max_attempts),
        timeout: Number(r.timeout),
        retryDelay: Number(r.retry_delay),
        backoff: r.backoff as Backoff,
        run: Number(r.runs),
        children: Number(r.children),
        hasParents: r.has_parents === true,
        priority: Number(r.priority),
        runAt: Number(r.run_at),
        queue: r.queue as string,
        maxRetryDelay: Number(r.max_retry_delay),
        workerId: claimer.workerId,
        startedAt: now,
        parentResults: undefined,
      }));
      // Set only for a traced worker: one property more on every claimed job cost the
      // SQLite ffi path ~5% of its CPU per processed job, so no backend adds it otherwise.
      if (claimer.traced === true) {
        for (let i = 0; i < claimed.length; i++) {
          claimed[i].traceContext = (rows[i].trace_context ?? null) as string | null;
        }
      }
      const withParents = claimed.filter((c) => c.hasParents);
      if (withParents.length > 0) {
        const bySeq = new Map(withParents.map((c) => [c.seq, c]));
        for (const c of withParents) c.parentResults = {};
        for (const r of await run(q.parentResults, [[...bySeq.keys()]])) {
          const c = bySeq.get(Number(r.child))!;
          (c.parentResults as Record<string, JsonValue>)[r.id as string] = fromJson(r.result);
        }
      }
      if (claimed.length > 1) {
        claimed.sort((a, b) => b.priority - a.priority || a.runAt - b.runAt || a.seq - b.seq);
      }
      return claimed;
    });
  }

  /**
   * Ends one attempt: a retry while attempts are left (and it is not
   * permanent), else its final status. Resolves to whether a job became
   * ready at once and, for a final end of a job with children, the cascade
   * to run (in a later statement, which sees edges committed meanwhile).
   */
  async #end(
    run: Run,
    e: Ending,
    now: number,
  ): Promise<{ cascade?: [number, string, string]; ready: boolean }> {
    const q = this.#q;
    if (!e.permanent && e.attempt < e.maxAttempts) {
      const runAt = now + (e.extras?.retryInMs ??
        Math.round(retryDelaySeconds(e.retryDelay, e.backoff, e.attempt, e.maxRetryDelay) * 1000));
      const r = await run(q.retry, [
        e.error,
        now,
        e.seq,
        e.run,
        e.attempt,
        e.workerId,
        e.startedAt,
        e.detail,
        e.kind,
        runAt,
        runAt > now,
      ]);
      return { ready: r.count > 0 && runAt <= now };
    }
    const [row] = await run(q.fail, [
      e.error,
      now,
      e.seq,
      e.run,
      e.attempt,
      e.workerId,
      e.startedAt,
      e.detail,
      e.kind,
    ]);
    // The facade's keysIfUndelivered: written with the failure that ends the job, or not at all.
    const sets = e.extras?.setIfFinal;
    if (row !== undefined && sets !== undefined && sets.length > 0) {
      await run(q.kvSet, kvSetParams(sets, now));
    }
    return {
      ready: false,
      cascade: row !== undefined && Number(row.children) > 0 ? [e.seq, e.id, e.kind] : undefined,
    };
  }

  #cascade(
    run: Run,
    seq: number,
    id: string,
    status: string,
    now: number,
  ): Promise<unknown> {
    return run(this.#q.cascadeCancel, [seq, cascadeMessage(id, status), seq, now]);
  }

  /** Ends attempts whose worker stopped renewing the lease (rows locked by expiredLeases). */
  async #reap(
    run: Run,
    rows: readonly Row[],
    now: number,
  ): Promise<void> {
    const ended = rows.map((r) => {
      const message = lapseMessage({
        workerId: r.worker_id,
        startedAt: Number(r.started_at),
        leaseUntil: Number(r.lease_until),
        timeout: Number(r.timeout),
      });
      return this.#end(run, {
        seq: Number(r.seq),
        id: r.id as string,
        run: Number(r.runs),
        attempt: Number(r.attempts),
        maxAttempts: Number(r.max_attempts),
        retryDelay: Number(r.retry_delay),
        backoff: r.backoff as Backoff,
        maxRetryDelay: Number(r.max_retry_delay),
        permanent: false,
        kind: "timeout",
        error: message,
        detail: message,
        workerId: r.worker_id as string,
        startedAt: Number(r.started_at),
      }, now);
    });
    const cascades: Promise<unknown>[] = [];
    for (const e of await Promise.all(ended)) {
      if (e.cascade !== undefined) cascades.push(this.#cascade(run, ...e.cascade, now));
    }
    await Promise.all(cascades);
  }

  async renewLeases(p: RenewParams): Promise<void> {
    const sql = await this.#ready();
    await sql.unsafe(this.#q.heartbeat, [
      p.now + p.leaseMs,
      p.owner,
      p.graceMs,
      p.now,
      p.workerId,
    ], PREPARED);
  }

  async registerWorker(p: WorkerRegistration): Promise<WorkerRecord | undefined> {
    let host = "unknown";
    try {
      // Ask first: without the permission, Deno would prompt on a terminal.
      if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state === "granted") {
        host = Deno.hostname();
      }
    } catch {
      // The host name is informational only.
    }
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.registerWorker, [
      p.workerId,
      host,
      Deno.pid,
      JSON.stringify([...p.tasks]),
      p.concurrency,
      p.now,
      p.queues === undefined ? null : JSON.stringify(p.queues),
    ], PREPARED);
    if (!p.previous || row === undefined) return undefined;
    return {
      host: String(row.host),
      pid: Number(row.pid),
      seenAt: Number(row.seen_at),
      stoppedAt: row.stopped_at === null ? null : Number(row.stopped_at),
    };
  }

  async workerStopped(p: { workerId: string; now: number }): Promise<void> {
    const sql = await this.#ready();
    await sql.unsafe(this.#q.workerStopped, [p.workerId, p.now], PREPARED);
  }

  async overdue(p: { owner: string; now: number; graceMs: number }): Promise<boolean> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.workerOverdue, [p.owner, p.now - p.graceMs], PREPARED);
    return row?.overdue === true;
  }

  /**
   * Ends the running attempts of lease owner `owner`, which is gone.
   * `"died"`: each counts as failed (retried while attempts are left).
   * `"terminated"`: those more than `graceMs` past their timeout count as
   * timed out; the others go back to pending uncounted. Returns their ids.
   */
  async endAttempts(p: {
    owner: string;
    how: "died" | "terminated";
    message: string;
    now: number;
    graceMs: number;
  }): Promise<string[]> {
    const q = this.#q;
    const { now } = p;
    return await this.#tx(async (tx) => {
      const run = runner(tx);
      const ids: string[] = [];
      let wake = false;
      for (const r of await run(q.workerJobs, [p.owner])) {
        const seq = Number(r.seq);
        const startedAt = Number(r.started_at);
        const timeout = Number(r.timeout);
        ids.push(r.id as string);
        if (p.how === "terminated" && startedAt + timeout * 1000 + p.graceMs > now) {
          const reason = `Released: ${p.message}`;
          const done = await run(q.release, [
            reason,
            now,
            seq,
            r.runs,
            r.attempts,
            r.worker_id,
            startedAt,
            reason,
          ]);
          if (done.count > 0) wake = true;
          continue;
        }
        const kind = p.how === "died" ? "failed" : "timeout";
        const error = p.how === "died"
          ? p.message
          : `Job timed out after ${timeout} seconds; its handler ignored the abort signal, so ${p.message}`;
        const e = await this.#end(run, {
          seq,
          id: r.id as string,
          run: Number(r.runs),
          attempt: Number(r.attempts),
          maxAttempts: Number(r.max_attempts),
          retryDelay: Number(r.retry_delay),
          backoff: r.backoff as Backoff,
          maxRetryDelay: Number(r.max_retry_delay),
          permanent: false,
          kind,
          error,
          detail: error,
          workerId: r.worker_id as string,
          startedAt,
        }, now);
        if (e.ready) wake = true;
        if (e.cascade !== undefined) await this.#cascade(run, ...e.cascade, now);
      }
      if (wake) await run(q.notify, [this.#channel, ""]);
      if (ids.length > 0) await run(q.notifyEnds, [this.#channel, ids]);
      return ids;
    });
  }

  /**
   * `JobQueue.transaction()` hands its function a synchronous SQLite
   * connection, which a network database cannot give: on PostgreSQL the
   * application's own transaction takes the jobs (`submitInTransaction`).
   */
  transaction<T>(_p: {
    now: number;
    fn: (tx: { connection: unknown; insertJobs: TxInsert }) => T;
  }): Promise<T> {
    return Promise.reject(
      new Error(
        `Cannot run queue.transaction() on ${this.#label}: it runs a synchronous SQLite ` +
          `transaction; nothing was written. On PostgreSQL, submit inside your own transaction: ` +
          `sql.begin(async (tx) => submitInTransaction(tx, queue, job)), with ` +
          `submitInTransaction from "@gigq/gigq/postgres"`,
      ),
    );
  }

  async cancel(p: { id: string; now: number }): Promise<boolean> {
    return await this.#tx(async (tx) => {
      const cancelled = await this.#cancelIn(runner(tx), p.id, p.now);
      // Tells the worker running it, and anyone waiting for it.
      if (cancelled) await tx.unsafe(this.#q.notify, [this.#channel, "[]"], PREPARED);
      return cancelled;
    });
  }

  /**
   * Cancels pending or running job `id` and its pending descendants in a
   * transaction; a running one ends at once, its attempt recorded.
   */
  async #cancelIn(run: Run, id: string, now: number): Promise<boolean> {
    const q = this.#q;
    const [row] = await run(q.cancel, [id, now]);
    if (row !== undefined) {
      if (Number(row.children) > 0) await this.#cascade(run, Number(row.seq), id, "cancelled", now);
      return true;
    }
    const [r] = await run(q.runningJob, [id]);
    if (r === undefined) return false;
    const [done] = await run(q.cancelRunning, [
      CANCELLED_WHILE_RUNNING,
      now,
      r.seq,
      r.runs,
      r.attempts,
      r.worker_id,
      r.started_at,
      CANCELLED_WHILE_RUNNING,
    ]);
    if (done === undefined) return false;
    if (Number(done.children) > 0) await this.#cascade(run, Number(r.seq), id, "cancelled", now);
    return true;
  }

  /**
   * Puts a failed, timed-out or cancelled job back to pending with its
   * attempts reset, and brings back the descendants its end had cancelled.
   * Refuses (false) while one of its own dependencies ended badly.
   */
  async requeue(p: { id: string; now: number }): Promise<boolean> {
    return await this.#tx(async (tx) => {
      const [job] = await runner(tx)(this.#q.findJob, [p.id]);
      if (job === undefined) return false;
      if (!await this.#requeueIn(tx, Number(job.seq), p.id, p.now, true)) return false;
      await tx.unsafe(this.#q.notify, [this.#channel, ""], PREPARED);
      return true;
    });
  }

  /**
   * {@linkcode PostgresBackend.requeue} of job `seq` in a transaction. A
   * unique key held by another job is a `RangeError` when `throwHeld`, else
   * a refusal (false, the transaction still usable).
   */
  async #requeueIn(
    tx: TransactionSql,
    seq: number,
    id: string,
    now: number,
    throwHeld: boolean,
  ): Promise<boolean> {
    const q = this.#q;
    const run = runner(tx);
    const [job] = await run(q.findJobBySeq, [seq]);
    if (job === undefined) return false;
    if ((await run(q.badParent, [seq])).length > 0) return false;
    const key = job.unique_key as string | null;
    const held = (holder?: string) =>
      new RangeError(keyHeldMessage(id, key!, String(job.queue), holder));
    if (key !== null && job.status !== "pending" && job.status !== "running") {
      const [holder] = await run(q.keyHolder, [job.queue, key]);
      if (holder !== undefined) {
        if (throwHeld) throw held(String(holder.id));
        return false;
      }
    }
    try {
      const update = key === null || throwHeld
        ? run(q.requeue, [now, seq])
        // A savepoint: a submit of the same key committed since the look
        // above fails only this job's update, not the whole batch.
        : tx.savepoint((sp) => sp.unsafe(q.requeue, [now, seq], PREPARED)) as unknown as Promise<
          Row[] & { count: number }
        >;
      if ((await update).count === 0) return false;
    } catch (error) {
      if ((error as { code?: string })?.code === "23505" && key !== null) {
        if (throwHeld) throw held();
        return false;
      }
      throw error;
    }
    for (const { seq: d } of await run(q.cancelledBy, [seq])) {
      const [bad] = await run(q.badParent, [d]);
      if (bad === undefined) {
        await run(q.restore, [d, now]);
      } else {
        const rootSeq = Number(bad.cancelled_by ?? bad.seq);
        const [root] = await run(q.jobsBySeq, [[rootSeq]]);
        await run(q.recancel, [
          d,
          cascadeMessage(String(root?.id), String(root?.status)),
          rootSeq,
          now,
        ]);
      }
    }
    return true;
  }

  async cancelMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#bulk(p.filter, async (tx, rows) => {
      const run = runner(tx);
      let n = 0;
      for (const r of rows) if (await this.#cancelIn(run, String(r.id), p.now)) n++;
      if (n > 0) await run(this.#q.notify, [this.#channel, "[]"]);
      return n;
    });
  }

  async requeueMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#bulk(p.filter, async (tx, rows) => {
      let n = 0;
      for (const r of rows) {
        if (await this.#requeueIn(tx, Number(r.seq), String(r.id), p.now, false)) n++;
      }
      if (n > 0) await tx.unsafe(this.#q.notify, [this.#channel, ""], PREPARED);
      return n;
    });
  }

  /**
   * Runs `op` on the jobs matching `filter`, {@linkcode BULK_BATCH} at a
   * time (locked, in seq order), each batch one transaction; jobs added
   * after it began are left alone. Returns the sum of what `op` counted.
   */
  async #bulk(
    filter: BulkFilter,
    op: (tx: TransactionSql, rows: Row[]) => Promise<number>,
  ): Promise<number> {
    const q = this.#q;
    const sql = await this.#ready();
    const [{ max }] = await sql.unsafe(q.maxSeq, [], PREPARED);
    const upTo = Number(max);
    let after = 0;
    let count = 0;
    for (;;) {
      const batch = await this.#tx(async (tx) => {
        const rows = await runner(tx)(q.bulkMatches, [
          after,
          upTo,
          [...filter.statuses],
          filter.queue ?? null,
          filter.name ?? null,
          BULK_BATCH,
          filter.task ?? null,
        ]);
        const n = rows.length === 0 ? 0 : await op(tx, rows);
        return { n, rows: rows.length, last: rows.length === 0 ? upTo : Number(rows.at(-1)!.seq) };
      });
      count += batch.n;
      if (batch.rows < BULK_BATCH) return count;
      after = batch.last;
    }
  }

  async runningOf(p: { owner: string }): Promise<{ seq: number; run: number }[]> {
    const sql = await this.#ready();
    const rows = await sql.unsafe(this.#q.ownerRuns, [p.owner], PREPARED);
    return rows.map((r) => ({ seq: Number(r.seq), run: Number(r.runs) }));
  }

  async cancelledRuns(p: { runs: readonly { seq: number; run: number }[] }): Promise<number[]> {
    if (p.runs.length === 0) return [];
    const sql = await this.#ready();
    const rows = await sql.unsafe(this.#q.cancelledRuns, [
      p.runs.map((r) => ({ seq: r.seq, run: r.run })),
    ] as Param[], PREPARED);
    return rows.map((r) => Number(r.seq));
  }

  /**
   * LISTENs on the queue's channel and calls `wake` for a notification that
   * a job ended or was cancelled ('[]'), and after each (re)LISTEN. A
   * waiter (`id`) wakes on every notification, and holds the job's wait
   * lock, so that its end sends one (see the statements' waitKey); it is
   * woken once the lock is held, to read the job again.
   */
  watchEnds(p: Parameters<Backend["watchEnds"]>[0]): () => void {
    const client = this.#client;
    if (this.#closed || client === undefined || !client.open) return () => {};
    let active = true;
    let release: (() => void) | undefined;
    const unsubscribe = subscribe(client, (payload) => {
      if (active && (p.id !== undefined || payload === null || payload === "[]")) p.wake();
    }, p.debug);
    if (p.id !== undefined) {
      void holdWait(client, this.#q.holdWait, this.#q.dropWait, p.id, p.debug).then((drop) => {
        if (!active) return drop();
        release = drop;
        p.wake();
      });
    }
    return () => {
      if (!active) return;
      active = false;
      unsubscribe();
      release?.();
    };
  }

  async clear(p: { before: number; now: number }): Promise<number> {
    const sql = await this.#ready();
    return (await sql.unsafe(this.#q.clear, [p.before], PREPARED)).count;
  }

  /**
   * One batch of retention: where the round stands (one statement, no
   * transaction: nothing to prune costs one round trip), then one short
   * transaction that locks the jobs to delete, skipping rows another
   * transaction holds (another worker's batch, a requeue: neither waits for
   * the other), and deletes them.
   */
  async prune(p: PruneParams): Promise<PruneBatch> {
    const q = this.#q;
    const sql = await this.#ready();
    const now = Math.floor(p.now);
    const [head] = await sql.unsafe(q.pruneHead, [
      now,
      DEFAULT_KEEP_COMPLETED,
      DEFAULT_KEEP_FAILED,
      p.after,
      p.limit * PRUNE_WINDOW,
    ], PREPARED);
    if (head.cut === null || head.first === null || Number(head.first) >= Number(head.cut)) {
      return { deleted: 0, next: undefined };
    }
    const end = Number(head.window_end);
    return await this.#tx(async (tx) => {
      const run = runner(tx);
      const locked = await run(q.pruneLock, [
        p.after,
        end,
        now,
        DEFAULT_KEEP_COMPLETED,
        DEFAULT_KEEP_FAILED,
        p.limit,
      ]);
      if (locked.length === 0) return { deleted: 0, next: end };
      const seqs = locked.map((r) => Number(r.seq));
      const deleted = (await run(q.pruneLocked, [seqs])).count;
      // A full batch may have left some of the window: the next one starts after it.
      return { deleted, next: seqs.length >= p.limit ? Math.max(...seqs) : end };
    });
  }

  async getJob(p: { id: string; now: number }): Promise<JobDetails | undefined> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.jobById, [p.id], PREPARED);
    if (row === undefined) return undefined;
    const executions: ExecutionInfo[] = (row.executions as Row[]).map((e) => ({
      attempt: Number(e.attempt),
      run: Number(e.run),
      status: e.status as JobStatus,
      workerId: e.worker_id as string,
      startedAt: iso(e.started_at),
      completedAt: isoOrNull(e.completed_at),
      error: e.error as string | null,
    }));
    // The attempt running now, and a completed one, live on the job's row.
    if (
      (row.status === "running" || row.status === "completed") &&
      executions.at(-1)?.run !== Number(row.runs)
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
    return { ...toJobInfo(row), executions, children: (row.children_ids as string[]).map(String) };
  }

  async listJobs(p: ListParams): Promise<JobInfo[]> {
    const sql = await this.#ready();
    let beforeSeq: number | undefined;
    if (p.before !== undefined) {
      // A job's seq never changes: no snapshot needs to hold both reads.
      const [row] = await sql.unsafe(this.#q.seqOfId, [p.before], PREPARED);
      if (row === undefined) {
        throw new JobNotFoundError(p.before, beforeNotFoundMessage("list jobs", p.before));
      }
      beforeSeq = Number(row.seq);
    }
    const { sql: text, params } = listJobsSql(this.spec.schema, { ...p, beforeSeq }, p.limit);
    return (await sql.unsafe(text, params, PREPARED)).map(toJobInfo);
  }

  async countJobs(p: CountParams): Promise<JobCount> {
    const sql = await this.#ready();
    const { sql: text, params } = countJobsSql(this.spec.schema, p, p.cap);
    const [row] = await sql.unsafe(text, params, PREPARED);
    const n = Number(row.n);
    return n > p.cap ? { count: p.cap, exact: false } : { count: n, exact: true };
  }

  async workers(p: { stopped: boolean; now: number }): Promise<WorkerInfo[]> {
    const sql = await this.#ready();
    const [rows, running] = await sql.begin((tx) => [
      tx.unsafe(this.#q.workers, [p.stopped, STOPPED_WORKERS_SHOWN], PREPARED),
      tx.unsafe(this.#q.runningByWorker, [], PREPARED),
    ]) as unknown as [Row[], Row[]];
    return workerInfos(rows, running.map((r) => [String(r.worker_id), String(r.id)] as const));
  }

  async activity(
    p: { since: number; minutes: number; queue: string | undefined; now: number },
  ): Promise<ActivityRow[]> {
    const sql = await this.#ready();
    const rows = await sql.unsafe(this.#q.activity, [
      p.since,
      p.since + p.minutes * 60_000,
      p.queue ?? null,
    ], PREPARED);
    return rows.map((r) => ({
      minute: p.since + Number(r.m) * 60_000,
      completed: Number(r.completed),
      failed: Number(r.failed),
    }));
  }

  async stats(p: { queue: string | undefined; now: number }): Promise<QueueStats> {
    const sql = await this.#ready();
    const counts = new Map<string, number>();
    const rows = p.queue === undefined
      ? await sql.unsafe(this.#q.stats, [], PREPARED)
      : await sql.unsafe(this.#q.statsOfQueue, [p.queue], PREPARED);
    for (const r of rows) counts.set(r.status, Number(r.n));
    return queueStats(counts);
  }

  async queueList(_p: { now: number }): Promise<QueueInfo[]> {
    const sql = await this.#ready();
    const [counts, states] = await sql.begin((tx) => [
      tx.unsafe(this.#q.queueCounts, [], PREPARED),
      tx.unsafe(this.#q.queueStates, [], PREPARED),
    ]) as unknown as [Row[], Row[]];
    return queueInfos(
      counts.map((r) => [String(r.queue), String(r.status), Number(r.n)] as const),
      states.map((r) => [String(r.name), r.paused === true, settingsRow(r)] as const),
    );
  }

  async configureQueue(
    p: { queue: string; config: QueueConfig; now: number },
  ): Promise<QueueSettings> {
    const q = this.#q;
    const settings = await this.#tx(async (tx) => {
      const run = runner(tx);
      // Insert first, so the row exists to lock: two configures of one queue take turns.
      await run(q.nameQueue, [p.queue, p.now]);
      const [found] = await run(q.lockSettings, [p.queue]);
      const row = applyConfig(settingsRow(found), p.config);
      await run(q.setSettings, [
        p.queue,
        p.now,
        ...settingsValues(row),
      ]);
      // A limit lifted (or raised) may make jobs claimable at once.
      await run(q.notify, [this.#channel, ""]);
      return toSettings(row);
    });
    this.#limitsReadAt = -Infinity;
    return settings;
  }

  async setProgress(
    p: { rows: readonly { seq: number; run: number; progress: string }[] },
  ): Promise<void> {
    const sql = await this.#ready();
    await sql.unsafe(this.#q.setProgress, [p.rows as unknown as Param], PREPARED);
  }

  async limitState(p: { queue: string; key: string | null; now: number }): Promise<LimitState> {
    const q = this.#q;
    const sql = await this.#ready();
    const [[found], [running], [keyRunning]] = await sql.begin((tx) => [
      tx.unsafe(q.queueSettings, [p.queue], PREPARED),
      tx.unsafe(q.runningInQueue, [p.queue], PREPARED),
      tx.unsafe(q.runningOfKey, [p.queue, p.key], PREPARED),
    ]) as unknown as Row[][];
    const settings = found === undefined ? { ...NO_SETTINGS } : settingsRow(found);
    const starts = settings.rate_per === null ? [] : await sql.unsafe(
      q.startsSince,
      [p.queue, Math.floor(p.now) - settings.rate_per],
      PREPARED,
    );
    return {
      settings,
      running: Number(running.n),
      keyRunning: Number(keyRunning.n),
      starts: starts.map((r) => Number(r.at)),
    };
  }

  /**
   * The limited queues `claimer` serves, by name (the order their rows are
   * locked in), as last read: read again when a second old, so a limit set
   * elsewhere reaches this worker's claims within about a second (until
   * then the queue's jobs wait: the other claims leave limited queues alone).
   */
  async #limitedServed(run: Run, claimer: Claimer): Promise<string[]> {
    const t = performance.now();
    if (t - this.#limitsReadAt > 1000) {
      const rows = await run(this.#q.limitedQueues, []);
      this.#limited = new Map(rows.map((r) => [String(r.name), settingsRow(r)]));
      this.#limitsReadAt = t;
    }
    if (this.#limited.size === 0) return [];
    const served = claimer.queues === undefined ? undefined : new Set(claimer.queues);
    return [...this.#limited.keys()].filter((n) => served === undefined || served.has(n)).sort();
  }

  /**
   * Claims up to `limit` jobs from the limited queues `claimer` serves: for
   * each, locks its row (claims of that queue take turns; the others go
   * on), reads its settings and counts its running jobs and recent starts
   * afresh, then claims what its limits leave.
   */
  async #claimLimited(run: Run, claimer: Claimer, limit: number, now: number): Promise<Row[]> {
    const q = this.#q;
    const claimed: Row[] = [];
    for (const queue of await this.#limitedServed(run, claimer)) {
      if (claimed.length >= limit) break;
      const [found] = await run(q.lockSettings, [queue]);
      if (found === undefined || found.paused === true) continue;
      const s = settingsRow(found);
      if (!isLimited(s)) continue;
      let room = limit - claimed.length;
      if (s.concurrency !== null) {
        const [r] = await run(q.runningInQueue, [queue]);
        room = Math.min(room, s.concurrency - Number(r.n));
      }
      // As SQLite's claim: a rate-limited queue's claim takes the later of
      // its caller's time and the queue's latest start, so starts only grow.
      let at = now;
      if (s.rate_max !== null && s.rate_per !== null && room > 0) {
        const [row] = await run(q.latestStart, [queue]);
        const latest = row?.t === null || row?.t === undefined ? undefined : Number(row.t);
        if (latest !== undefined && latest > at) at = latest;
        // Only starts no later claim can count: those a window before the latest start.
        await run(q.dropStarts, [queue, (latest ?? at) - s.rate_per]);
        const starts = await run(q.startsSince, [queue, at - s.rate_per]);
        room = Math.min(room, s.rate_max - starts.length);
      }
      if (room <= 0) continue;
      const params = [
        claimer.workerId,
        at,
        at + claimer.leaseMs,
        room,
        claimer.graceMs,
        claimer.owner,
        [...claimer.tasks],
      ];
      let rows: Row[];
      if (s.key_concurrency === null) {
        rows = await run(q.claimIn, [...params, queue]);
      } else {
        const perKey = s.key_concurrency;
        const [running, candidates] = await Promise.all([
          run(q.runningByKey, [queue]),
          run(q.keyedCandidates, [queue, [...claimer.tasks], Math.min(perKey, room), room]),
        ]);
        const busy = new Map(running.map((r) => [String(r.key), Number(r.n)]));
        const taken = new Map<string, number>();
        const chosen: number[] = [];
        candidates.sort((a, b) =>
          Number(b.priority) - Number(a.priority) || Number(a.run_at) - Number(b.run_at) ||
          Number(a.seq) - Number(b.seq)
        );
        for (const c of candidates) {
          if (chosen.length >= room) break;
          if (c.key !== null) {
            const key = String(c.key);
            const n = (busy.get(key) ?? 0) + (taken.get(key) ?? 0);
            if (n >= perKey) continue;
            taken.set(key, (taken.get(key) ?? 0) + 1);
          }
          chosen.push(Number(c.seq));
        }
        rows = chosen.length === 0 ? [] : await run(q.claimSeqs, [...params.slice(0, 6), chosen]);
      }
      if (s.rate_max !== null && rows.length > 0) {
        await run(q.recordStarts, [queue, at, rows.length]);
      }
      claimed.push(...rows);
    }
    return claimed;
  }

  async isPaused(p: { queue: string }): Promise<boolean> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.isPaused, [p.queue], PREPARED);
    return row?.paused === true;
  }

  async setPaused(p: { queue: string; paused: boolean; now: number }): Promise<void> {
    const sql = await this.#ready();
    if (p.paused) await sql.unsafe(this.#q.setPaused, [p.queue, true, p.now], PREPARED);
    else await sql.unsafe(this.#q.resume, [p.queue, p.now], PREPARED);
    // A resumed queue's jobs are work: wake idle workers (a pause needs no one).
    if (!p.paused) await sql.unsafe(this.#q.notify, [this.#channel, ""], PREPARED);
  }

  async workerFacts(
    p: { workerId?: string; liveSince: number; now: number },
  ): Promise<WorkerFacts> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(
      this.#q.workerFacts,
      [Math.floor(p.liveSince), p.workerId ?? null],
      PREPARED,
    );
    const lists =
      (typeof row?.live_tasks === "string"
        ? JSON.parse(row.live_tasks)
        : row?.live_tasks ?? []) as unknown[];
    const liveTasks = lists.map((t) => {
      try {
        const names = typeof t === "string" ? JSON.parse(t) : t;
        return Array.isArray(names) ? names.map(String) : [];
      } catch {
        return [];
      }
    });
    const num = (v: unknown) => v === null || v === undefined ? undefined : Number(v);
    return { lastSeen: num(row?.last_seen), liveTasks, seenAt: num(row?.seen_at) };
  }

  backup(_p: { dest: string; now: number }): Promise<void> {
    return Promise.reject(
      new Error(
        `Cannot back up ${this.#label} to a file: a PostgreSQL queue is backed up with the ` +
          `server's own tools (pg_dump --schema=${this.spec.schema})`,
      ),
    );
  }

  /** One snapshot (a repeatable-read transaction) of every job, edge and attempt. */
  async exportQueue(_p: { now: number }): Promise<QueueDump> {
    const q = this.#q;
    const sql = await this.#ready();
    return await sql.begin("isolation level repeatable read read only", async (tx) => {
      const run = runner(tx);
      const [jobs, edges, attempts, queues, schedules, scheduleRuns] = await Promise.all([
        run(q.exportJobs, []),
        run(q.exportEdges, []),
        run(q.exportAttempts, []),
        run(q.queueStates, []),
        run(q.schedules, []),
        run(q.exportScheduleRuns, []),
      ]);
      return {
        jobs: jobs.map(toJobRecord),
        edges: edges.map(toEdgeRecord),
        attempts: attempts.map(toAttemptRecord),
        queues: queues.map((r) => ({
          name: String(r.name),
          paused: r.paused === true,
          settings: settingsRow(r),
        })),
        schedules: schedules.map(toScheduleRecord),
        scheduleRuns: scheduleRuns.map(toScheduleRunRecord),
      };
    }) as QueueDump;
  }

  /**
   * Inserts a dump in one transaction that keeps other writers of jobs out
   * meanwhile (so the emptiness and id checks hold until it commits).
   */
  async importQueue(p: { dump: QueueDump; force: boolean; now: number }): Promise<void> {
    const q = this.#q;
    const { dump } = p;
    await this.#tx(async (tx) => {
      const run = runner(tx);
      await run(q.lockJobs, []);
      const [{ n, max }] = await run(q.jobCountAndMaxSeq, []);
      const count = Number(n);
      if (count > 0 && !p.force) throw new Error(notEmptyMessage(this.#label, count));
      if (count > 0) {
        let total = 0;
        const taken: string[] = [];
        for (let i = 0; i < dump.jobs.length; i += IMPORT_BATCH) {
          const ids = dump.jobs.slice(i, i + IMPORT_BATCH).map((j) => j.id);
          const [row] = await run(q.takenIds, [ids]);
          total += Number(row.n);
          for (const id of (row.ids as string[] | null) ?? []) if (taken.length < 3) taken.push(id);
        }
        if (total > 0) throw new Error(collisionMessage(this.#label, taken, total));
      }
      if (dump.schedules.length > 0) {
        const names = await run(q.takenScheduleNames, [dump.schedules.map((d) => d.name)]);
        if (names.length > 0) {
          throw new Error(scheduleCollisionMessage(this.#label, names.map((r) => String(r.name))));
        }
      }
      const offset = count > 0 ? Number(max) : 0;
      const sent: Promise<unknown>[] = [];
      const send = (text: string, rows: readonly object[]) => {
        for (let i = 0; i < rows.length; i += IMPORT_BATCH) {
          sent.push(run(text, [rows.slice(i, i + IMPORT_BATCH), offset]));
        }
      };
      // In this order on the one connection: jobs before what refers to them.
      send(q.importJobs, dump.jobs);
      send(q.importEdges, dump.edges);
      send(q.importAttempts, dump.attempts);
      sent.push(run(q.syncSeq, [`${quoteIdent(this.spec.schema)}.gigq_jobs`]));
      // A queue paused there is paused here (one paused only here stays so).
      for (const s of dump.queues) {
        if (s.paused) sent.push(run(q.setPaused, [s.name, true, p.now]));
        const r = s.settings;
        if (r !== undefined && Object.values(r).some((v) => v !== null)) {
          sent.push(run(q.setSettings, [
            s.name,
            p.now,
            ...settingsValues(r),
          ]));
        }
      }
      for (let i = 0; i < dump.schedules.length; i += IMPORT_BATCH) {
        sent.push(run(q.importSchedules, [dump.schedules.slice(i, i + IMPORT_BATCH)]));
      }
      for (let i = 0; i < dump.scheduleRuns.length; i += IMPORT_BATCH) {
        sent.push(run(q.importScheduleRuns, [dump.scheduleRuns.slice(i, i + IMPORT_BATCH)]));
      }
      sent.push(run(q.notify, [this.#channel, ""]));
      await Promise.all(sent);
    });
  }

  // Schedules ---------------------------------------------------------------

  async listSchedules(p: { tasks?: readonly string[]; now: number }): Promise<ScheduleRecord[]> {
    const sql = await this.#ready();
    const rows = p.tasks === undefined
      ? await sql.unsafe(this.#q.schedules, [], PREPARED)
      : await sql.unsafe(this.#q.schedulesOfTasks, [[...p.tasks]], PREPARED);
    return rows.map(toScheduleRecord);
  }

  /** Reads schedule `name` locked, and stores what `merge` makes of it, in one transaction. */
  async saveSchedule(p: {
    name: string;
    merge: (stored: ScheduleRecord | undefined) => ScheduleRecord;
    now: number;
  }): Promise<ScheduleRecord> {
    const q = this.#q;
    return await this.#tx(async (tx) => {
      const [row] = await tx.unsafe(q.lockSchedule, [p.name], PREPARED);
      const next = p.merge(row === undefined ? undefined : toScheduleRecord(row));
      await tx.unsafe(q.saveSchedule, SCHEDULE_COLUMNS.map((c) => next[c]) as Param[], PREPARED);
      return next;
    });
  }

  async deleteSchedule(p: { name: string; now: number }): Promise<boolean> {
    const q = this.#q;
    return await this.#tx(async (tx) => {
      const run = runner(tx);
      const deleted = run(q.deleteSchedule, [p.name]);
      const pruned = run(q.pruneScheduleRuns, [p.name, p.now - SCHEDULE_RUNS_KEEP_MS]);
      const [rows] = await Promise.all([deleted, pruned]);
      return rows.length > 0;
    });
  }

  /**
   * Locks the schedule's row (skipping it if another transaction holds it:
   * a fire or a save under way), checks it is as the caller read it, then
   * records the slots, inserts their jobs (with the wake-up of idle workers)
   * and moves the schedule on, in one transaction.
   */
  async fireSchedule(f: ScheduleFire): Promise<string[] | undefined> {
    const q = this.#q;
    return await this.#tx(async (tx) => {
      const run = runner(tx);
      const [row] = await run(q.lockScheduleToFire, [f.name]);
      if (
        row === undefined || row.paused === true || row.next_run_at === null ||
        Number(row.next_run_at) !== f.expected.nextRunAt ||
        Number(row.updated_at) !== f.expected.updatedAt
      ) {
        return undefined;
      }
      const recorded = f.runs.length === 0 ? [] : await run(q.insertScheduleRuns, [
        f.runs.map((r) => ({ slot: r.slot, job_id: r.job.job.id })),
        f.name,
        f.now,
      ]);
      // A slot recorded before (a clock set back) fires no second job.
      const kept = new Set(recorded.map((r) => String(r.job_id)));
      const jobs = f.runs.filter((r) => kept.has(r.job.job.id)).map((r) => r.job);
      const inserting = jobs.length === 0
        ? Promise.resolve([])
        : this.#insertRows(tx, jobs, f.now, undefined);
      const written = [
        run(q.advanceSchedule, [f.name, f.nextRunAt, f.lastRunAt]),
        run(q.pruneScheduleRuns, [f.name, f.now - SCHEDULE_RUNS_KEEP_MS]),
      ];
      const [ids] = await Promise.all([inserting, ...written]);
      return ids as string[];
    });
  }

  async scheduleRunOf(p: { jobId: string }): Promise<ScheduleRunRecord | undefined> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.scheduleRunOfJob, [p.jobId], PREPARED);
    return row === undefined ? undefined : toScheduleRunRecord(row);
  }

  async nextWake(p: { now: number }): Promise<number | undefined> {
    const sql = await this.#ready();
    const [[row], [rate]] = await Promise.all([
      sql.unsafe(this.#q.nextWake, [], PREPARED),
      // A rate-limited queue's jobs become claimable when a start leaves its window.
      sql.unsafe(this.#q.rateWake, [Math.floor(p.now)], PREPARED),
    ]);
    const times = [row?.t, rate?.t].filter((t) => t !== null && t !== undefined).map(Number);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /**
   * While a worker is idle: LISTENs on the queue's channel (one LISTEN per
   * client, kept while it is open) and wakes the worker for a notification
   * naming one of its tasks, or for any other one once a look finds work.
   * It holds the queue's idle lock meanwhile (a submit sends its NOTIFY only
   * while someone does), and looks once the lock is held (for work committed
   * since its last claim, or by a submit that saw no idle worker), and again
   * after each (re)LISTEN. A hint only: the worker also polls, so a lost
   * notification or a pooler that drops LISTEN costs latency, never a job.
   */
  watch(p: Parameters<Backend["watch"]>[0]): () => void {
    const client = this.#client;
    if (p.enabled === false || this.#closed || client === undefined || !client.open) {
      return () => {};
    }
    const tasks = [...p.tasks];
    const queues = p.queues === undefined ? null : [...p.queues];
    const lock = { hold: this.#q.holdIdle, drop: this.#q.dropIdle };
    let active = true;
    const stop = () => {
      if (!active) return;
      active = false;
      unsubscribe();
      if (client.watchers.size === 0) releaseIdle(client, lock);
    };
    const wake = () => {
      if (!active) return;
      stop();
      p.wake();
    };
    const look = () => {
      if (!active) return;
      inFlight(
        held.then(() => client.sql.unsafe(this.#q.workReady, [p.now(), tasks, queues], PREPARED)),
      )
        .then(
          ([row]) => {
            if (row?.ready === true) wake();
          },
          () => wake(), // Let the loop find out what is wrong.
        );
    };
    // Subscribed before the lock is held: a NOTIFY sent once it is held finds this watcher.
    const unsubscribe = subscribe(client, (payload) => {
      if (payload !== null && payload !== "") {
        if (concerns(payload, tasks)) wake();
      } else {
        look();
      }
    }, p.debug);
    const held = holdIdle(client, lock, p.debug);
    look();
    return stop;
  }

  onLocalCommit(listener: () => void): () => void {
    return onLocalCommit(this.spec, listener);
  }

  notifyLocalCommit(): void {
    notifyLocalCommit(this.spec);
  }

  storageState(): StorageState {
    return "same";
  }

  reopen(): void {
    if (this.#client !== undefined) releaseClient(this.#client);
    this.#client = acquireClient(this.spec);
    this.#generation++;
  }

  releaseToken(): string | undefined {
    return undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#client !== undefined) releaseClient(this.#client);
    this.#client = undefined;
  }

  // ---- The key-value table (see Backend) ----
  async kvGet(p: { key: string }): Promise<KvRow | undefined> {
    const sql = await this.#ready();
    const [row] = await sql.unsafe(this.#q.kvGet, [p.key], PREPARED);
    return row === undefined ? undefined : kvRow(row);
  }

  async kvList(p: { prefix: string; limit: number }): Promise<KvRow[]> {
    const sql = await this.#ready();
    return (await sql.unsafe(this.#q.kvList, [p.prefix, p.limit], PREPARED)).map(kvRow);
  }

  async kvSet(p: { entries: readonly KvEntry[]; now: number }): Promise<void> {
    if (p.entries.length === 0) return;
    const sql = await this.#ready();
    await sql.unsafe(this.#q.kvSet, kvSetParams(p.entries, p.now), PREPARED);
  }

  async kvDelete(p: { key: string }): Promise<boolean> {
    const sql = await this.#ready();
    return (await sql.unsafe(this.#q.kvDelete, [p.key], PREPARED)).count > 0;
  }
}

/** A row of gigq_kv. */
function kvRow(r: Row): KvRow {
  return { key: String(r.key), value: String(r.value), updatedAt: Number(r.updated_at) };
}

/** The parameters of the kvSet statement: keys, values (the last of a repeated key wins), time. */
function kvSetParams(entries: readonly KvEntry[], now: number): [string[], string[], number] {
  const byKey = new Map(entries.map((e) => [e.key, e.value]));
  return [[...byKey.keys()], [...byKey.values()], now];
}
