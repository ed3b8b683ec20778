/**
 * The database schema. Every GigQ table, index and view is named `gigq_…`,
 * and the schema version lives in GigQ's own table (`gigq_schema`), so the
 * queue can share a file with an application's own tables; the file's
 * `user_version` and `application_id` belong to the application.
 *
 * A new file (or one with only the application's tables) gets the current
 * schema at once. Files written before version 5, when GigQ claimed the whole
 * file (version in `user_version`, tables without a prefix), are upgraded in
 * place by the numbered migrations. Migrations are append-only: never edit
 * one that has shipped, add the next.
 *
 * @module
 */
import type { Connection, DriverName } from "./connection.ts";
import { openConnection } from "./open.ts";
import { SchemaError } from "../errors.ts";

/** `PRAGMA application_id` of a file written before schema 5: "GigQ" in ASCII. */
export const APPLICATION_ID = 0x47696751;

/** One schema step. `sql` runs inside the migration's transaction. */
export interface Migration {
  /** The schema version after this step. */
  version: number;
  /** What the step does. */
  description: string;
  /** The statements. */
  sql: string;
}

/** GigQ's indexes, its view and its version table, as of schema 5 (on the gigq_ tables). */
const INDEXES_VIEWS_AND_VERSION = `
  -- The claim: each task's ready jobs by priority, then age (the claim's ORDER BY).
  CREATE INDEX gigq_jobs_ready ON gigq_jobs (task, priority DESC, run_at, seq)
    WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0;
  -- Delayed jobs, promoted into gigq_jobs_ready when their time comes.
  CREATE INDEX gigq_jobs_scheduled ON gigq_jobs (run_at)
    WHERE status = 'pending' AND scheduled = 1;
  -- Running jobs by lease, to find those whose worker stopped renewing.
  CREATE INDEX gigq_jobs_leases ON gigq_jobs (lease_until) WHERE status = 'running';
  CREATE INDEX gigq_jobs_cancelled_by ON gigq_jobs (cancelled_by)
    WHERE cancelled_by IS NOT NULL;
  -- Pending jobs waiting for a dependency: with gigq_jobs_ready and
  -- gigq_jobs_scheduled, every pending job is in exactly one of the three.
  CREATE INDEX gigq_jobs_blocked ON gigq_jobs (seq)
    WHERE status = 'pending' AND parents_left > 0 AND scheduled = 0;
  -- Jobs that ended badly, by status, newest first.
  CREATE INDEX gigq_jobs_ended ON gigq_jobs (status, seq)
    WHERE status = 'failed' OR status = 'timeout' OR status = 'cancelled';
  CREATE INDEX gigq_job_deps_child ON gigq_job_deps (child, position);
  -- Every attempt: those that did not complete have a row; a completed one
  -- is recorded on its job's row.
  CREATE VIEW gigq_executions (job, run, attempt, worker_id, status, started_at, completed_at,
    error) AS
    SELECT job, run, attempt, worker_id, status, started_at, completed_at, error
      FROM gigq_attempts
    UNION ALL
    SELECT j.seq, j.runs, j.attempts, j.worker_id, 'completed', j.started_at,
        j.completed_at, NULL
      FROM gigq_jobs j
      WHERE j.status = 'completed'
        AND NOT EXISTS (SELECT 1 FROM gigq_attempts a WHERE a.job = j.seq AND a.run = j.runs);
  -- A completed job releases its children, counted as they are at its
  -- completion (one may have been submitted while it ran). A trigger rather
  -- than a RETURNING on the completion: the claim loop's completion stays a
  -- plain update (RETURNING cost it ~20% at concurrency 100), and a job
  -- without children pays one comparison. OF completed_at, not status: the
  -- claim's update does not set it, so the claim does not carry the trigger.
  CREATE TRIGGER gigq_jobs_release_children AFTER UPDATE OF completed_at ON gigq_jobs
    WHEN new.status = 'completed' AND old.status <> 'completed' AND new.children > 0
  BEGIN
    UPDATE gigq_jobs SET parents_left = parents_left - 1
      WHERE seq IN (SELECT child FROM gigq_job_deps WHERE parent = new.seq);
  END;
  CREATE TABLE gigq_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
  );
`;

