/**
 * Every SQL statement GigQ runs, named, in one place. Parameters are
 * positional; times are epoch milliseconds (UTC).
 */
import { SCHEDULE_RUNS_KEEP, SCHEDULE_RUNS_KEEP_OLD } from "../_backend.ts";

/** A schedule's columns, in SCHEDULE_COLUMNS order (see src/_schedule_row.ts). */
const SCHEDULE_COLUMNS = `name, cron, timezone, task, module, params, options, missed, paused,
  next_run_at, last_run_at, created_at, updated_at`;

const JOB_COLUMNS = `seq, id, name, task, module, params, priority, max_attempts, timeout,
  retry_delay, backoff, description, dependencies, status, attempts, runs, run_at, scheduled,
  parents_left, children, result, error, worker_id, lease_until, cancelled_by, created_at,
  updated_at, started_at, completed_at, queue, unique_key, progress, max_retry_delay,
  concurrency_key, (SELECT c.id FROM gigq_jobs c WHERE c.seq = gigq_jobs.cancelled_by) AS cancelled_by_id`;

/**
 * The claim's update: for worker ?1 (lease owner ?6) at time ?2 until lease ?3, or until the
 * attempt's deadline plus ?5 ms when that is sooner (a dead worker's short job comes back at its
 * timeout, not after the whole lease).
 */
const CLAIM = `UPDATE gigq_jobs SET status = 'running', attempts = attempts + 1, runs = runs + 1,
    worker_id = ?1, lease_owner = ?6, started_at = ?2, updated_at = ?2,
    lease_until = min(?3, ?2 + CAST(timeout * 1000 AS INTEGER) + ?5)`;
/** Ready jobs of one queue (?n) and task (?n+1), in claim order: by priority, then age. */
const readyOf = (n: number, limit: string, columns = "seq, priority, run_at") =>
  `SELECT ${columns} FROM gigq_jobs INDEXED BY gigq_jobs_ready
    WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0 AND queue = ?${n}
      AND task = ?${n + 1}
    ORDER BY priority DESC, run_at, seq LIMIT ${limit}`;
/** What a worker needs of a job it claimed. */
const CLAIMED = `RETURNING seq, id, name, task, params, attempts, max_attempts, timeout,
    retry_delay, backoff, runs, children, dependencies <> '[]', priority, run_at, queue,
    max_retry_delay`;
/** The claim's parameters before the queue and task names. */
export const CLAIM_PARAMS = 6;
/**
 * Past this many (queue, task) ranges a claim sorts the ready jobs of all of
 * them (a filter on the index, then a sort) instead of merging one short
 * range per pair.
 */
const MERGE_MAX_RANGES = 64;

/** Values a row of {@linkcode insertReadyJobsSql} takes. */
export const READY_JOB_VALUES = 17;

/** The most rows one {@linkcode insertReadyJobsSql} statement inserts. */
export const READY_JOBS_PER_STATEMENT = 64;

/**
 * An INSERT of `rows` jobs that have no dependencies, unique key or
 * concurrency key (what submitMany mostly gets), in one statement: a
 * statement a row spent more in SQLite starting and ending statements than
 * in inserting (measured: 100k rows/s a row at a time, 140k/s 64 at a time).
 * Each row takes {@linkcode READY_JOB_VALUES} values: id, name, task, module,
 * params, priority, max_attempts, timeout, retry_delay, backoff,
 * description, run_at, scheduled, created_at, updated_at, queue,
 * max_retry_delay. Plain `?` placeholders: node:sqlite binds numbered ones
 * (`?17`) in time that grows with their count, so a statement of 64 rows of
 * them ran slower than 64 statements.
 */
export function insertReadyJobsSql(rows: number): string {
  const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]', 'pending', ?, ?, ?, ?, ?, ?)";
  return `INSERT INTO gigq_jobs (id, name, task, module, params, priority, max_attempts,
      timeout, retry_delay, backoff, description, dependencies, status, run_at, scheduled,
      created_at, updated_at, queue, max_retry_delay)
    VALUES ${Array.from({ length: rows }, () => row).join(", ")}`;
}

/**
 * The claim of up to ?4 ready jobs (exactly one when `one`) among `ranges`
 * (queue, task) pairs, given as the parameters after
 * {@linkcode CLAIM_PARAMS} (queue, then task, for each); with more than
 * {@linkcode MERGE_MAX_RANGES}, the two parameters after them are JSON
 * arrays of the queues and of the tasks. A worker claims only jobs it can
 * run from queues it serves that are not paused, and each pair is one range
 * of gigq_jobs_ready, so other backlogs are never read. The LIMIT is an
 * expression, not a bare parameter: SQLite 3.53 (node:sqlite) lets a bound
 * LIMIT steer its planner, so binding one would re-prepare the statement on
 * every run (measured: 130 µs instead of 30 µs for a claim of one job).
 */
export function claimSql(ranges: number, one: boolean): string {
  const limit = one ? "1" : "CAST(?4 AS INTEGER)";
  let ready: string;
  if (ranges === 1) {
    ready = readyOf(CLAIM_PARAMS + 1, limit, "seq");
  } else if (ranges <= MERGE_MAX_RANGES) {
    const parts = Array.from(
      { length: ranges },
      (_, i) => `SELECT * FROM (${readyOf(CLAIM_PARAMS + 1 + 2 * i, limit)})`,
    );
    ready = `SELECT seq FROM (${parts.join(" UNION ALL ")})
      ORDER BY priority DESC, run_at, seq LIMIT ${limit}`;
  } else {
    ready = `SELECT seq FROM gigq_jobs INDEXED BY gigq_jobs_ready
      WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0
        AND queue IN (SELECT value FROM json_each(?${CLAIM_PARAMS + 1}))
        AND task IN (SELECT value FROM json_each(?${CLAIM_PARAMS + 2}))
      ORDER BY priority DESC, run_at, seq LIMIT ${limit}`;
  }
  // "seq =" is cheaper than an IN list for one job (19 µs vs 25, node).
  return `${CLAIM} WHERE seq ${one ? "=" : "IN"} (${ready}) ${CLAIMED}`;
}

