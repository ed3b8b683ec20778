/**
 * Every SQL statement the PostgreSQL backend runs, for one schema. Times are
 * epoch milliseconds (bigint) from the caller's clock, never the server's;
 * every parameter is cast, so each statement prepares once with fixed types.
 *
 * @module
 */

import { SCHEDULE_RUNS_KEEP, SCHEDULE_RUNS_KEEP_OLD } from "../_backend.ts";

/**
 * An insert of pending jobs from `source` (rows `u` with id and ordinality
 * `o`, in order) whose other columns are `values` (name … concurrency_key),
 * with the NOTIFY of insertReadyJob; parameters $16–$19 are now,
 * trace_context, channel and payload. Answers inserted and notified.
 */
function plainInsert(jobs: string, idle: string, source: string, values: string[]): string {
  const [
    name,
    task,
    module,
    params,
    priority,
    maxAttempts,
    timeout,
    retryDelay,
    backoff,
    description,
    runAt,
    queue,
    maxRetryDelay,
    concurrencyKey,
  ] = values;
  return `WITH j AS (
      INSERT INTO ${jobs} (id, name, task, module, params, priority, max_attempts, timeout,
        retry_delay, backoff, description, dependencies, status, run_at, scheduled, created_at,
        updated_at, queue, max_retry_delay, concurrency_key, trace_context)
      SELECT u.id, ${name}, ${task}, ${module}, ${params}, ${priority}, ${maxAttempts},
        ${timeout}, ${retryDelay}, ${backoff}, ${description}, '[]', 'pending', ${runAt},
        ${runAt} > $16::bigint, $16::bigint, $16::bigint, ${queue}, ${maxRetryDelay},
        ${concurrencyKey}, $17::text
      FROM ${source}
      ORDER BY u.o
      RETURNING 1),
    n AS (SELECT pg_notify($18::text, $19::text) WHERE EXISTS (SELECT 1 FROM j)
      AND NOT pg_try_advisory_xact_lock(${idle}))
    SELECT (SELECT count(*) FROM j)::int AS inserted, (SELECT count(*) FROM n)::int AS notified`;
}

/** The statements of the queue in `schema` (a name {@linkcode quoteIdent} accepts). */
export type Statements = ReturnType<typeof build>;

const cache = new Map<string, Statements>();

/** `name` as a quoted identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The statements for `schema`, built once per schema. */
export function statements(schema: string): Statements {
  let s = cache.get(schema);
  if (s === undefined) cache.set(schema, s = build(schema));
  return s;
}

/** The NOTIFY channel of the queue in `schema`. */
export function channel(schema: string): string {
  return `gigq.${schema}`;
}

/**
 * The advisory lock of the queue in `schema`'s idle workers (an SQL
 * expression). Each client with an idle worker holds it shared on a session
 * of its own; a submit tries it exclusively in its transaction and sends its
 * NOTIFY only when that fails (someone may be waiting for one). A worker
 * taking the lock waits for such a submit to commit, then looks for work, so
 * a job committed without a NOTIFY is one every idle worker sees.
 */
function idleKey(schema: string): string {
  return `hashtextextended('gigq idle ' || '${schema.replaceAll("'", "''")}', 0)`;
}

/**
 * The advisory lock of a waiter on one job of the queue in `schema` (an SQL
 * expression of the job's id, `idExpr`). A waiter holds it shared; a
 * transaction that ends the job tries it exclusively and sends a NOTIFY
 * when that fails (someone waits), so ends stay silent while nobody waits.
 * A waiter taking the lock waits for such a transaction to commit, then
 * reads the job.
 */
function waitKey(schema: string, idExpr: string): string {
  return `hashtextextended('gigq wait ' || '${schema.replaceAll("'", "''")} ' || ${idExpr}, 0)`;
}

/** The statuses, to put one in a statement as a literal (so a partial index can serve it). */
const STATUS_LITERALS = new Set(
  ["pending", "running", "completed", "failed", "timeout", "cancelled"],
);

/** A job filter (validated; undefined: any), and the seq of a listing's cursor. */
interface FilterValues {
  status?: string;
  queue?: string;
  task?: string;
  search?: string;
  beforeSeq?: number;
}

/** A filter's conditions on jobs `j` (ANDed), with its values as $1… after `params`. */
function filterSql(f: FilterValues, params: (string | number)[]): string[] {
  const where: string[] = [];
  const param = (value: string | number, type: string) => `$${params.push(value)}::${type}`;
  if (f.status !== undefined) {
    if (!STATUS_LITERALS.has(f.status)) throw new RangeError(`unknown status ${f.status}`);
    where.push(`j.status = '${f.status}'`);
  }
  if (f.queue !== undefined) where.push(`j.queue = ${param(f.queue, "text")}`);
  if (f.task !== undefined) where.push(`j.task = ${param(f.task, "text")}`);
  if (f.search !== undefined) {
    // strpos, not LIKE: literal (no wildcard to escape) and case-sensitive.
    const text = param(f.search, "text");
    where.push(`(j.id = ${text} OR strpos(j.params, ${text}) > 0)`);
  }
  if (f.beforeSeq !== undefined) where.push(`j.seq < ${param(f.beforeSeq, "bigint")}`);
  return where;
}

const whereOf = (conds: readonly string[]) =>
  conds.length === 0 ? "" : ` WHERE ${conds.join(" AND ")}`;

/**
 * The jobs of the queue in `schema` matching a filter, newest first (seq
 * DESC), at most `limit`; the status is a literal (a partial index serves
 * running, failed, timed-out and cancelled jobs), the other values are
 * parameters, in order.
 */
export function listJobsSql(
  schema: string,
  f: FilterValues,
  limit: number,
): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const where = filterSql(f, params);
  const jobs = `${quoteIdent(schema)}.gigq_jobs`;
  const columns = jobColumns(jobs);
  return {
    sql: `SELECT ${columns} FROM ${jobs} j${whereOf(where)}
      ORDER BY j.seq DESC LIMIT $${params.push(limit)}::bigint`,
    params,
  };
}

/**
 * How many jobs of the queue in `schema` match a filter, counting at most
 * `cap + 1` (so a huge match stops early). Pending jobs are counted from
 * the three partial indexes that hold them (each pending job is in exactly
 * one), the ready one by queue.
 */
export function countJobsSql(
  schema: string,
  f: FilterValues,
  cap: number,
): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const where = filterSql(f, params);
  const jobs = `${quoteIdent(schema)}.gigq_jobs`;
  const inner = f.status === "pending"
    ? [
      "j.parents_left = 0 AND NOT j.scheduled",
      "j.scheduled",
      "j.parents_left > 0 AND NOT j.scheduled",
    ].map((predicate) => `SELECT 1 FROM ${jobs} j${whereOf([...where, predicate])}`)
      .join(" UNION ALL ")
    : `SELECT 1 FROM ${jobs} j${whereOf(where)}`;
  return {
    sql: `SELECT count(*)::bigint AS n FROM (${inner} LIMIT $${params.push(cap + 1)}::bigint) AS m`,
    params,
  };
}