/**
 * Schema 5, for a file without GigQ's tables (the later migrations run on
 * it): what migrations 1 to 5 leave, made at once (so nothing is ever created under a name without
 * the prefix, which an application's own table may have).
 */
const CURRENT = `
  CREATE TABLE gigq_jobs (
    seq           INTEGER PRIMARY KEY,      -- submit order; internal
    id            TEXT    NOT NULL UNIQUE,  -- public id (UUID v7)
    name          TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    module        TEXT,
    params        TEXT    NOT NULL,         -- JSON
    priority      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    timeout       REAL    NOT NULL,         -- seconds
    retry_delay   REAL    NOT NULL,         -- seconds
    backoff       TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    dependencies  TEXT    NOT NULL,         -- JSON array of job ids, in order
    status        TEXT    NOT NULL CHECK (status = 'pending' OR status = 'running' OR
                    status = 'completed' OR status = 'failed' OR status = 'cancelled' OR
                    status = 'timeout'),
    attempts      INTEGER NOT NULL DEFAULT 0,  -- attempts since submit or requeue
    runs          INTEGER NOT NULL DEFAULT 0,  -- claims ever; the completion fence
    run_at        INTEGER NOT NULL,         -- epoch ms; not claimed before
    scheduled     INTEGER NOT NULL DEFAULT 0,  -- 1 while run_at was in the future
    parents_left  INTEGER NOT NULL DEFAULT 0,  -- dependencies not yet completed
    children      INTEGER NOT NULL DEFAULT 0,  -- jobs that depend on this one
    result        TEXT,                     -- JSON, set when completed
    error         TEXT,
    worker_id     TEXT,                     -- set while running; kept by a completion
    lease_until   INTEGER,                  -- epoch ms; set while running
    cancelled_by  INTEGER,                  -- seq of the job whose end cancelled this one
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER,
    lease_owner   TEXT                      -- the claiming Worker object's token
  );
  CREATE TABLE gigq_job_deps (
    parent   INTEGER NOT NULL REFERENCES gigq_jobs (seq) ON DELETE CASCADE,
    child    INTEGER NOT NULL REFERENCES gigq_jobs (seq) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    PRIMARY KEY (parent, child)
  ) WITHOUT ROWID;
  CREATE TABLE gigq_attempts (
    job          INTEGER NOT NULL REFERENCES gigq_jobs (seq) ON DELETE CASCADE,
    run          INTEGER NOT NULL,
    attempt      INTEGER NOT NULL,
    worker_id    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER NOT NULL,
    error        TEXT,
    PRIMARY KEY (job, run)
  ) WITHOUT ROWID;
  CREATE TABLE gigq_workers (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    tasks       TEXT    NOT NULL,           -- JSON array of task names
    concurrency INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    stopped_at  INTEGER
  ) WITHOUT ROWID;
  ${INDEXES_VIEWS_AND_VERSION}
`;