/** A job filter as SQL: its conditions and their values (see {@linkcode listJobsSql}). */
interface FilterSql {
  /** The conditions, ANDed. */
  where: string[];
  params: (string | number)[];
}

/** The statuses, to put one in a statement as a literal (so a partial index can serve it). */
const STATUS_LITERALS = new Set(
  ["pending", "running", "completed", "failed", "timeout", "cancelled"],
);

/** The index whose predicate a status implies, for the statuses one holds all of. */
function statusIndex(status: string | undefined): string {
  if (status === "running") return " INDEXED BY gigq_jobs_leases";
  if (status === "failed" || status === "timeout" || status === "cancelled") {
    return " INDEXED BY gigq_jobs_ended";
  }
  return "";
}

function filterSql(
  f: { status?: string; queue?: string; task?: string; search?: string; beforeSeq?: number },
): FilterSql {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (f.status !== undefined) {
    if (!STATUS_LITERALS.has(f.status)) throw new RangeError(`unknown status ${f.status}`);
    where.push(`status = '${f.status}'`);
  }
  if (f.queue !== undefined) where.push("queue = ?"), params.push(f.queue);
  if (f.task !== undefined) where.push("task = ?"), params.push(f.task);
  if (f.search !== undefined) {
    // instr, not LIKE: literal (no wildcard to escape) and case-sensitive
    // (LIKE folds ASCII case). GLOB with its wildcards bracketed was measured
    // too: faster for rare text, up to 1.5 times slower for text that starts
    // with a common character (`"user":42`).
    where.push("(id = ? OR instr(params, ?) > 0)");
    params.push(f.search, f.search);
  }
  if (f.beforeSeq !== undefined) where.push("seq < ?"), params.push(f.beforeSeq);
  return { where, params };
}

const whereOf = (conds: readonly string[]) =>
  conds.length === 0 ? "" : ` WHERE ${conds.join(" AND ")}`;

/**
 * The jobs matching a filter, newest first (seq DESC), at most `limit`: a
 * scan from the newest job (for pending and completed jobs, which are the
 * newest or the most; no index holds every status: see migration 2), or for running, failed, timed-out and cancelled
 * jobs the partial index that holds only them. The status is a literal; the
 * other values are the statement's parameters, in order.
 */
export function listJobsSql(
  f: { status?: string; queue?: string; task?: string; search?: string; beforeSeq?: number },
  limit: number,
): { sql: string; params: (string | number)[] } {
  const { where, params } = filterSql(f);
  return {
    sql: `SELECT ${JOB_COLUMNS} FROM gigq_jobs${statusIndex(f.status)}${whereOf(where)}
      ORDER BY seq DESC LIMIT ?`,
    params: [...params, limit],
  };
}

/**
 * How many jobs match a filter, counting at most `cap + 1` (so a huge match
 * stops early). Pending jobs are counted from the three partial indexes that
 * hold them (each pending job is in exactly one), the ready one by queue.
 */
export function countJobsSql(
  f: { status?: string; queue?: string; task?: string; search?: string },
  cap: number,
): { sql: string; params: (string | number)[] } {
  const { where, params } = filterSql(f);
  if (f.status === "pending") {
    const parts = [
      ["gigq_jobs_ready", "parents_left = 0 AND scheduled = 0"],
      ["gigq_jobs_scheduled", "scheduled = 1"],
      ["gigq_jobs_blocked", "parents_left > 0 AND scheduled = 0"],
    ].map(([index, predicate]) =>
      `SELECT 1 FROM gigq_jobs INDEXED BY ${index}${whereOf([...where, predicate])}`
    );
    return {
      sql: `SELECT count(*) FROM (${parts.join(" UNION ALL ")} LIMIT ?)`,
      params: [...params, ...params, ...params, cap + 1],
    };
  }
  return {
    sql: `SELECT count(*) FROM (SELECT 1 FROM gigq_jobs${statusIndex(f.status)}${
      whereOf(where)
    } LIMIT ?)`,
    params: [...params, cap + 1],
  };
}

/**
 * The (queue, task) parameters of a claim (see {@linkcode claimSql}): one
 * range per pair, or the two JSON arrays past the merge limit; and how many
 * ranges they make.
 */
export function claimRangeParams(
  queues: readonly string[],
  tasks: readonly string[],
): { params: string[]; ranges: number } {
  const ranges = queues.length * tasks.length;
  if (ranges > MERGE_MAX_RANGES) {
    return { params: [JSON.stringify(queues), JSON.stringify(tasks)], ranges };
  }
  const params: string[] = new Array(2 * ranges);
  let i = 0;
  for (const queue of queues) {
    for (const task of tasks) {
      params[i++] = queue;
      params[i++] = task;
    }
  }
  return { params, ranges };
}

/**
 * The queues a worker serving the queues in JSON array ?3 claims from now
 * (NULL: 'default' and every named queue), without the paused ones.
 */
const SERVED_QUEUES = `SELECT q FROM (
      SELECT value AS q FROM json_each(?3) WHERE ?3 IS NOT NULL
      UNION ALL SELECT 'default' WHERE ?3 IS NULL
      UNION ALL SELECT name FROM gigq_queues WHERE ?3 IS NULL)
    WHERE q NOT IN (SELECT name FROM gigq_queues WHERE paused = 1)`;