/** Every column a job report needs, of jobs `j` in table `jobs` (with the canceller's id). */
function jobColumns(jobs: string): string {
  return `j.seq, j.id, j.name, j.task, j.module, j.params, j.priority,
    j.max_attempts, j.timeout, j.retry_delay, j.backoff, j.description, j.dependencies, j.status,
    j.attempts, j.runs, j.run_at, j.scheduled, j.parents_left, j.children, j.result, j.error,
    j.worker_id, j.lease_until, j.cancelled_by, j.created_at, j.updated_at, j.started_at,
    j.completed_at, j.queue, j.unique_key, j.progress, j.max_retry_delay, j.concurrency_key,
    (SELECT c.id FROM ${jobs} c WHERE c.seq = j.cancelled_by) AS cancelled_by_id`;
}

/** A pending job a claim may take now (the predicate of gigq_jobs_ready). */
const READY = "status = 'pending' AND parents_left = 0 AND NOT scheduled";
/** A queue (row p of gigq_queues) whose claims must count: it has a limit. */
const LIMITED =
  "p.concurrency IS NOT NULL OR p.key_concurrency IS NOT NULL OR p.rate_max IS NOT NULL";

function build(schema: string) {
  const s = quoteIdent(schema);
  const jobs = `${s}.gigq_jobs`;
  const deps = `${s}.gigq_job_deps`;
  const attempts = `${s}.gigq_attempts`;
  const workers = `${s}.gigq_workers`;
  const JOB_COLUMNS = jobColumns(jobs);
  const queuesTable = `${s}.gigq_queues`;
  const schedules = `${s}.gigq_schedules`;
  const runs = `${s}.gigq_schedule_runs`;
  /** A schedule's columns, in SCHEDULE_COLUMNS order (see src/_schedule_row.ts). */
  const SCHEDULE_COLUMNS = `name, cron, timezone, task, module, params, options, missed,
    paused, next_run_at, last_run_at, created_at, updated_at`;
  /**
   * The queues a claim reads now (parameter $n: the worker's, a text array;
   * NULL: 'default' and every named queue), without the paused ones (and,
   * with `open`, without the limited ones, which a claim of their own takes
   * under their row's lock). Read by the claim's own statement, so a pause
   * or a limit committed before it is honoured.
   */
  const servedAs = (n: number, open: boolean) =>
    `served AS (SELECT DISTINCT q FROM unnest(coalesce($${n}::text[],
        array_append(ARRAY(SELECT name FROM ${queuesTable}), 'default'))) AS q
      WHERE NOT EXISTS (SELECT 1 FROM ${queuesTable} p WHERE p.name = q AND (p.paused${
      open ? " OR " + LIMITED : ""
    })))`;
  /**
   * The claim's update of the rows in `ready`: for worker $1 (lease owner $6) at $2 until
   * lease $3, or the attempt's deadline plus $5 ms when sooner.
   */
  const claimUpdate = (ready: string) => claimOf(`${servedAs(8, true)}, ready AS (${ready})`);
  const claimOf = (withs: string) =>
    `WITH ${withs}
    UPDATE ${jobs} j SET status = 'running', attempts = j.attempts + 1, runs = j.runs + 1,
      worker_id = $1::text, lease_owner = $6::text, started_at = $2::bigint,
      updated_at = $2::bigint,
      lease_until = least($3::bigint, $2::bigint + trunc(j.timeout * 1000)::bigint + $5::bigint)
    FROM ready WHERE j.seq = ready.seq
    RETURNING j.seq, j.id, j.name, j.task, j.params, j.attempts, j.max_attempts, j.timeout,
      j.retry_delay, j.backoff, j.runs, j.children, j.dependencies <> '[]' AS has_parents,
      j.priority, j.run_at, j.queue, j.max_retry_delay, j.trace_context`;
  /** An attempt that ended other than completed, written if the fenced update `r` changed a row. */
  const recordAttempt = (status: string) =>
    `INSERT INTO ${attempts} (job, run, attempt, worker_id, status, started_at, completed_at,
      error) SELECT r.seq, $4::int, $5::int, $6::text, ${status}, $7::bigint, $2::bigint, $8::text
      FROM r`;
  return {
    /**
     * One job without dependencies, and the wake-up of idle workers (when
     * there may be some, see idleKey), as one statement (its own
     * transaction). Values: id, name, task, module, params, priority,
     * max_attempts, timeout, retry_delay, backoff, description, run_at, now,
     * channel, payload, queue, max_retry_delay.
     */
    insertReadyJob: `WITH j AS (
        INSERT INTO ${jobs} (id, name, task, module, params, priority, max_attempts, timeout,
          retry_delay, backoff, description, dependencies, status, run_at, scheduled, created_at,
          updated_at, queue, max_retry_delay)
        VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::int, $7::int,
          $8::float8, $9::float8, $10::text, $11::text, '[]', 'pending', $12::bigint,
          $12::bigint > $13::bigint, $13::bigint, $13::bigint, $16::text, $17::float8)
        RETURNING seq)
      SELECT pg_notify($14::text, $15::text) FROM j
      WHERE NOT pg_try_advisory_xact_lock(${idleKey(schema)})`,
    /** insertReadyJob for a job with unique key $18: inserted 0 when the key is held. */
    insertReadyKeyedJob: `WITH j AS (
        INSERT INTO ${jobs} (id, name, task, module, params, priority, max_attempts, timeout,
          retry_delay, backoff, description, dependencies, status, run_at, scheduled, created_at,
          updated_at, queue, max_retry_delay, unique_key)
        VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::int, $7::int,
          $8::float8, $9::float8, $10::text, $11::text, '[]', 'pending', $12::bigint,
          $12::bigint > $13::bigint, $13::bigint, $13::bigint, $16::text, $17::float8, $18::text)
        ON CONFLICT (queue, unique_key)
          WHERE unique_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING
        RETURNING seq),
      n AS (SELECT pg_notify($14::text, $15::text) FROM j
        WHERE NOT pg_try_advisory_xact_lock(${idleKey(schema)}))
      SELECT (SELECT count(*) FROM j)::int AS inserted, (SELECT count(*) FROM n)::int AS notified`,
    /** The job holding key $2 in queue $1 (pending or running), as lockParents reads it. */
    keyHolder: `SELECT seq, id, status, cancelled_by AS root FROM ${jobs}
      WHERE queue = $1::text AND unique_key = $2::text AND status IN ('pending', 'running')
      FOR NO KEY UPDATE`,
    /**
     * Jobs without dependencies or unique keys, in the order given, and the
     * wake-up of idle workers, as one statement (its own transaction unless
     * run in one). A column per array ($1–$15: id, name, task, module,
     * params, priority, max_attempts, timeout, retry_delay, backoff,
     * description, run_at, queue, max_retry_delay, concurrency_key); then
     * now, trace_context, channel, payload. Arrays of plain values, which
     * the server reads far faster than a JSON array of objects.
     */
    insertPlainJobs: plainInsert(
      jobs,
      idleKey(schema),
      `unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[],
          $8::float8[], $9::float8[], $10::text[], $11::text[], $12::bigint[], $13::text[],
          $14::float8[], $15::text[])
        WITH ORDINALITY AS u(id, name, task, module, params, priority, max_attempts, timeout,
          retry_delay, backoff, description, run_at, queue, max_retry_delay, concurrency_key, o)`,
      [
        "u.name",
        "u.task",
        "u.module",
        "u.params",
        "u.priority",
        "u.max_attempts",
        "u.timeout",
        "u.retry_delay",
        "u.backoff",
        "u.description",
        "u.run_at",
        "u.queue",
        "u.max_retry_delay",
        "u.concurrency_key",
      ],
    ),
    /**
     * insertPlainJobs for jobs alike in all but id, params and run_at (a
     * batch of one task): arrays $1–$3 (id, params, run_at), the rest once
     * ($4–$15: name, task, module, priority, max_attempts, timeout,
     * retry_delay, backoff, description, queue, max_retry_delay,
     * concurrency_key); then now, trace_context, channel, payload.
     */
    insertUniformJobs: plainInsert(
      jobs,
      idleKey(schema),
      `unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(id, params, run_at, o)`,
      [
        "$4::text",
        "$5::text",
        "$6::text",
        "u.params",
        "$7::int",
        "$8::int",
        "$9::float8",
        "$10::float8",
        "$11::text",
        "$12::text",
        "u.run_at",
        "$13::text",
        "$14::float8",
        "$15::text",
      ],
    ),
    /**
     * Jobs in the order given (a JSON array of objects, $1), at $2. Every
     * column a submit sets; the ones without dependencies leave the rest at
     * their defaults.
     */
    insertJobs: `INSERT INTO ${jobs} (id, name, task, module, params, priority, max_attempts,
        timeout, retry_delay, backoff, description, dependencies, status, run_at, scheduled,
        parents_left, error, cancelled_by, completed_at, created_at, updated_at, queue,
        unique_key, max_retry_delay, concurrency_key, trace_context)
      SELECT r.id, r.name, r.task, r.module, r.params, r.priority, r.max_attempts, r.timeout,
        r.retry_delay, r.backoff, r.description, r.dependencies, r.status, r.run_at,
        r.status = 'pending' AND r.run_at > $2::bigint, r.parents_left, r.error, r.cancelled_by,
        r.completed_at, $2::bigint, $2::bigint, r.queue, r.unique_key, r.max_retry_delay,
        r.concurrency_key, r.trace_context
      FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (id text, name text, task text,
          module text, params text, priority int, max_attempts int, timeout float8,
          retry_delay float8, backoff text, description text, dependencies text, status text,
          run_at bigint, parents_left int, error text, cancelled_by bigint, completed_at bigint,
          queue text, unique_key text, max_retry_delay float8, concurrency_key text,
          trace_context text))
        WITH ORDINALITY AS r
      ORDER BY r.ordinality
      ON CONFLICT (queue, unique_key)
        WHERE unique_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING
      RETURNING id`,
    /**
     * The dependency edges of a batch ($1: JSON array of {parent, child,
     * position} ids), counted on their parents (only the edges of children
     * that were inserted).
     */
    insertEdges: `WITH e AS (INSERT INTO ${deps} (parent, child, position)
        SELECT p.seq, c.seq, e.position
        FROM jsonb_to_recordset($1::jsonb) AS e(parent text, child text, position int)
        JOIN ${jobs} p ON p.id = e.parent JOIN ${jobs} c ON c.id = e.child
        RETURNING parent)
      UPDATE ${jobs} j SET children = j.children + n.n
      FROM (SELECT parent, count(*)::int AS n FROM e GROUP BY parent) n
      WHERE j.seq = n.parent`,
    /**
     * Would-be parents outside the batch, by id, locked until the submit
     * commits: a parent completing meanwhile waits, then sees the new edge.
     */
    lockParents: `SELECT seq, id, status, cancelled_by AS root FROM ${jobs}
      WHERE id = ANY($1::text[]) ORDER BY seq FOR NO KEY UPDATE`,
    /** Jobs by seq: id and status (for the message of a cascaded cancel). */
    jobsBySeq: `SELECT seq, id, status FROM ${jobs} WHERE seq = ANY($1::bigint[])`,
    /** Wakes idle workers once this transaction commits. */
    notify: `SELECT pg_notify($1::text, $2::text)`,
    /** Wakes idle workers once this transaction commits, if there may be some (see idleKey). */
    notifyIdle: `SELECT pg_notify($1::text, $2::text)
      WHERE NOT pg_try_advisory_xact_lock(${idleKey(schema)})`,
    /**
     * Wakes waiters ('[]': no idle worker takes it for work) once this
     * transaction commits, if one may wait for one of the jobs $2 (ids) it
     * ends (see waitKey).
     */
    notifyEnds: `SELECT pg_notify($1::text, '[]') WHERE EXISTS (SELECT 1
      FROM unnest($2::text[]) AS e(id) WHERE NOT pg_try_advisory_xact_lock(${
      waitKey(schema, "e.id")
    }))`,
    /** Marks this session as waiting for job $1 (see waitKey). */
    holdWait: `SELECT pg_advisory_lock_shared(${waitKey(schema, "$1::text")})`,
    /** Ends one holdWait of job $1 on this session. */
    dropWait: `SELECT pg_advisory_unlock_shared(${waitKey(schema, "$1::text")})`,
    /** Marks this session as one of an idle worker's, once no submit is committing (see idleKey). */
    holdIdle: `SELECT pg_advisory_lock_shared(${idleKey(schema)})`,
    /** Ends one holdIdle of this session. */
    dropIdle: `SELECT pg_advisory_unlock_shared(${idleKey(schema)})`,

    /** Fenced completions ($1: JSON array of {seq, run, result}) at $2; returns those with children. */
    complete: `UPDATE ${jobs} j SET status = 'completed', result = u.result, error = NULL,
        lease_until = NULL, completed_at = $2::bigint, updated_at = $2::bigint
      FROM jsonb_to_recordset($1::jsonb) AS u(seq bigint, run int, result text)
      WHERE j.seq = u.seq AND j.status = 'running' AND j.runs = u.run
      RETURNING j.seq, j.children`,
    /**
     * Completed parents ($1) release their children, one count per edge
     * (two parents completing in one step release a child twice). Its own
     * statement, so it sees edges committed while the completion waited.
     */
    releaseChildren: `UPDATE ${jobs} j SET parents_left = j.parents_left - d.n
      FROM (SELECT child, count(*)::int AS n FROM ${deps} WHERE parent = ANY($1::bigint[])
        GROUP BY child) d
      WHERE j.seq = d.child`,
    /**
     * Fenced release (back to pending, the attempt not counted), with its
     * attempt. Values: reason, now, seq, run, attempt, worker_id, started_at, reason.
     */
    release: `WITH r AS (UPDATE ${jobs} SET status = 'pending',
        attempts = greatest(attempts - 1, 0), error = $1::text, worker_id = NULL,
        lease_until = NULL, updated_at = $2::bigint, progress = NULL
      WHERE seq = $3::bigint AND status = 'running' AND runs = $4::int RETURNING seq)
      ${recordAttempt("'cancelled'")}`,
    /**
     * Fenced retry: back to pending not before $10 ($11: scheduled), with its
     * attempt. Values: error, now, seq, run, attempt, worker_id, started_at,
     * detail, status ('failed' or 'timeout'), run_at, scheduled.
     */
    retry: `WITH r AS (UPDATE ${jobs} SET status = 'pending', error = $1::text, worker_id = NULL,
        lease_until = NULL, updated_at = $2::bigint, run_at = $10::bigint, progress = NULL,
        scheduled = $11::boolean
      WHERE seq = $3::bigint AND status = 'running' AND runs = $4::int RETURNING seq)
      ${recordAttempt("$9::text")}`,
    /**
     * Fenced final failure (status $9), with its attempt; returns the job's
     * children count as it is now. Values as for retry, without the last two.
     */
    fail: `WITH r AS (UPDATE ${jobs} SET status = $9::text, error = $1::text, result = NULL,
        worker_id = NULL, lease_until = NULL, completed_at = $2::bigint, updated_at = $2::bigint
      WHERE seq = $3::bigint AND status = 'running' AND runs = $4::int RETURNING seq, children),
      a AS (${recordAttempt("$9::text")})
      SELECT seq, children FROM r`,
    /** Cancels every pending descendant of $1, naming the job ($3) that caused it, at $4. */
    cascadeCancel: `WITH RECURSIVE d(seq) AS (
        SELECT child FROM ${deps} WHERE parent = $1::bigint
        UNION
        SELECT e.child FROM ${deps} e JOIN d ON e.parent = d.seq)
      UPDATE ${jobs} SET status = 'cancelled', error = $2::text, cancelled_by = $3::bigint,
        completed_at = $4::bigint, updated_at = $4::bigint, scheduled = false
      WHERE seq IN (SELECT seq FROM d) AND status = 'pending'`,

    /** Running jobs whose lease ended before $1, locked (another worker's reap skips them). */
    expiredLeases: `SELECT seq, id, runs, attempts, max_attempts, retry_delay, backoff,
        worker_id, started_at, lease_until, children, timeout, max_retry_delay
      FROM ${jobs} WHERE status = 'running' AND lease_until < $1::bigint
      ORDER BY lease_until LIMIT 100 FOR UPDATE SKIP LOCKED`,
    /** Moves delayed jobs whose time ($1) has come into the ready index. */
    promote: `UPDATE ${jobs} SET scheduled = false WHERE seq IN (
        SELECT seq FROM ${jobs} WHERE status = 'pending' AND scheduled AND run_at <= $1::bigint
        FOR UPDATE SKIP LOCKED)`,
    /**
     * The claim of up to $4 ready jobs of one task ($7) in the served queues
     * (see served): one ordered range of gigq_jobs_ready per queue, then the
     * best $4 of them.
     */
    claimOne: claimUpdate(`SELECT r.seq FROM served CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM ${jobs}
        WHERE queue = served.q AND task = $7::text AND ${READY}
        ORDER BY priority DESC, run_at, seq LIMIT $4::int FOR UPDATE SKIP LOCKED) r
      ORDER BY r.priority DESC, r.run_at, r.seq LIMIT $4::int`),
    /**
     * The claim of up to $4 ready jobs among tasks $7: one ordered range of
     * gigq_jobs_ready per task (other tasks' backlogs are never read), then
     * the best $4 of them. Each range locks up to $4 rows until the step
     * commits; other workers skip those meanwhile.
     */
    claimMany: claimUpdate(`SELECT r.seq FROM served CROSS JOIN unnest($7::text[]) AS t(task)
      CROSS JOIN LATERAL (SELECT seq, priority, run_at FROM ${jobs}
        WHERE queue = served.q AND task = t.task AND ${READY}
        ORDER BY priority DESC, run_at, seq LIMIT $4::int FOR UPDATE SKIP LOCKED) r
      ORDER BY r.priority DESC, r.run_at, r.seq LIMIT $4::int`),
    /** The claim order of one task's ready jobs, for EXPLAIN in tests. */
    claimOrder: `SELECT seq FROM ${jobs} WHERE queue = 'default' AND task = $1::text AND ${READY}
      ORDER BY priority DESC, run_at, seq LIMIT $2::int`,
    /** Each dependency's id and result, per child ($1), in dependency order. */
    parentResults: `SELECT d.child, p.id, p.result FROM ${deps} d
      JOIN ${jobs} p ON p.seq = d.parent
      WHERE d.child = ANY($1::bigint[]) ORDER BY d.child, d.position`,
    /**
     * The next moment something may become claimable: a delayed job comes
     * due, or a lease has expired (the reap takes lease_until < now: + 1).
     */
    nextWake: `SELECT least(
        (SELECT min(run_at) FROM ${jobs} WHERE status = 'pending' AND scheduled),
        (SELECT min(lease_until) + 1 FROM ${jobs} WHERE status = 'running')) AS t`,
    /**
     * Whether a claim at $1 by a worker of tasks $2 serving queues $3 (see
     * servedAs; NULL: every queue) could find work (read only).
     */
    workReady: `WITH ${servedAs(3, false)} SELECT EXISTS (SELECT 1 FROM ${jobs}
          WHERE queue IN (SELECT q FROM served) AND task = ANY($2::text[]) AND ${READY})
        OR EXISTS (SELECT 1 FROM ${jobs}
          WHERE status = 'pending' AND scheduled AND run_at <= $1::bigint)
        OR EXISTS (SELECT 1 FROM ${jobs}
          WHERE status = 'running' AND lease_until < $1::bigint) AS ready`,

    /**
     * Renews the leases lease owner $2 holds to $1, or each attempt's
     * deadline plus $3 ms when sooner, and records that worker $5 was seen at $4.
     * A job another transaction has locked is skipped, not waited for: it is
     * being ended (a completion, a cancel, a reap) or briefly written, and
     * waiting while holding the other renewed rows could deadlock with that
     * transaction's own multi-row update (seen under a network partition).
     * The next renewal, a third of a lease later, takes it if it still runs.
     */
    heartbeat: `WITH r AS (UPDATE ${jobs} SET lease_until = least($1::bigint,
        started_at + trunc(timeout * 1000)::bigint + $3::bigint)
      WHERE seq IN (SELECT seq FROM ${jobs} WHERE status = 'running' AND lease_owner = $2::text
        FOR UPDATE SKIP LOCKED))
      UPDATE ${workers} SET seen_at = $4::bigint WHERE id = $5::text`,
    /**
     * Records worker $1 starting at $6; returns what was recorded of it
     * before (the statement's snapshot precedes its own upsert).
     */
    registerWorker: `WITH prev AS (SELECT host, pid, seen_at, stopped_at FROM ${workers}
        WHERE id = $1::text),
      up AS (INSERT INTO ${workers} (id, host, pid, tasks, concurrency, started_at, seen_at,
          queues)
        VALUES ($1::text, $2::text, $3::int, $4::text, $5::int, $6::bigint, $6::bigint, $7::text)
        ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
          tasks = excluded.tasks, concurrency = excluded.concurrency, queues = excluded.queues,
          started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL)
      SELECT host, pid, seen_at, stopped_at FROM prev`,
    workerStopped: `UPDATE ${workers} SET seen_at = $2::bigint, stopped_at = $2::bigint
      WHERE id = $1::text`,
    /** Whether lease owner $1 runs a job past its timeout by more than the grace ($2 = now - grace). */
    workerOverdue: `SELECT EXISTS (SELECT 1 FROM ${jobs} WHERE status = 'running'
      AND lease_owner = $1::text AND started_at + timeout * 1000 < $2::bigint) AS overdue`,
    /** The claims (seq, runs) lease owner $1 runs now. */
    ownerRuns: `SELECT seq, runs FROM ${jobs} WHERE status = 'running' AND lease_owner = $1::text`,
    /** Running jobs of lease owner $1, locked, for a pool that lost its Web Worker. */
    workerJobs: `SELECT seq, id, runs, attempts, max_attempts, retry_delay, backoff, started_at,
        timeout, children, worker_id, max_retry_delay
      FROM ${jobs} WHERE status = 'running' AND lease_owner = $1::text ORDER BY seq FOR UPDATE`,

    /** Cancels pending job $1 at $2; returns its seq and children. */
    cancel: `UPDATE ${jobs} SET status = 'cancelled', completed_at = $2::bigint,
        updated_at = $2::bigint, scheduled = false
      WHERE id = $1::text AND status = 'pending' RETURNING seq, children`,
    /**
     * Fenced cancel of running job $3 (run $4) at $2 with error $1, with its
     * attempt (values 5 to 8: attempt, worker_id, started_at, error). The
     * lease owner stays; the worker that ran it asks by its runs.
     */
    cancelRunning: `WITH r AS (UPDATE ${jobs} SET status = 'cancelled', error = $1::text,
        result = NULL, lease_until = NULL, completed_at = $2::bigint, updated_at = $2::bigint
      WHERE seq = $3::bigint AND status = 'running' AND runs = $4::int RETURNING seq, children),
      a AS (${recordAttempt("'cancelled'")})
      SELECT seq, children FROM r`,
    /** Running job $1, locked, with what cancelling it records. */
    runningJob: `SELECT seq, runs, attempts, worker_id, started_at FROM ${jobs}
      WHERE id = $1::text AND status = 'running' FOR UPDATE`,
    /**
     * Which of the claims $1 (a JSON array of {seq, run}) were cancelled
     * while they ran: the job is cancelled and was not claimed again since.
     */
    cancelledRuns: `SELECT j.seq FROM jsonb_to_recordset($1::jsonb) AS c(seq bigint, run int)
      JOIN ${jobs} j ON j.seq = c.seq AND j.runs = c.run WHERE j.status = 'cancelled'`,
    /**
     * Up to $6 jobs after seq $1 and up to $2 in statuses $3, of queue $4
     * name $5 and task $7 (NULL: any), in seq order (parents first), locked.
     */
    bulkMatches: `SELECT seq, id FROM ${jobs}
      WHERE seq > $1::bigint AND seq <= $2::bigint AND status = ANY($3::text[])
        AND ($4::text IS NULL OR queue = $4::text) AND ($5::text IS NULL OR name = $5::text)
        AND ($7::text IS NULL OR task = $7::text)
      ORDER BY seq LIMIT $6::int FOR UPDATE`,
    /** The largest seq (0 without jobs). */
    maxSeq: `SELECT coalesce(max(seq), 0) AS max FROM ${jobs}`,
    findJob: `SELECT seq, status, queue, unique_key FROM ${jobs} WHERE id = $1::text`,
    /** Job $1 by seq, as findJob reads it. */
    findJobBySeq: `SELECT seq, id, status, queue, unique_key FROM ${jobs} WHERE seq = $1::bigint`,
    /** Keeps a run_at still ahead (a cancelled delayed job): the job waits for it again. */
    requeue: `UPDATE ${jobs} SET status = 'pending', attempts = 0, error = NULL, result = NULL,
        progress = NULL,
        worker_id = NULL, lease_owner = NULL, lease_until = NULL, started_at = NULL,
        completed_at = NULL, cancelled_by = NULL, run_at = greatest(run_at, $1::bigint),
        scheduled = run_at > $1::bigint, updated_at = $1::bigint
      WHERE seq = $2::bigint AND status IN ('failed', 'timeout', 'cancelled')
      RETURNING task`,
    /** The first dependency of $1 that ended badly, if any. */
    badParent: `SELECT p.seq, p.id, p.status, p.cancelled_by FROM ${deps} d
        JOIN ${jobs} p ON p.seq = d.parent
      WHERE d.child = $1::bigint AND p.status IN ('failed', 'timeout', 'cancelled')
      ORDER BY d.position LIMIT 1`,
    /** Jobs cancelled because job $1 ended badly, parents before children. */
    cancelledBy: `SELECT seq FROM ${jobs} WHERE cancelled_by = $1::bigint
      AND status = 'cancelled' ORDER BY seq`,
    restore: `UPDATE ${jobs} SET status = 'pending', error = NULL, cancelled_by = NULL,
        completed_at = NULL, updated_at = $2::bigint, scheduled = run_at > $2::bigint
      WHERE seq = $1::bigint`,
    recancel: `UPDATE ${jobs} SET error = $2::text, cancelled_by = $3::bigint,
      updated_at = $4::bigint WHERE seq = $1::bigint`,

    /**
     * Deletes completed and cancelled jobs that finished before $1, except
     * those a job that stays still depends on (directly or through other
     * deleted jobs).
     */
    clear: `WITH RECURSIVE keep(seq) AS (
        SELECT d.parent FROM ${deps} d JOIN ${jobs} c ON c.seq = d.child
        WHERE NOT (c.status IN ('completed', 'cancelled') AND c.completed_at < $1::bigint)
        UNION
        SELECT d.parent FROM ${deps} d JOIN keep k ON d.child = k.seq)
      DELETE FROM ${jobs} j
      WHERE j.status IN ('completed', 'cancelled') AND j.completed_at < $1::bigint
        AND NOT EXISTS (SELECT 1 FROM keep WHERE keep.seq = j.seq)`,

    /**
     * Where a round of retention stands at $1 (now), with default
     * retentions $2 (completed) and $3 (failed, timed out, cancelled), in
     * seconds: the newest cutoff of any finite retention of 'default' and
     * the named queues (`cut`: an ended job older than it may be pruned;
     * NULL: every queue keeps its jobs forever), when the first job after
     * seq $4 was submitted (`first`; NULL: none), and, if that one is old
     * enough, the last seq of the $5 jobs after $4 (`window_end`: a batch
     * looks no further). Jobs are read in seq order, the order of their
     * submits, and a job ends after its submit: past a job submitted after
     * the cutoff, none is old enough.
     */
    pruneHead:
      `WITH names AS (SELECT 'default'::text AS name UNION SELECT name FROM ${queuesTable}),
        keeps AS (
          SELECT coalesce(q.keep_completed, $2::bigint) AS k
            FROM names n LEFT JOIN ${queuesTable} q USING (name)
          UNION ALL
          SELECT coalesce(q.keep_failed, $3::bigint)
            FROM names n LEFT JOIN ${queuesTable} q USING (name))
      SELECT h.cut, h.first, CASE WHEN h.first < h.cut THEN (SELECT max(seq) FROM (
          SELECT seq FROM ${jobs} WHERE seq > $4::bigint ORDER BY seq LIMIT $5::int) w)
        END AS window_end
      FROM (SELECT (SELECT $1::bigint - 1000 * min(k) FROM keeps WHERE k >= 0) AS cut,
        (SELECT created_at FROM ${jobs} WHERE seq > $4::bigint ORDER BY seq LIMIT 1) AS first) h`,
    /**
     * Locks, skipping rows another transaction holds, up to $6 jobs after
     * seq $1 and up to $2 that ended before $3 less their queue's retention
     * ($4 and $5: the defaults, as for pruneHead; -1: forever), in seq
     * order, and that no job depends on as this statement sees it. (Locked,
     * no new child can take one as its parent: pruneLocked checks the edges
     * again.) A range of the primary key: no other index is needed.
     */
    pruneLock: `SELECT j.seq FROM ${jobs} j LEFT JOIN ${queuesTable} q ON q.name = j.queue
        CROSS JOIN LATERAL (SELECT CASE j.status
          WHEN 'completed' THEN coalesce(q.keep_completed, $4::bigint)
          WHEN 'failed' THEN coalesce(q.keep_failed, $5::bigint)
          WHEN 'timeout' THEN coalesce(q.keep_failed, $5::bigint)
          WHEN 'cancelled' THEN coalesce(q.keep_failed, $5::bigint) END AS keep) k
      WHERE j.seq > $1::bigint AND j.seq <= $2::bigint
        AND k.keep >= 0 AND j.completed_at < $3::bigint - 1000 * k.keep
        AND (j.children = 0 OR NOT EXISTS (SELECT 1 FROM ${deps} d WHERE d.parent = j.seq))
      ORDER BY j.seq LIMIT $6::int FOR UPDATE OF j SKIP LOCKED`,
    /**
     * Deletes the jobs $1 (locked by pruneLock) but those a job depends on
     * now; their attempts and edges go with them (ON DELETE CASCADE).
     */
    pruneLocked: `DELETE FROM ${jobs} j WHERE j.seq = ANY($1::bigint[])
      AND (j.children = 0 OR NOT EXISTS (SELECT 1 FROM ${deps} d WHERE d.parent = j.seq))`,

    /** Queue $1's jobs, counted by status. */
    statsOfQueue: `SELECT status, count(*)::bigint AS n FROM ${jobs} WHERE queue = $1::text
      GROUP BY status`,
    /** Every queue's jobs, counted by status. */
    queueCounts: `SELECT queue, status, count(*)::bigint AS n FROM ${jobs} GROUP BY queue, status`,
    /** Each named (or paused) queue's state. */
    queueStates: `SELECT name, paused, concurrency, key_concurrency, rate_max, rate_per,
        keep_completed, keep_failed FROM ${queuesTable}`,
    /** The queues with a limit, and their settings. */
    limitedQueues: `SELECT p.name, p.concurrency, p.key_concurrency, p.rate_max, p.rate_per,
        p.keep_completed, p.keep_failed FROM ${queuesTable} p WHERE NOT p.paused AND (${LIMITED})`,
    /**
     * The claim of up to $4 ready jobs of queue $8 among tasks $7, as
     * claimMany (for a limited queue whose room the caller counted).
     */
    claimIn: claimOf(`ready AS (SELECT r.seq FROM unnest($7::text[]) AS t(task)
      CROSS JOIN LATERAL (SELECT seq, priority, run_at FROM ${jobs}
        WHERE queue = $8::text AND task = t.task AND ${READY}
        ORDER BY priority DESC, run_at, seq LIMIT $4::int FOR UPDATE SKIP LOCKED) r
      ORDER BY r.priority DESC, r.run_at, r.seq LIMIT $4::int)`),
    /** The claim of the pending jobs whose seqs are $7 (chosen by a limited queue's claim). */
    claimSeqs: claimOf(`ready AS (SELECT seq FROM ${jobs}
      WHERE seq = ANY($7::bigint[]) AND status = 'pending' LIMIT $4::int FOR UPDATE SKIP LOCKED)`),
    /** How many jobs of queue $1 run now. */
    runningInQueue:
      `SELECT count(*) AS n FROM ${jobs} WHERE status = 'running' AND queue = $1::text`,
    /** Queue $1's running jobs per concurrency key. */
    runningByKey: `SELECT concurrency_key AS key, count(*) AS n FROM ${jobs}
      WHERE status = 'running' AND queue = $1::text AND concurrency_key IS NOT NULL
      GROUP BY concurrency_key`,
    /** How many running jobs of queue $1 have concurrency key $2. */
    runningOfKey: `SELECT count(*) AS n FROM ${jobs}
      WHERE status = 'running' AND queue = $1::text AND concurrency_key = $2::text`,
    /**
     * The candidates of a claim in queue $1 (tasks $2) with a per-key limit:
     * up to $3 ready jobs of each of the first 1,000 keys with ready jobs
     * (found one index seek each: a busy key's backlog is never read), and up
     * to $4 of each task's jobs without a key, in claim order within each.
     */
    keyedCandidates: `WITH RECURSIVE k AS (
        (SELECT concurrency_key AS key FROM ${jobs}
          WHERE queue = $1::text AND ${READY} AND concurrency_key IS NOT NULL
          ORDER BY concurrency_key LIMIT 1)
        UNION ALL
        SELECT (SELECT concurrency_key FROM ${jobs}
            WHERE queue = $1::text AND ${READY} AND concurrency_key > k.key
            ORDER BY concurrency_key LIMIT 1)
          FROM k WHERE k.key IS NOT NULL),
      keys AS (SELECT key FROM k WHERE key IS NOT NULL LIMIT 1000)
      SELECT c.seq, c.priority, c.run_at, keys.key FROM keys CROSS JOIN LATERAL (
          SELECT seq, priority, run_at FROM ${jobs}
          WHERE queue = $1::text AND concurrency_key = keys.key AND ${READY}
            AND task = ANY($2::text[])
          ORDER BY priority DESC, run_at, seq LIMIT $3::int) c
      UNION ALL
      SELECT c.seq, c.priority, c.run_at, NULL FROM unnest($2::text[]) AS t(task)
        CROSS JOIN LATERAL (SELECT seq, priority, run_at FROM ${jobs}
          WHERE queue = $1::text AND task = t.task AND ${READY} AND concurrency_key IS NULL
          ORDER BY priority DESC, run_at, seq LIMIT $4::int) c`,
    /** Forgets queue $1's starts at or before $2 (out of its rate window). */
    dropStarts: `DELETE FROM ${s}.gigq_queue_starts WHERE queue = $1::text AND at <= $2::bigint`,
    /** Queue $1's starts after $2, oldest first (those in its rate window). */
    startsSince: `SELECT at FROM ${s}.gigq_queue_starts
      WHERE queue = $1::text AND at > $2::bigint ORDER BY at`,
    /** The latest start of queue $1 (NULL: none). */
    latestStart: `SELECT max(at) AS t FROM ${s}.gigq_queue_starts WHERE queue = $1::text`,
    /** Records $3 starts of queue $1 at $2 (for its rate limit). */
    recordStarts: `INSERT INTO ${s}.gigq_queue_starts (queue, at)
      SELECT $1::text, $2::bigint FROM generate_series(1, $3::int)`,
    /**
     * When a start of a rate-limited queue leaves its window (after $1): a
     * claim may then find room.
     */
    rateWake: `SELECT min(s.at + q.rate_per) AS t FROM ${s}.gigq_queue_starts s
      JOIN ${queuesTable} q ON q.name = s.queue
      WHERE q.rate_max IS NOT NULL AND s.at + q.rate_per > $1::bigint`,
    /** Records queue $1 (at $2), if it has no row yet. */
    nameQueue: `INSERT INTO ${queuesTable} (name, paused, updated_at)
      VALUES ($1::text, false, $2::bigint) ON CONFLICT (name) DO NOTHING`,
    /** Queue $1's settings (no row: none stored). */
    queueSettings: `SELECT concurrency, key_concurrency, rate_max, rate_per, keep_completed,
        keep_failed FROM ${queuesTable} WHERE name = $1::text`,
    /** Queue $1's settings, its row locked until the transaction ends (no row: none stored). */
    lockSettings: `SELECT paused, concurrency, key_concurrency, rate_max, rate_per, keep_completed,
        keep_failed FROM ${queuesTable} WHERE name = $1::text FOR UPDATE`,
    /** Stores queue $1's settings ($3 to $8) at $2, keeping its paused state. */
    setSettings: `INSERT INTO ${queuesTable} (name, paused, updated_at, concurrency,
        key_concurrency, rate_max, rate_per, keep_completed, keep_failed)
      VALUES ($1::text, false, $2::bigint, $3::int, $4::int, $5::int, $6::bigint, $7::bigint,
        $8::bigint)
      ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at,
        concurrency = excluded.concurrency, key_concurrency = excluded.key_concurrency,
        rate_max = excluded.rate_max, rate_per = excluded.rate_per,
        keep_completed = excluded.keep_completed, keep_failed = excluded.keep_failed`,
    /** Progress of running attempts ($1: JSON array of {seq, run, progress}), fenced. */
    setProgress: `UPDATE ${jobs} j SET progress = u.progress
      FROM jsonb_to_recordset($1::jsonb) AS u(seq bigint, run int, progress text)
      WHERE j.seq = u.seq AND j.status = 'running' AND j.runs = u.run`,
    /** Whether queue $1 is paused. */
    isPaused: `SELECT EXISTS (SELECT 1 FROM ${queuesTable} WHERE name = $1::text AND paused)
      AS paused`,
    /** Resumes queue $1 at $2 (a queue never paused nor named keeps no row). */
    resume: `UPDATE ${queuesTable} SET paused = false, updated_at = $2::bigint
      WHERE name = $1::text AND paused`,
    /** Pauses ($2 true) or resumes queue $1 at $3. */
    setPaused: `INSERT INTO ${queuesTable} (name, paused, updated_at)
      VALUES ($1::text, $2::boolean, $3::bigint)
      ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`,
    /** Every job, every column, in seq order (for a copy of the queue). */
    exportJobs: `SELECT seq, id, name, task, module, params, priority, max_attempts, timeout,
        retry_delay, backoff, description, dependencies, status, attempts, runs, run_at,
        scheduled, parents_left, children, result, error, worker_id, lease_until, cancelled_by,
        created_at, updated_at, started_at, completed_at, lease_owner, queue, unique_key,
        progress, max_retry_delay, concurrency_key, trace_context
      FROM ${jobs} ORDER BY seq`,
    exportEdges: `SELECT parent, child, position FROM ${deps} ORDER BY child, position`,
    exportAttempts: `SELECT job, run, attempt, worker_id, status, started_at, completed_at,
        error FROM ${attempts} ORDER BY job, run`,
    /** Keeps other writers of jobs out until a copy into the queue commits (reads go on). */
    lockJobs: `LOCK TABLE ${jobs} IN SHARE ROW EXCLUSIVE MODE`,
    /** How many jobs there are, and the largest seq (0 without jobs). */
    jobCountAndMaxSeq: `SELECT count(*) AS n, coalesce(max(seq), 0) AS max FROM ${jobs}`,
    /** Which of the ids $1 are taken (at most 3), and how many. */
    takenIds: `SELECT (array_agg(id ORDER BY seq))[1:3] AS ids, count(*) AS n FROM ${jobs}
      WHERE id = ANY($1::text[])`,
    /** Copied jobs ($1: a JSON array of rows, every column), their seqs moved by $2. */
    importJobs: `INSERT INTO ${jobs} (seq, id, name, task, module, params, priority,
        max_attempts, timeout, retry_delay, backoff, description, dependencies, status, attempts,
        runs, run_at, scheduled, parents_left, children, result, error, worker_id, lease_until,
        cancelled_by, created_at, updated_at, started_at, completed_at, lease_owner, queue,
        unique_key, progress, max_retry_delay, concurrency_key, trace_context)
      OVERRIDING SYSTEM VALUE
      SELECT r.seq + $2::bigint, r.id, r.name, r.task, r.module, r.params, r.priority,
        r.max_attempts, r.timeout, r.retry_delay, r.backoff, r.description, r.dependencies,
        r.status, r.attempts, r.runs, r.run_at, r.scheduled = 1, r.parents_left, r.children,
        r.result, r.error, r.worker_id, r.lease_until, r.cancelled_by + $2::bigint, r.created_at,
        r.updated_at, r.started_at, r.completed_at, r.lease_owner, r.queue, r.unique_key,
        r.progress, r.max_retry_delay, r.concurrency_key, r.trace_context
      FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, id text, name text, task text,
        module text, params text, priority int, max_attempts int, timeout float8,
        retry_delay float8, backoff text, description text, dependencies text, status text,
        attempts int, runs int, run_at bigint, scheduled int, parents_left int, children int,
        result text, error text, worker_id text, lease_until bigint, cancelled_by bigint,
        created_at bigint, updated_at bigint, started_at bigint, completed_at bigint,
        lease_owner text, queue text, unique_key text, progress text, max_retry_delay float8,
        concurrency_key text, trace_context text)`,
    /** Copied edges ($1: JSON rows by seq), moved by $2. */
    importEdges: `INSERT INTO ${deps} (parent, child, position)
      SELECT e.parent + $2::bigint, e.child + $2::bigint, e.position
      FROM jsonb_to_recordset($1::jsonb) AS e(parent bigint, child bigint, position int)`,
    /** Copied attempts ($1: JSON rows), their jobs moved by $2. */
    importAttempts: `INSERT INTO ${attempts} (job, run, attempt, worker_id, status, started_at,
        completed_at, error)
      SELECT a.job + $2::bigint, a.run, a.attempt, a.worker_id, a.status, a.started_at,
        a.completed_at, a.error
      FROM jsonb_to_recordset($1::jsonb) AS a(job bigint, run int, attempt int, worker_id text,
        status text, started_at bigint, completed_at bigint, error text)`,
    /** Moves the seq generator past the jobs there, after a copy gave seqs of its own. */
    syncSeq: `SELECT setval(pg_get_serial_sequence($1::text, 'seq'), max(seq))
      FROM ${jobs} HAVING max(seq) IS NOT NULL`,

    /**
     * The job, its recorded attempts and the ids of the jobs that depend on
     * it (JSON arrays, attempts by run, children in seq order), in one snapshot.
     */
    jobById: `SELECT ${JOB_COLUMNS}, (SELECT coalesce(json_agg(json_build_object(
          'run', a.run, 'attempt', a.attempt, 'worker_id', a.worker_id, 'status', a.status,
          'started_at', a.started_at, 'completed_at', a.completed_at, 'error', a.error)
          ORDER BY a.run), '[]') FROM ${attempts} a WHERE a.job = j.seq) AS executions,
        (SELECT coalesce(json_agg(c.id ORDER BY d.child), '[]') FROM ${deps} d
          JOIN ${jobs} c ON c.seq = d.child WHERE d.parent = j.seq) AS children_ids
      FROM ${jobs} j WHERE j.id = $1::text`,
    /** The seq of job $1 (a listing's cursor). */
    seqOfId: `SELECT seq FROM ${jobs} WHERE id = $1::text`,
    /** The workers that have not stopped, and (with $1) the last $2 that stopped. */
    workers: `(SELECT id, host, pid, tasks, queues, concurrency, started_at, seen_at, stopped_at
        FROM ${workers} WHERE stopped_at IS NULL)
      UNION ALL
      (SELECT id, host, pid, tasks, queues, concurrency, started_at, seen_at, stopped_at
        FROM ${workers} WHERE $1::boolean AND stopped_at IS NOT NULL
        ORDER BY stopped_at DESC, id LIMIT $2::bigint)`,
    /** Each running job's worker id and id, in seq order. */
    runningByWorker: `SELECT worker_id, id FROM ${jobs} WHERE status = 'running' ORDER BY seq`,
    /**
     * Jobs that completed, and that failed or timed out, per minute (the
     * minute's offset from $1) by completed_at from $1 to before $2, of
     * queue $3 unless it is NULL. A scan: no index holds completed_at (one
     * would cost every completion).
     */
    activity: `SELECT (completed_at - $1::bigint) / 60000 AS m,
        count(*) FILTER (WHERE status = 'completed') AS completed,
        count(*) FILTER (WHERE status <> 'completed') AS failed
      FROM ${jobs}
      WHERE completed_at >= $1::bigint AND completed_at < $2::bigint
        AND status IN ('completed', 'failed', 'timeout')
        AND ($3::text IS NULL OR queue = $3::text)
      GROUP BY m`,
    stats: `SELECT status, count(*) AS n FROM ${jobs} GROUP BY status`,
    /**
     * What why() asks of the workers: the last sign of life of any that has
     * not stopped, the task lists of those seen since $1, and when worker $2
     * (if any) was last seen.
     */
    workerFacts: `SELECT
        (SELECT max(seen_at) FROM ${workers} WHERE stopped_at IS NULL) AS last_seen,
        (SELECT coalesce(json_agg(tasks), '[]') FROM ${workers}
          WHERE stopped_at IS NULL AND seen_at >= $1::bigint) AS live_tasks,
        (SELECT seen_at FROM ${workers} WHERE id = $2::text) AS seen_at`,

    // Schedules -------------------------------------------------------------

    /** Every schedule, by name. */
    schedules: `SELECT ${SCHEDULE_COLUMNS} FROM ${schedules} ORDER BY name`,
    /** The schedules of the tasks $1, by name. */
    schedulesOfTasks: `SELECT ${SCHEDULE_COLUMNS} FROM ${schedules}
      WHERE task = ANY($1::text[]) ORDER BY name`,
    /** Schedule $1, locked until the transaction ends (a save of it reads, then writes). */
    lockSchedule: `SELECT ${SCHEDULE_COLUMNS} FROM ${schedules} WHERE name = $1::text FOR UPDATE`,
    /**
     * What a fire of schedule $1 checks, the row locked until it commits; no
     * row when another transaction holds it (a fire or a save under way).
     */
    lockScheduleToFire: `SELECT paused, next_run_at, updated_at FROM ${schedules}
      WHERE name = $1::text FOR UPDATE SKIP LOCKED`,
    /** Creates or replaces schedule $1, every column (in SCHEDULE_COLUMNS order). */
    saveSchedule: `INSERT INTO ${schedules} (${SCHEDULE_COLUMNS})
      VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text,
        $9::boolean, $10::bigint, $11::bigint, $12::bigint, $13::bigint)
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
        task = excluded.task, module = excluded.module, params = excluded.params,
        options = excluded.options, missed = excluded.missed, paused = excluded.paused,
        next_run_at = excluded.next_run_at, last_run_at = excluded.last_run_at,
        created_at = excluded.created_at, updated_at = excluded.updated_at`,
    deleteSchedule: `DELETE FROM ${schedules} WHERE name = $1::text RETURNING name`,
    /**
     * Records slots of schedule $2 ($1: JSON rows of slot and job_id) fired
     * at $3; returns the job ids of those recorded (a slot recorded before is
     * not).
     */
    insertScheduleRuns: `INSERT INTO ${runs} (schedule, slot, job_id, fired_at)
      SELECT $2::text, r.slot, r.job_id, $3::bigint
      FROM jsonb_to_recordset($1::jsonb) AS r(slot bigint, job_id text)
      ON CONFLICT (schedule, slot) DO NOTHING RETURNING job_id`,
    /** Moves schedule $1 on after a fire: its next slot $2, its last fired $3. */
    advanceSchedule: `UPDATE ${schedules} SET next_run_at = $2::bigint, last_run_at = $3::bigint
      WHERE name = $1::text`,
    /**
     * Prunes schedule $1's slot records: beyond its last SCHEDULE_RUNS_KEEP,
     * and those of slots before $2 beyond its last SCHEDULE_RUNS_KEEP_OLD.
     */
    pruneScheduleRuns: `DELETE FROM ${runs} WHERE schedule = $1::text AND (
        slot < (SELECT slot FROM ${runs} WHERE schedule = $1::text
          ORDER BY slot DESC OFFSET ${SCHEDULE_RUNS_KEEP - 1} LIMIT 1)
        OR (slot < $2::bigint AND slot < (SELECT slot FROM ${runs} WHERE schedule = $1::text
          ORDER BY slot DESC OFFSET ${SCHEDULE_RUNS_KEEP_OLD - 1} LIMIT 1)))`,
    /** The slot record of job $1, if a schedule made it. */
    scheduleRunOfJob: `SELECT schedule, slot, job_id, fired_at FROM ${runs}
      WHERE job_id = $1::text`,
    /** Every slot record (for a copy of the queue). */
    exportScheduleRuns: `SELECT schedule, slot, job_id, fired_at FROM ${runs}
      ORDER BY schedule, slot`,
    /** Which of the schedule names $1 are taken. */
    takenScheduleNames: `SELECT name FROM ${schedules} WHERE name = ANY($1::text[]) ORDER BY name`,
    /** Copied schedules ($1: a JSON array of rows, every column). */
    importSchedules: `INSERT INTO ${schedules} (${SCHEDULE_COLUMNS})
      SELECT ${SCHEDULE_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS r(name text, cron text,
        timezone text, task text, module text, params text, options text, missed text,
        paused boolean, next_run_at bigint, last_run_at bigint, created_at bigint,
        updated_at bigint)`,
    /** Copied slot records ($1: JSON rows); one the target has already is kept. */
    importScheduleRuns: `INSERT INTO ${runs} (schedule, slot, job_id, fired_at)
      SELECT r.schedule, r.slot, r.job_id, r.fired_at
      FROM jsonb_to_recordset($1::jsonb) AS r(schedule text, slot bigint, job_id text,
        fired_at bigint)
      ON CONFLICT (schedule, slot) DO NOTHING`,

    // ---- The key-value table (the Deno KV-style facade) ----
    /** The entry of key $1. */
    kvGet: `SELECT key, value, updated_at FROM ${s}.gigq_kv WHERE key = $1::text`,
    /** The entries whose key starts with $1, by key, at most $2. */
    kvList: `SELECT key, value, updated_at FROM ${s}.gigq_kv
      WHERE key >= $1::text AND starts_with(key, $1::text) ORDER BY key COLLATE "C" LIMIT $2::int`,
    /** Sets keys $1 to values $2 (parallel arrays, keys distinct) at $3. */
    kvSet: `INSERT INTO ${s}.gigq_kv (key, value, updated_at)
      SELECT k, v, $3::bigint FROM unnest($1::text[], $2::text[]) AS e(k, v)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    /** Deletes key $1. */
    kvDelete: `DELETE FROM ${s}.gigq_kv WHERE key = $1::text`,
  };
}