/**
 * Every migration, in order. Versions 1 to 4 describe files GigQ owned whole
 * (unprefixed tables, the version in `user_version`); they run only to
 * upgrade such a file, never on a file that might hold an application's tables.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "jobs, dependency edges, executions and workers",
    sql: `
      CREATE TABLE jobs (
        seq           INTEGER PRIMARY KEY,      -- submit order; internal
        id            TEXT    NOT NULL UNIQUE,  -- public id (UUID v7)
        name          TEXT    NOT NULL,
        task          TEXT    NOT NULL,
        module        TEXT,
        params        TEXT    NOT NULL,         -- JSON
        priority      INTEGER NOT NULL,
        max_attempts  INTEGER NOT NULL,
        timeout       REAL    NOT NULL,         -- seconds
        retry_delay   REAL    NOT NULL,         -- seconds
        backoff       TEXT    NOT NULL,
        description   TEXT    NOT NULL,
        dependencies  TEXT    NOT NULL,         -- JSON array of job ids, in order
        status        TEXT    NOT NULL CHECK (status IN
                        ('pending','running','completed','failed','cancelled','timeout')),
        attempts      INTEGER NOT NULL DEFAULT 0,  -- attempts since submit or requeue
        runs          INTEGER NOT NULL DEFAULT 0,  -- claims ever; the completion fence
        run_at        INTEGER NOT NULL,         -- epoch ms; not claimed before
        scheduled     INTEGER NOT NULL DEFAULT 0,  -- 1 while run_at was in the future
        parents_left  INTEGER NOT NULL DEFAULT 0,  -- dependencies not yet completed
        children      INTEGER NOT NULL DEFAULT 0,  -- jobs that depend on this one
        result        TEXT,                     -- JSON, set when completed
        error         TEXT,
        worker_id     TEXT,                     -- set while running
        lease_until   INTEGER,                  -- epoch ms; set while running
        cancelled_by  INTEGER,                  -- seq of the job whose end cancelled this one
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        started_at    INTEGER,
        completed_at  INTEGER
      );
      -- The claim: ready jobs by priority, then age. Matches the claim's ORDER BY.
      CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, seq)
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0;
      -- Delayed jobs, promoted into jobs_ready when their time comes.
      CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE status = 'pending' AND scheduled = 1;
      -- Running jobs by lease, to find those whose worker stopped renewing.
      CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
      -- listJobs by status, newest first; stats.
      CREATE INDEX jobs_status ON jobs (status, seq);
      CREATE INDEX jobs_cancelled_by ON jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;

      CREATE TABLE job_deps (
        parent   INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
        child    INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        PRIMARY KEY (parent, child)
      ) WITHOUT ROWID;
      CREATE INDEX job_deps_child ON job_deps (child, position);

      CREATE TABLE executions (
        job          INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
        run          INTEGER NOT NULL,
        attempt      INTEGER NOT NULL,
        worker_id    TEXT    NOT NULL,
        status       TEXT    NOT NULL,
        started_at   INTEGER NOT NULL,
        completed_at INTEGER NOT NULL,
        error        TEXT,
        PRIMARY KEY (job, run)
      ) WITHOUT ROWID;

      CREATE TABLE workers (
        id          TEXT    PRIMARY KEY,
        host        TEXT    NOT NULL,
        pid         INTEGER NOT NULL,
        tasks       TEXT    NOT NULL,           -- JSON array of task names
        concurrency INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        seen_at     INTEGER NOT NULL,
        stopped_at  INTEGER
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: "status changes that cost less: the status CHECK as comparisons, no status index",
    // Two measured costs of every claim and completion (bench/, 2-core machine):
    // - SQLite tests "status IN (six values)" in a CHECK by building a
    //   throwaway lookup table for each row (~3 µs per status change); the
    //   same test as comparisons costs nanoseconds. A CHECK can only change
    //   by rebuilding the table (migrate() turns foreign keys off for it, so
    //   dropping the old table cascades nowhere).
    // - jobs_status (status, seq) was rewritten in three places per batch
    //   (pending, running, completed entries): 2.1 of the 10 pages a
    //   transaction of 8 claims and completions wrote to the WAL. Listing and
    //   counting by status use narrower partial indexes instead: jobs_ended
    //   and jobs_blocked, which a job going pending → running → completed
    //   never touches, plus jobs_ready, jobs_scheduled and jobs_leases.
    sql: `
      CREATE TABLE jobs_v2 (
        seq           INTEGER PRIMARY KEY,
        id            TEXT    NOT NULL UNIQUE,
        name          TEXT    NOT NULL,
        task          TEXT    NOT NULL,
        module        TEXT,
        params        TEXT    NOT NULL,
        priority      INTEGER NOT NULL,
        max_attempts  INTEGER NOT NULL,
        timeout       REAL    NOT NULL,
        retry_delay   REAL    NOT NULL,
        backoff       TEXT    NOT NULL,
        description   TEXT    NOT NULL,
        dependencies  TEXT    NOT NULL,
        status        TEXT    NOT NULL CHECK (status = 'pending' OR status = 'running' OR
                        status = 'completed' OR status = 'failed' OR status = 'cancelled' OR
                        status = 'timeout'),
        attempts      INTEGER NOT NULL DEFAULT 0,
        runs          INTEGER NOT NULL DEFAULT 0,
        run_at        INTEGER NOT NULL,
        scheduled     INTEGER NOT NULL DEFAULT 0,
        parents_left  INTEGER NOT NULL DEFAULT 0,
        children      INTEGER NOT NULL DEFAULT 0,
        result        TEXT,
        error         TEXT,
        worker_id     TEXT,
        lease_until   INTEGER,
        cancelled_by  INTEGER,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        started_at    INTEGER,
        completed_at  INTEGER
      );
      INSERT INTO jobs_v2 SELECT * FROM jobs;
      DROP TABLE jobs;
      ALTER TABLE jobs_v2 RENAME TO jobs;
      CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, seq)
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0;
      CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE status = 'pending' AND scheduled = 1;
      CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
      CREATE INDEX jobs_cancelled_by ON jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;
      -- Pending jobs waiting for a dependency: with jobs_ready and jobs_scheduled, every
      -- pending job is in exactly one of the three.
      CREATE INDEX jobs_blocked ON jobs (seq)
        WHERE status = 'pending' AND parents_left > 0 AND scheduled = 0;
      -- Jobs that ended badly, by status, newest first (comparisons, not IN: see above).
      CREATE INDEX jobs_ended ON jobs (status, seq)
        WHERE status = 'failed' OR status = 'timeout' OR status = 'cancelled';
    `,
  },
  {
    version: 3,
    description: "a completed attempt is recorded on its job; executions becomes a view",
    // Inserting an execution row for every completed attempt was the largest
    // cost left in the claim/complete cycle (bench/, 2-core machine: a
    // Worker at concurrency 8 ran 1.27-1.32x faster without it, concurrency
    // 1 1.11x): a b-tree insert per job and ~1 of the ~8 pages each
    // transaction wrote. The job row already holds everything about its
    // completed attempt (runs, attempts, started_at, completed_at) except the
    // worker, which the completion now leaves in worker_id. The table keeps
    // every other ending (failed, timed out, released), and the view
    // executions shows all of them plus each completed job's final attempt,
    // so SQL that reads executions sees what it saw before. Rows written for
    // completed attempts before this version stay in the table; the view does
    // not repeat them.
    sql: `
      ALTER TABLE executions RENAME TO attempts;
      CREATE VIEW executions (job, run, attempt, worker_id, status, started_at, completed_at,
        error) AS
        SELECT job, run, attempt, worker_id, status, started_at, completed_at, error
          FROM attempts
        UNION ALL
        SELECT j.seq, j.runs, j.attempts, j.worker_id, 'completed', j.started_at,
            j.completed_at, NULL
          FROM jobs j
          WHERE j.status = 'completed'
            AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job = j.seq AND a.run = j.runs);
    `,
  },
  {
    version: 4,
    description: "leases owned by the claiming worker object; the ready index leads with the task",
    // - Renewing leases by worker id (and start time) let a second live worker
    //   given the same id keep alive the jobs a dead one had claimed: each
    //   Worker object now claims under a token of its own (lease_owner), and
    //   only that token renews. Jobs running while this migrates have none:
    //   their leases run out and they are retried as today.
    // - A worker claims only jobs whose task it knows. With the task first in
    //   jobs_ready, each of its tasks is a range of the index: a backlog of
    //   other tasks' jobs is never scanned.
    sql: `
      ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
      DROP INDEX jobs_ready;
      CREATE INDEX jobs_ready ON jobs (task, priority DESC, run_at, seq)
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0;
    `,
  },
  {
    version: 5,
    description: "every table, index and view named gigq_…; the version in gigq_schema",
    // The file stops being GigQ's alone: an application may keep its own
    // tables beside the queue (and commit its rows and its jobs in one
    // transaction). The tables are renamed (rows, ids, attempts, edges and
    // results stay as they are; SQLite rewrites the foreign keys that name
    // them), the indexes and the view are made again under their new names,
    // and user_version and application_id are handed back to the application.
    sql: `
      DROP VIEW IF EXISTS executions;
      DROP INDEX IF EXISTS jobs_ready;
      DROP INDEX IF EXISTS jobs_scheduled;
      DROP INDEX IF EXISTS jobs_leases;
      DROP INDEX IF EXISTS jobs_cancelled_by;
      DROP INDEX IF EXISTS jobs_blocked;
      DROP INDEX IF EXISTS jobs_ended;
      DROP INDEX IF EXISTS jobs_status;
      DROP INDEX IF EXISTS job_deps_child;
      ALTER TABLE jobs RENAME TO gigq_jobs;
      ALTER TABLE job_deps RENAME TO gigq_job_deps;
      ALTER TABLE attempts RENAME TO gigq_attempts;
      ALTER TABLE workers RENAME TO gigq_workers;
      ${INDEXES_VIEWS_AND_VERSION}
      PRAGMA user_version = 0;
      PRAGMA application_id = 0;
    `,
  },
  {
    version: 6,
    description: "named queues, pause, unique keys, progress and a cap on the retry delay",
    // - Every job waits in a named queue ('default' unless told). The ready
    //   index leads with the queue, so a worker's claim reads one range per
    //   queue and task it serves, and a paused queue's backlog is never read.
    // - gigq_queues holds each named queue's state (paused or not; limits
    //   later). A submit of a job in a queue other than 'default' adds its
    //   row, so a worker serving every queue knows them all.
    // - A unique key is held by a pending or running job: a partial unique
    //   index over those, so racing submitters insert one job.
    // - progress: the handler's last reported value (JSON), cleared on retry.
    // - max_retry_delay: exponential backoff's cap, per job (seconds).
    // - The workers table records the queues each worker serves (NULL: all).
    sql: `
      ALTER TABLE gigq_jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
      ALTER TABLE gigq_jobs ADD COLUMN unique_key TEXT;
      ALTER TABLE gigq_jobs ADD COLUMN progress TEXT;
      ALTER TABLE gigq_jobs ADD COLUMN max_retry_delay REAL NOT NULL DEFAULT 86400;
      ALTER TABLE gigq_workers ADD COLUMN queues TEXT;
      DROP INDEX gigq_jobs_ready;
      CREATE INDEX gigq_jobs_ready ON gigq_jobs (queue, task, priority DESC, run_at, seq)
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0;
      CREATE UNIQUE INDEX gigq_jobs_unique ON gigq_jobs (queue, unique_key)
        WHERE unique_key IS NOT NULL AND (status = 'pending' OR status = 'running');
      CREATE TABLE gigq_queues (
        name       TEXT    PRIMARY KEY,
        paused     INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    description: "schedules, queue limits (concurrency, per-key concurrency, rate) and retention",
    // - concurrency_key: jobs sharing one run at most key_concurrency at a
    //   time in their queue. gigq_jobs_keyed holds the ready keyed jobs by
    //   key, so a claim finds the best job of each key that has room without
    //   reading a busy key's backlog (no head-of-line blocking).
    // - gigq_queues holds each queue's settings (NULL: no limit, or the
    //   default retention): concurrency across every worker, per-key
    //   concurrency, a rate (rate_max starts in any rate_per ms) and how long
    //   ended jobs are kept (seconds; -1: forever).
    // - gigq_queue_starts logs the claims of rate-limited queues, pruned to
    //   the window: the claim counts it to stay under the rate.
    // - gigq_schedules holds the cron schedules; gigq_schedule_runs records
    //   each fired slot, its primary key making a slot fire once however
    //   many workers race for it (its row is written with the slot's job).
    sql: `
      ALTER TABLE gigq_jobs ADD COLUMN concurrency_key TEXT;
      CREATE INDEX gigq_jobs_keyed ON gigq_jobs (queue, concurrency_key, priority DESC, run_at, seq)
        WHERE status = 'pending' AND parents_left = 0 AND scheduled = 0
          AND concurrency_key IS NOT NULL;
      ALTER TABLE gigq_queues ADD COLUMN concurrency INTEGER;
      ALTER TABLE gigq_queues ADD COLUMN key_concurrency INTEGER;
      ALTER TABLE gigq_queues ADD COLUMN rate_max INTEGER;
      ALTER TABLE gigq_queues ADD COLUMN rate_per INTEGER;
      ALTER TABLE gigq_queues ADD COLUMN keep_completed INTEGER;
      ALTER TABLE gigq_queues ADD COLUMN keep_failed INTEGER;
      CREATE TABLE gigq_queue_starts (
        queue TEXT    NOT NULL,
        at    INTEGER NOT NULL
      );
      CREATE INDEX gigq_queue_starts_at ON gigq_queue_starts (queue, at);
      CREATE TABLE gigq_schedules (
        name        TEXT    PRIMARY KEY,
        cron        TEXT    NOT NULL,
        timezone    TEXT    NOT NULL,
        task        TEXT    NOT NULL,
        module      TEXT,
        params      TEXT    NOT NULL,
        options     TEXT    NOT NULL,
        missed      TEXT    NOT NULL,
        paused      INTEGER NOT NULL DEFAULT 0,
        next_run_at INTEGER,
        last_run_at INTEGER,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE gigq_schedule_runs (
        schedule TEXT    NOT NULL,
        slot     INTEGER NOT NULL,
        job_id   TEXT    NOT NULL,
        fired_at INTEGER NOT NULL,
        PRIMARY KEY (schedule, slot)
      ) WITHOUT ROWID;
      CREATE INDEX gigq_schedule_runs_job ON gigq_schedule_runs (job_id);
    `,
  },
  {
    version: 8,
    description: "a key-value table (the Deno KV-style facade's keysIfUndelivered)",
    // gigq_kv holds the entries of `@gigq/gigq/kv`: key is the canonical text
    // of a key (the JSON of its parts), value its JSON. A message's
    // keysIfUndelivered are written here in the transaction of its last failure.
    sql: `
      CREATE TABLE gigq_kv (
        key        TEXT    PRIMARY KEY,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    description: "the submitting trace's context on each job (OpenTelemetry)",
    // trace_context is the W3C trace context (JSON of traceparent and, if
    // any, tracestate) of the span that submitted the job, written only when
    // telemetry is on; each attempt's span links to it. NULL otherwise.
    sql: `
      ALTER TABLE gigq_jobs ADD COLUMN trace_context TEXT;
    `,
  },
];

/** Upgrades of databases with at least this many jobs are announced as warnings. */
const LONG_MIGRATION_JOBS = 50_000;