/** A ready job: the predicate of gigq_jobs_ready and gigq_jobs_keyed. */
const READY = "status = 'pending' AND parents_left = 0 AND scheduled = 0";

export const SQL = {
  /**
   * The claim of the pending jobs whose seqs are in JSON array ?7 (chosen by
   * a limited queue's claim), as claimSql's update.
   */
  claimSeqs: `${CLAIM} WHERE seq IN (SELECT value FROM json_each(?7)) AND status = 'pending'
    ${CLAIMED}`,
  /** How many jobs of queue ?1 run now. */
  runningInQueue: `SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND queue = ?1`,
  /** Queue ?1's running jobs per concurrency key. */
  runningByKey: `SELECT concurrency_key, count(*) FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND queue = ?1 AND concurrency_key IS NOT NULL
    GROUP BY concurrency_key`,
  /** How many running jobs of queue ?1 have concurrency key ?2. */
  runningOfKey: `SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND queue = ?1 AND concurrency_key = ?2`,
  /** The first concurrency key after ?2 with a ready job in queue ?1 (keys in order). */
  nextReadyKey: `SELECT concurrency_key FROM gigq_jobs INDEXED BY gigq_jobs_keyed
    WHERE ${READY} AND concurrency_key IS NOT NULL AND queue = ?1 AND concurrency_key > ?2
    ORDER BY concurrency_key LIMIT 1`,
  /** Up to ?4 ready jobs of key ?2 in queue ?1 of the tasks in JSON array ?3, in claim order. */
  readyOfKey: `SELECT seq, priority, run_at FROM gigq_jobs INDEXED BY gigq_jobs_keyed
    WHERE ${READY} AND concurrency_key IS NOT NULL AND queue = ?1 AND concurrency_key = ?2
      AND task IN (SELECT value FROM json_each(?3))
    ORDER BY priority DESC, run_at, seq LIMIT CAST(?4 AS INTEGER)`,
  /** Up to ?3 ready jobs without a concurrency key of queue ?1 and task ?2, in claim order. */
  readyWithoutKey: `SELECT seq, priority, run_at FROM gigq_jobs INDEXED BY gigq_jobs_ready
    WHERE ${READY} AND queue = ?1 AND task = ?2 AND concurrency_key IS NULL
    ORDER BY priority DESC, run_at, seq LIMIT CAST(?3 AS INTEGER)`,
  /** Forgets queue ?1's starts at or before ?2 (out of its rate window). */
  dropStarts: `DELETE FROM gigq_queue_starts WHERE queue = ?1 AND at <= ?2`,
  /** Queue ?1's starts after ?2, oldest first (those in its rate window). */
  startsSince: `SELECT at FROM gigq_queue_starts WHERE queue = ?1 AND at > ?2 ORDER BY at`,
  /** The latest start of queue ?1 (NULL: none). */
  latestStart: `SELECT max(at) FROM gigq_queue_starts WHERE queue = ?1`,
  /** Records a start of queue ?1 at ?2 (for its rate limit). */
  recordStart: `INSERT INTO gigq_queue_starts (queue, at) VALUES (?1, ?2)`,
  /**
   * When a start of a rate-limited queue leaves its window (the first start
   * still in one, plus the window): a claim may then find room.
   */
  rateWake: `SELECT min(s.at + q.rate_per) FROM gigq_queue_starts s
    JOIN gigq_queues q ON q.name = s.queue
    WHERE q.rate_max IS NOT NULL AND s.at + q.rate_per > ?1`,
  /** Each named queue's state (no row: a queue never named nor paused, like 'default'). */
  queueStates: `SELECT name, paused, concurrency, key_concurrency, rate_max, rate_per,
      keep_completed, keep_failed FROM gigq_queues`,
  /** Queue ?1's settings (no row: none stored). */
  queueSettings: `SELECT concurrency, key_concurrency, rate_max, rate_per, keep_completed,
      keep_failed FROM gigq_queues WHERE name = ?1`,
  /** Stores queue ?1's settings (?3 to ?8) at ?2, keeping its paused state. */
  setSettings: `INSERT INTO gigq_queues (name, paused, updated_at, concurrency, key_concurrency,
      rate_max, rate_per, keep_completed, keep_failed) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (name) DO UPDATE SET updated_at = ?2, concurrency = ?3, key_concurrency = ?4,
      rate_max = ?5, rate_per = ?6, keep_completed = ?7, keep_failed = ?8`,
  /** One job. Values: id, name, task, module, params, priority, max_attempts, timeout,
   * retry_delay, backoff, description, dependencies, status, run_at, scheduled, parents_left,
   * error, cancelled_by, completed_at, created_at (= updated_at), queue, unique_key,
   * max_retry_delay, concurrency_key. A job whose key a pending or running job of its queue
   * holds is not inserted (no change). */
  insertJob:
    `INSERT INTO gigq_jobs (id, name, task, module, params, priority, max_attempts, timeout,
      retry_delay, backoff, description, dependencies, status, run_at, scheduled, parents_left,
      error, cancelled_by, completed_at, created_at, updated_at, queue, unique_key,
      max_retry_delay, concurrency_key)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
      ?20, ?20, ?21, ?22, ?23, ?24)
    ON CONFLICT (queue, unique_key)
      WHERE unique_key IS NOT NULL AND (status = 'pending' OR status = 'running') DO NOTHING`,
  /**
   * A job without dependencies: the usual case, with 16 values instead of 23
   * (binding costs node:sqlite ~0.3 µs a value). Values: id, name, task,
   * module, params, priority, max_attempts, timeout, retry_delay, backoff,
   * description, run_at, created_at (= updated_at), queue, max_retry_delay.
   */
  insertReadyJob: `INSERT INTO gigq_jobs (id, name, task, module, params, priority, max_attempts,
      timeout, retry_delay, backoff, description, dependencies, status, run_at, scheduled,
      created_at, updated_at, queue, max_retry_delay)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, '[]', 'pending', ?12, ?12 > ?13, ?13,
      ?13, ?14, ?15)`,
  /** insertReadyJob for a job with a unique key (?16): a held key inserts nothing. */
  insertReadyKeyedJob: `INSERT INTO gigq_jobs (id, name, task, module, params, priority,
      max_attempts, timeout, retry_delay, backoff, description, dependencies, status, run_at,
      scheduled, created_at, updated_at, queue, max_retry_delay, unique_key)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, '[]', 'pending', ?12, ?12 > ?13, ?13,
      ?13, ?14, ?15, ?16)
    ON CONFLICT (queue, unique_key)
      WHERE unique_key IS NOT NULL AND (status = 'pending' OR status = 'running') DO NOTHING`,
  /** Job ?1's trace context (read at claim time by a worker with telemetry on). */
  traceContextOf: `SELECT trace_context FROM gigq_jobs WHERE seq = ?1`,
  /** Writes trace context ?1 on the jobs whose ids JSON array ?2 holds (just inserted). */
  setTraceContext: `UPDATE gigq_jobs SET trace_context = ?1
    WHERE id IN (SELECT value FROM json_each(?2))`,
  /** Records named queue ?1 (at ?2) so that a worker serving every queue reads it. */
  nameQueue: `INSERT OR IGNORE INTO gigq_queues (name, paused, updated_at) VALUES (?1, 0, ?2)`,
  /** The job holding key ?2 in queue ?1 (pending or running), as findParent reads it. */
  keyHolder: `SELECT seq, status, cancelled_by, id FROM gigq_jobs INDEXED BY gigq_jobs_unique
    WHERE queue = ?1 AND unique_key = ?2 AND unique_key IS NOT NULL
      AND (status = 'pending' OR status = 'running')`,
  /** A would-be parent, by id. */
  findParent: `SELECT seq, status, cancelled_by, id FROM gigq_jobs WHERE id = ?`,
  /** Job ?1's queue, unique key and status. */
  jobKey: `SELECT queue, unique_key, status FROM gigq_jobs WHERE seq = ?1`,
  insertEdge: `INSERT INTO gigq_job_deps (parent, child, position) VALUES (?, ?, ?)`,
  addChild: `UPDATE gigq_jobs SET children = children + 1 WHERE seq = ?`,

  /**
   * Whether a delayed job has come due at ?1: read before every claim, so the
   * promote UPDATE runs only when it has work (2 µs for this, 8 µs for an
   * UPDATE that changes nothing).
   */
  due: `SELECT EXISTS (SELECT 1 FROM gigq_jobs INDEXED BY gigq_jobs_scheduled
    WHERE status = 'pending' AND scheduled = 1 AND run_at <= ?1)`,
  /** Moves delayed jobs whose time has come into the ready index. */
  promote: `UPDATE gigq_jobs INDEXED BY gigq_jobs_scheduled SET scheduled = 0
    WHERE status = 'pending' AND scheduled = 1 AND run_at <= ?1`,
  /**
   * The next moment something may become claimable: a delayed job comes due
   * (promote takes run_at <= now) or a lease has expired (expiredLeases takes
   * lease_until < now, hence the + 1).
   */
  nextWake: `SELECT min(t) FROM (
      SELECT min(run_at) AS t FROM gigq_jobs INDEXED BY gigq_jobs_scheduled
        WHERE status = 'pending' AND scheduled = 1
      UNION ALL
      SELECT min(lease_until) + 1 FROM gigq_jobs INDEXED BY gigq_jobs_leases WHERE status = 'running')`,
  /**
   * Whether a claim at ?1 by a worker of the tasks in JSON array ?2, serving
   * the queues in JSON array ?3 (NULL: every queue), could find work (read
   * only: no write lock).
   */
  workReady: `SELECT EXISTS (SELECT 1 FROM gigq_jobs INDEXED BY gigq_jobs_ready
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0
          AND queue IN (${SERVED_QUEUES})
          AND task IN (SELECT value FROM json_each(?2)))
      OR EXISTS (SELECT 1 FROM gigq_jobs INDEXED BY gigq_jobs_scheduled
        WHERE status = 'pending' AND scheduled = 1 AND run_at <= ?1)
      OR EXISTS (SELECT 1 FROM gigq_jobs INDEXED BY gigq_jobs_leases
        WHERE status = 'running' AND lease_until < ?1)`,
  /** Changes whenever another connection commits. */
  dataVersion: `PRAGMA data_version`,
  /** Fenced release: back to pending without counting the attempt (the worker stopped). */
  release: `UPDATE gigq_jobs SET status = 'pending', attempts = max(attempts - 1, 0), error = ?1,
      worker_id = NULL, lease_until = NULL, updated_at = ?2, progress = NULL
    WHERE seq = ?3 AND status = 'running' AND runs = ?4`,
  /** The claim order of every task's ready jobs, for EXPLAIN QUERY PLAN in tests. */
  claimOrder: `SELECT seq FROM gigq_jobs INDEXED BY gigq_jobs_ready
    WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0 AND queue = ?3
      AND task = ?2
    ORDER BY priority DESC, run_at, seq LIMIT CAST(?1 AS INTEGER)`,
  /**
   * Each dependency's id and result, in dependency order. (INDEXED BY pins the
   * indexes the hot statements were designed for: without statistics the
   * planner may prefer another index on status and sort.)
   */
  parentResults: `SELECT p.id, p.result FROM gigq_job_deps d JOIN gigq_jobs p ON p.seq = d.parent
    WHERE d.child = ? ORDER BY d.position`,

  /** Running jobs whose lease ended before ?1. */
  expiredLeases: `SELECT seq, id, runs, attempts, max_attempts, retry_delay, backoff, worker_id,
      started_at, lease_until, children, timeout, max_retry_delay
    FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND lease_until < ?1 ORDER BY lease_until LIMIT 100`,
  /**
   * Renews the leases of the jobs lease owner ?2 (one Worker object) claimed
   * to ?1, or to each attempt's deadline plus ?3 ms when that is sooner. By
   * owner, not worker id: a second live worker given the same id (or one
   * restarted under it) must not keep alive the jobs a dead one abandoned.
   */
  renewLeases:
    `UPDATE gigq_jobs SET lease_until = min(?1, started_at + CAST(timeout * 1000 AS INTEGER) + ?3)
    WHERE status = 'running' AND lease_owner = ?2`,
  /**
   * Fenced completion: only the attempt (run ?4) that claimed the job may
   * finish it. The row is the record of its completed attempt (no attempts
   * row; see migration 3), so worker_id stays: the worker that completed it.
   * Returns its children as they are now (some may have been submitted while it ran).
   */
  complete: `UPDATE gigq_jobs SET status = 'completed', result = ?1, error = NULL,
      lease_until = NULL, completed_at = ?2, updated_at = ?2
    WHERE seq = ?3 AND status = 'running' AND runs = ?4`,
  /** Fenced retry: back to pending, not before ?3 (scheduled ?4). */
  retry: `UPDATE gigq_jobs SET status = 'pending', error = ?1, worker_id = NULL, lease_until = NULL,
      updated_at = ?2, run_at = ?3, scheduled = ?4, progress = NULL
    WHERE seq = ?5 AND status = 'running' AND runs = ?6`,
  /** Fenced final failure: status ?1 is 'failed' or 'timeout'. Returns its children now. */
  fail: `UPDATE gigq_jobs SET status = ?1, error = ?2, result = NULL, worker_id = NULL,
      lease_until = NULL, completed_at = ?3, updated_at = ?3
    WHERE seq = ?4 AND status = 'running' AND runs = ?5 RETURNING children`,
  /** An attempt that ended other than completed (failed, timeout, released). */
  insertExecution: `INSERT INTO gigq_attempts (job, run, attempt, worker_id, status, started_at,
      completed_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  /** Cancels every pending descendant of ?1, naming the job (?3) that caused it. */
  cascadeCancel: `WITH RECURSIVE d(seq) AS (
      SELECT child FROM gigq_job_deps WHERE parent = ?1
      UNION
      SELECT gigq_job_deps.child FROM gigq_job_deps JOIN d ON gigq_job_deps.parent = d.seq)
    UPDATE gigq_jobs SET status = 'cancelled', error = ?2, cancelled_by = ?3, completed_at = ?4,
      updated_at = ?4, scheduled = 0
    WHERE seq IN d AND status = 'pending'`,

  cancel: `UPDATE gigq_jobs SET status = 'cancelled', completed_at = ?2, updated_at = ?2,
      scheduled = 0
    WHERE id = ?1 AND status = 'pending' RETURNING seq, children`,
  /** What cancelling a running job needs of job ?1, if it is running. */
  runningJob: `SELECT seq, runs, attempts, worker_id, started_at FROM gigq_jobs
    WHERE id = ?1 AND status = 'running'`,
  /**
   * Fenced cancel of a running job (seq ?3, run ?4) at ?2 with error ?1. The
   * lease owner stays: the worker that ran it asks by its runs whether it was cancelled.
   */
  cancelRunning: `UPDATE gigq_jobs SET status = 'cancelled', error = ?1, result = NULL,
      lease_until = NULL, completed_at = ?2, updated_at = ?2
    WHERE seq = ?3 AND status = 'running' AND runs = ?4 RETURNING children`,
  /**
   * Which of the claims in JSON array ?1 ([[seq, run], …]) were cancelled
   * while they ran: their job is cancelled and was not claimed again since.
   */
  cancelledRuns: `SELECT j.seq FROM json_each(?1) AS c JOIN gigq_jobs j
      ON j.seq = json_extract(c.value, '$[0]') AND j.runs = json_extract(c.value, '$[1]')
    WHERE j.status = 'cancelled'`,
  /**
   * Up to ?6 jobs after seq ?1 and up to seq ?2 in a status of JSON array
   * ?3, of queue ?4, name ?5 and task ?7 (NULL: any), in seq order (parents first).
   */
  bulkMatches: `SELECT seq, id FROM gigq_jobs
    WHERE seq > ?1 AND seq <= ?2 AND status IN (SELECT value FROM json_each(?3))
      AND (?4 IS NULL OR queue = ?4) AND (?5 IS NULL OR name = ?5) AND (?7 IS NULL OR task = ?7)
    ORDER BY seq LIMIT ?6`,
  /** The largest seq (0 without jobs). */
  maxSeq: `SELECT coalesce(max(seq), 0) FROM gigq_jobs`,
  /** Keeps a run_at still ahead (a cancelled delayed job): the job waits for it again. */
  requeue: `UPDATE gigq_jobs SET status = 'pending', attempts = 0, error = NULL, result = NULL,
      progress = NULL, worker_id = NULL, lease_owner = NULL, lease_until = NULL, started_at = NULL,
      completed_at = NULL, cancelled_by = NULL, run_at = max(run_at, ?1),
      scheduled = (run_at > ?1), updated_at = ?1
    WHERE seq = ?2 AND status IN ('failed', 'timeout', 'cancelled')`,
  /** The first dependency of ?1 that ended badly, if any. */
  badParent: `SELECT p.seq, p.id, p.status, p.cancelled_by FROM gigq_job_deps d
      JOIN gigq_jobs p ON p.seq = d.parent
    WHERE d.child = ?1 AND p.status IN ('failed', 'timeout', 'cancelled')
    ORDER BY d.position LIMIT 1`,
  /** Jobs cancelled because job ?1 ended badly, parents before children. */
  cancelledBy:
    `SELECT seq FROM gigq_jobs WHERE cancelled_by = ?1 AND status = 'cancelled' ORDER BY seq`,
  restore: `UPDATE gigq_jobs SET status = 'pending', error = NULL, cancelled_by = NULL,
      completed_at = NULL, updated_at = ?2, scheduled = (run_at > ?2)
    WHERE seq = ?1`,
  recancel: `UPDATE gigq_jobs SET error = ?2, cancelled_by = ?3, updated_at = ?4 WHERE seq = ?1`,
  jobBySeq: `SELECT id, name, status FROM gigq_jobs WHERE seq = ?`,

  /**
   * Deletes completed and cancelled jobs that finished before ?1, except those a
   * job that stays still depends on (directly or through other deleted jobs).
   */
  clear: `WITH RECURSIVE keep(seq) AS (
      SELECT d.parent FROM gigq_job_deps d JOIN gigq_jobs c ON c.seq = d.child
      WHERE NOT (c.status IN ('completed', 'cancelled') AND c.completed_at < ?1)
      UNION
      SELECT d.parent FROM gigq_job_deps d JOIN keep k ON d.child = k.seq)
    DELETE FROM gigq_jobs
    WHERE status IN ('completed', 'cancelled') AND completed_at < ?1
      AND seq NOT IN keep`,

  /**
   * Where a round of retention stands at ?1 (now), with default retentions
   * ?2 (completed) and ?3 (failed, timed out, cancelled), in seconds: the
   * newest cutoff of any finite retention of 'default' and the named queues
   * (an ended job older than it may be pruned; NULL: every queue keeps its
   * jobs forever), and when the first job after seq ?4 was submitted (NULL:
   * none). Jobs are read in seq order, the order of their submits, and a
   * job ends after its submit: past a job submitted after the cutoff, none
   * is old enough.
   */
  pruneHead: `WITH names(name) AS (SELECT 'default' UNION SELECT name FROM gigq_queues),
      keeps(k) AS (
        SELECT coalesce(q.keep_completed, ?2) FROM names n LEFT JOIN gigq_queues q USING (name)
        UNION ALL
        SELECT coalesce(q.keep_failed, ?3) FROM names n LEFT JOIN gigq_queues q USING (name))
    SELECT (SELECT ?1 - 1000 * min(k) FROM keeps WHERE k >= 0),
      (SELECT created_at FROM gigq_jobs WHERE seq > ?4 ORDER BY seq LIMIT 1)`,
  /** The last seq of the ?2 jobs after seq ?1 (a batch of retention looks no further). */
  pruneWindow: `SELECT max(seq) FROM (
      SELECT seq FROM gigq_jobs WHERE seq > ?1 ORDER BY seq LIMIT CAST(?2 AS INTEGER))`,
  /**
   * Deletes up to ?6 jobs after seq ?1 and up to ?2 that ended before ?3
   * less their queue's retention (?4 and ?5: the defaults, as for
   * pruneHead; -1: forever), in seq order, except those a job still there
   * depends on; returns their seqs. Their attempts and edges go with them
   * (ON DELETE CASCADE). A range of the table's rowid: a deleted job costs
   * later batches nothing, and no index is needed (one on completed jobs
   * would cost every completion).
   */
  prune: `DELETE FROM gigq_jobs WHERE seq IN (
      SELECT seq FROM (
        SELECT j.seq, j.completed_at, j.children, CASE j.status
            WHEN 'completed' THEN coalesce(q.keep_completed, ?4)
            WHEN 'failed' THEN coalesce(q.keep_failed, ?5)
            WHEN 'timeout' THEN coalesce(q.keep_failed, ?5)
            WHEN 'cancelled' THEN coalesce(q.keep_failed, ?5) END AS keep
          FROM gigq_jobs j LEFT JOIN gigq_queues q ON q.name = j.queue
          WHERE j.seq > ?1 AND j.seq <= ?2) AS e
      WHERE e.keep >= 0 AND e.completed_at < ?3 - 1000 * e.keep
        AND (e.children = 0
          OR NOT EXISTS (SELECT 1 FROM gigq_job_deps d WHERE d.parent = e.seq))
      ORDER BY e.seq LIMIT CAST(?6 AS INTEGER))
    RETURNING seq`,

  jobById: `SELECT ${JOB_COLUMNS} FROM gigq_jobs WHERE id = ?`,
  /** A job's recorded attempts (its completed one is on the job's row). */
  executions: `SELECT run, attempt, worker_id, status, started_at, completed_at, error
    FROM gigq_attempts WHERE job = ? ORDER BY run`,
  /** Queue ?1's jobs, counted by status. */
  statsOfQueue: `SELECT status, count(*) FROM gigq_jobs WHERE queue = ?1 GROUP BY status`,
  /** Every queue's jobs, counted by status. */
  queueCounts: `SELECT queue, status, count(*) FROM gigq_jobs GROUP BY queue, status`,
  /** Progress ?1 of job ?2's attempt run ?3, if it still holds the job. */
  setProgress:
    `UPDATE gigq_jobs SET progress = ?1 WHERE seq = ?2 AND status = 'running' AND runs = ?3`,
  /** Whether queue ?1 is paused. */
  isPaused: `SELECT EXISTS (SELECT 1 FROM gigq_queues WHERE name = ?1 AND paused = 1)`,
  /** Resumes queue ?1 at ?2 (a queue never paused nor named keeps no row). */
  resume: `UPDATE gigq_queues SET paused = 0, updated_at = ?2 WHERE name = ?1 AND paused = 1`,
  /** Pauses (?2 = 1) or resumes queue ?1 at ?3. */
  setPaused: `INSERT INTO gigq_queues (name, paused, updated_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (name) DO UPDATE SET paused = ?2, updated_at = ?3`,
  /**
   * All jobs, pending and running ones, from the indexes that hold them
   * (a pending job is in exactly one of jobs_ready, jobs_scheduled and
   * jobs_blocked); count(*) reads the narrowest whole index.
   */
  statsOpen: `SELECT (SELECT count(*) FROM gigq_jobs),
      (SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_ready
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0)
      + (SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_scheduled
        WHERE status = 'pending' AND scheduled = 1)
      + (SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_blocked
        WHERE status = 'pending' AND parents_left > 0 AND scheduled = 0),
      (SELECT count(*) FROM gigq_jobs INDEXED BY gigq_jobs_leases WHERE status = 'running')`,
  /** Failed, timed-out and cancelled jobs, counted per status. */
  statsEnded: `SELECT status, count(*) FROM gigq_jobs INDEXED BY gigq_jobs_ended
    WHERE status = 'failed' OR status = 'timeout' OR status = 'cancelled' GROUP BY status`,

  /** Running jobs of lease owner ?1, for a pool that terminated or lost its Web Worker. */
  workerJobs: `SELECT seq, id, runs, attempts, max_attempts, retry_delay, backoff, started_at,
      timeout, children, worker_id, max_retry_delay
    FROM gigq_jobs INDEXED BY gigq_jobs_leases WHERE status = 'running' AND lease_owner = ?1`,
  /** The claims (seq, run) lease owner ?1 runs now. */
  ownerRuns: `SELECT seq, runs FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND lease_owner = ?1`,
  /**
   * Whether lease owner ?1 runs a job past its timeout by more than the grace
   * (?2 = now - grace).
   */
  workerOverdue: `SELECT EXISTS (SELECT 1 FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' AND lease_owner = ?1 AND started_at + timeout * 1000 < ?2)`,
  /** A worker's row, to tell whether another live worker already uses its id. */
  workerById: `SELECT host, pid, seen_at, stopped_at FROM gigq_workers WHERE id = ?1`,
  upsertWorker: `INSERT INTO gigq_workers (id, host, pid, tasks, concurrency, started_at, seen_at,
      queues)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)
    ON CONFLICT (id) DO UPDATE SET host = ?2, pid = ?3, tasks = ?4, concurrency = ?5,
      started_at = ?6, seen_at = ?6, stopped_at = NULL, queues = ?7`,
  workerSeen: `UPDATE gigq_workers SET seen_at = ?2 WHERE id = ?1`,
  workerStopped: `UPDATE gigq_workers SET seen_at = ?2, stopped_at = ?2 WHERE id = ?1`,
  /** The workers that have not stopped. */
  liveWorkers: `SELECT id, host, pid, tasks, queues, concurrency, started_at, seen_at, stopped_at
    FROM gigq_workers WHERE stopped_at IS NULL`,
  /** The last ?1 workers that stopped, by when. */
  stoppedWorkers: `SELECT id, host, pid, tasks, queues, concurrency, started_at, seen_at,
      stopped_at
    FROM gigq_workers WHERE stopped_at IS NOT NULL ORDER BY stopped_at DESC, id LIMIT ?1`,
  /** Each running job's worker id and id, in seq order. */
  runningByWorker: `SELECT worker_id, id FROM gigq_jobs INDEXED BY gigq_jobs_leases
    WHERE status = 'running' ORDER BY seq`,
  /**
   * Jobs that completed, and that failed or timed out, per minute (the
   * minute's offset from ?1) by completed_at from ?1 to before ?2. A scan:
   * no index holds completed_at (one would cost every completion). The cast:
   * node:sqlite binds a number as a REAL, which would make the division real.
   */
  activity:
    `SELECT (completed_at - CAST(?1 AS INTEGER)) / 60000 AS m, sum(status = 'completed') AS completed,
      sum(status <> 'completed') AS failed
    FROM gigq_jobs
    WHERE completed_at >= ?1 AND completed_at < ?2
      AND (status = 'completed' OR status = 'failed' OR status = 'timeout')
    GROUP BY m`,
  /** activity, of queue ?3. */
  activityInQueue: `SELECT (completed_at - CAST(?1 AS INTEGER)) / 60000 AS m,
      sum(status = 'completed') AS completed, sum(status <> 'completed') AS failed
    FROM gigq_jobs
    WHERE completed_at >= ?1 AND completed_at < ?2 AND queue = ?3
      AND (status = 'completed' OR status = 'failed' OR status = 'timeout')
    GROUP BY m`,
  /** The seq of job ?1 (a listing's cursor). */
  seqOfId: `SELECT seq FROM gigq_jobs WHERE id = ?1`,
  /** The ids of the jobs that depend on job seq ?1, in seq order. */
  childIds: `SELECT c.id FROM gigq_job_deps d JOIN gigq_jobs c ON c.seq = d.child
    WHERE d.parent = ?1 ORDER BY d.child`,
  /** The last sign of life of a worker that has not stopped. */
  lastWorkerSeen: `SELECT max(seen_at) FROM gigq_workers WHERE stopped_at IS NULL`,
  /** When worker ?1 last showed a sign of life. */
  workerSeenAt: `SELECT seen_at FROM gigq_workers WHERE id = ?1`,
  /** The task lists (JSON arrays) of the workers seen since ?1 that have not stopped. */
  liveWorkerTasks: `SELECT tasks FROM gigq_workers WHERE stopped_at IS NULL AND seen_at >= ?1`,
  /** Every job, every column, in seq order (for a copy of the queue). */
  exportJobs: `SELECT seq, id, name, task, module, params, priority, max_attempts, timeout,
      retry_delay, backoff, description, dependencies, status, attempts, runs, run_at, scheduled,
      parents_left, children, result, error, worker_id, lease_until, cancelled_by, created_at,
      updated_at, started_at, completed_at, lease_owner, queue, unique_key, progress,
      max_retry_delay, concurrency_key, trace_context
    FROM gigq_jobs ORDER BY seq`,
  exportEdges: `SELECT parent, child, position FROM gigq_job_deps ORDER BY child, position`,
  exportAttempts: `SELECT job, run, attempt, worker_id, status, started_at, completed_at, error
    FROM gigq_attempts ORDER BY job, run`,
  /** How many jobs there are, and the largest seq (0 without jobs). */
  jobCountAndMaxSeq: `SELECT count(*), coalesce(max(seq), 0) FROM gigq_jobs`,
  /** One copied job, every column as given (see JOB_RECORD_COLUMNS for the order). */
  importJob: `INSERT INTO gigq_jobs (seq, id, name, task, module, params, priority, max_attempts,
      timeout, retry_delay, backoff, description, dependencies, status, attempts, runs, run_at,
      scheduled, parents_left, children, result, error, worker_id, lease_until, cancelled_by,
      created_at, updated_at, started_at, completed_at, lease_owner, queue, unique_key, progress,
      max_retry_delay, concurrency_key, trace_context)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
      ?, ?, ?, ?, ?, ?, ?)`,
  // Schedules ---------------------------------------------------------------

  /** Every schedule, by name. */
  schedules: `SELECT ${SCHEDULE_COLUMNS} FROM gigq_schedules ORDER BY name`,
  /** The schedules of the tasks in JSON array ?1, by name. */
  schedulesOfTasks: `SELECT ${SCHEDULE_COLUMNS} FROM gigq_schedules
    WHERE task IN (SELECT value FROM json_each(?1)) ORDER BY name`,
  /** Schedule ?1. */
  scheduleByName: `SELECT ${SCHEDULE_COLUMNS} FROM gigq_schedules WHERE name = ?1`,
  /** Creates or replaces schedule ?1, every column (in SCHEDULE_COLUMNS order). */
  saveSchedule: `INSERT INTO gigq_schedules (${SCHEDULE_COLUMNS})
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
    ON CONFLICT (name) DO UPDATE SET cron = ?2, timezone = ?3, task = ?4, module = ?5,
      params = ?6, options = ?7, missed = ?8, paused = ?9, next_run_at = ?10,
      last_run_at = ?11, created_at = ?12, updated_at = ?13`,
  /** One copied schedule, every column (in SCHEDULE_COLUMNS order). */
  importSchedule: `INSERT INTO gigq_schedules (${SCHEDULE_COLUMNS})
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)`,
  deleteSchedule: `DELETE FROM gigq_schedules WHERE name = ?1`,
  /** Slot ?2 of schedule ?1 fired job ?3 at ?4; nothing if that slot was recorded before. */
  insertScheduleRun: `INSERT INTO gigq_schedule_runs (schedule, slot, job_id, fired_at)
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (schedule, slot) DO NOTHING`,
  /** Moves schedule ?1 on after a fire: its next slot ?2, its last fired ?3. */
  advanceSchedule: `UPDATE gigq_schedules SET next_run_at = ?2, last_run_at = ?3 WHERE name = ?1`,
  /**
   * Prunes schedule ?1's slot records: beyond its last SCHEDULE_RUNS_KEEP,
   * and those of slots before ?2 beyond its last SCHEDULE_RUNS_KEEP_OLD.
   */
  pruneScheduleRuns: `DELETE FROM gigq_schedule_runs WHERE schedule = ?1 AND (
      slot < (SELECT slot FROM gigq_schedule_runs WHERE schedule = ?1
        ORDER BY slot DESC LIMIT 1 OFFSET ${SCHEDULE_RUNS_KEEP - 1})
      OR (slot < ?2 AND slot < (SELECT slot FROM gigq_schedule_runs WHERE schedule = ?1
        ORDER BY slot DESC LIMIT 1 OFFSET ${SCHEDULE_RUNS_KEEP_OLD - 1})))`,
  /** The slot record of job ?1, if a schedule made it. */
  scheduleRunOfJob: `SELECT schedule, slot, job_id, fired_at FROM gigq_schedule_runs
    INDEXED BY gigq_schedule_runs_job WHERE job_id = ?1`,
  /** Every slot record (for a copy of the queue). */
  exportScheduleRuns: `SELECT schedule, slot, job_id, fired_at FROM gigq_schedule_runs
    ORDER BY schedule, slot`,
  /** One copied slot record (kept if the target has that slot already). */
  importScheduleRun: `INSERT INTO gigq_schedule_runs (schedule, slot, job_id, fired_at)
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (schedule, slot) DO NOTHING`,

  /** How many tables the database holds (any application's), to tell an empty file from one in use. */
  tableCount: `SELECT count(*) FROM sqlite_schema WHERE type = 'table'`,

  // ---- The key-value table (the Deno KV-style facade) ----
  /** The entry of key ?1. */
  kvGet: `SELECT key, value, updated_at FROM gigq_kv WHERE key = ?1`,
  /** The entries whose key starts with ?1 (a prefix of ?2 characters), by key, at most ?3. */
  kvList: `SELECT key, value, updated_at FROM gigq_kv
    WHERE key >= ?1 AND substr(key, 1, ?2) = ?1 ORDER BY key LIMIT ?3`,
  /** Sets key ?1 to value ?2 at ?3. */
  kvSet: `INSERT INTO gigq_kv (key, value, updated_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  /** Deletes key ?1. */
  kvDelete: `DELETE FROM gigq_kv WHERE key = ?1`,
} as const;