/** The schema version this GigQ writes. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/** The database is not one GigQ can use (defined with the other errors: PostgreSQL throws it too). */
export { SchemaError };

function pragmaNumber(conn: Connection, name: string): number {
  return Number(conn.prepare(`PRAGMA ${name}`).values()[0]?.[0] ?? 0);
}

/** The version a migration or the current schema leaves, recorded in GigQ's own table. */
function recordVersion(conn: Connection, version: number): void {
  conn.prepare("INSERT OR REPLACE INTO gigq_schema (id, version) VALUES (1, ?)").run(version);
}

/** Whether the file has GigQ's tables (of any version). */
export function hasQueue(conn: Connection): boolean {
  return readVersion(conn) > 0;
}

/**
 * Brings the database up to {@linkcode SCHEMA_VERSION}, beside whatever else
 * the file holds. Idempotent and safe to run from several processes at once
 * (it runs in one write transaction that re-reads the version). Refuses a
 * database written by a newer version. An upgrade of a file with many jobs is
 * announced through `log` before it starts (it blocks the thread).
 */
export function migrate(
  conn: Connection,
  log?: (level: "info" | "warn", message: string) => void,
): void {
  if (readVersion(conn) === SCHEMA_VERSION) return;
  // Rebuilding a table (create, copy, drop, rename) must not let the drop
  // cascade to the rows that reference it; the pragma only takes effect
  // outside a transaction, and foreign_key_check proves nothing broke.
  conn.exec("PRAGMA foreign_keys = OFF");
  try {
    conn.transaction(() => {
      const version = readVersion(conn);
      if (version === SCHEMA_VERSION) return;
      if (version === 0) {
        // Schema 5 at once, then the migrations after it.
        conn.exec(CURRENT);
        for (const m of MIGRATIONS) if (m.version > 5) conn.exec(m.sql);
        recordVersion(conn, SCHEMA_VERSION);
        return;
      }
      if (log !== undefined) {
        // The upgrade runs in this one transaction and blocks its thread:
        // say what is happening before a long one starts.
        const table = version < 5 ? "jobs" : "gigq_jobs";
        const jobs = Number(conn.prepare(`SELECT max(seq) FROM ${table}`).values()[0]?.[0] ?? 0);
        log(
          jobs >= LONG_MIGRATION_JOBS ? "warn" : "info",
          `upgrading ${JSON.stringify(conn.path)} from schema version ${version} to ` +
            `${SCHEMA_VERSION} (${jobs} jobs)` +
            (jobs >= LONG_MIGRATION_JOBS
              ? `; this may take a while and blocks this process: let it finish`
              : ""),
        );
      }
      for (const m of MIGRATIONS) {
        if (m.version <= version) continue;
        conn.exec(m.sql);
        if (m.version < 5) conn.exec(`PRAGMA user_version = ${m.version}`);
        else recordVersion(conn, m.version);
      }
      const broken = conn.prepare("PRAGMA foreign_key_check").values();
      if (broken.length > 0) {
        throw new SchemaError(
          conn.path,
          `Cannot upgrade ${JSON.stringify(conn.path)}: ${broken.length} rows reference ` +
            `missing rows (first: table ${broken[0][0]}, rowid ${
              broken[0][1]
            }); nothing was changed`,
        );
      }
    });
  } finally {
    conn.exec("PRAGMA foreign_keys = ON");
  }
}

/**
 * The statements that bring a queue at schema `from` (0: none) to
 * {@linkcode SCHEMA_VERSION}, as `migrate` runs them in one transaction
 * (for `gigq migrate --print`); empty when it is current.
 */
export function migrationSql(from: number): string {
  if (from >= SCHEMA_VERSION) return "";
  const record = (v: number) =>
    v < 5
      ? `PRAGMA user_version = ${v};`
      : `INSERT OR REPLACE INTO gigq_schema (id, version) VALUES (1, ${v});`;
  const parts = ["PRAGMA foreign_keys = OFF;", "BEGIN IMMEDIATE;"];
  if (from === 0) {
    parts.push("-- 5: schema 5, at once", CURRENT.trim());
    for (const m of MIGRATIONS) {
      if (m.version > 5) parts.push(`-- ${m.version}: ${m.description}`, m.sql.trim());
    }
    parts.push(record(SCHEMA_VERSION));
  } else {
    for (const m of MIGRATIONS) {
      if (m.version > from) {
        parts.push(`-- ${m.version}: ${m.description}`, m.sql.trim(), record(m.version));
      }
    }
  }
  parts.push("COMMIT;", "PRAGMA foreign_keys = ON;");
  return parts.join("\n") + "\n";
}

/**
 * Refuses, without writing anything, a database GigQ must not touch: one
 * written by a newer schema. Runs before a connection switches the file to
 * WAL mode. Any other SQLite file may hold a queue beside its own tables.
 */
export function checkDatabase(conn: Connection): void {
  readVersion(conn);
}

/**
 * The schema version of GigQ's tables in the file (0: none), refusing a
 * newer one. Before version 5 the version was the file's `user_version`,
 * with GigQ's `application_id`.
 */
export function readVersion(conn: Connection): number {
  const own = conn.prepare(
    "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'gigq_schema'",
  ).values().length > 0;
  let version = 0;
  if (own) {
    version = Number(conn.prepare("SELECT version FROM gigq_schema").values()[0]?.[0] ?? 0);
  } else if (pragmaNumber(conn, "application_id") === APPLICATION_ID) {
    version = pragmaNumber(conn, "user_version");
  }
  if (version > SCHEMA_VERSION) {
    throw new SchemaError(
      conn.path,
      `Cannot use ${JSON.stringify(conn.path)}: it was written by a newer GigQ (schema version ` +
        `${version}; this version understands up to ${SCHEMA_VERSION}); upgrade GigQ`,
    );
  }
  return version;
}

/**
 * The schema version of the queue in the file at `path` (0: none), read by
 * a connection of its own that closes before the file could change (before
 * it would switch to WAL mode). No other connection of this process may have
 * the file open: closing this one would drop their locks.
 */
export function peekVersion(path: string, driver: DriverName): number {
  let version = 0;
  const done = new Error("read");
  try {
    openConnection(path, driver, {
      inspect: (conn) => {
        version = readVersion(conn);
        throw done;
      },
    }).close();
  } catch (error) {
    if (error !== done) throw error;
  }
  return version;
}
