/**
 * The SQLite backend: one registry connection per file per isolate, the
 * store's statements in transactions retried while busy, and wake-ups from
 * the WAL file and `PRAGMA data_version`.
 *
 * @module
 */
import {
  type ActivityRow,
  type Backend,
  BULK_BATCH,
  type BulkFilter,
  type Claimed,
  type CountParams,
  type LimitState,
  type ListParams,
  type MigrationPlan,
  type OpenMode,
  type PruneBatch,
  type PruneParams,
  type QueueDump,
  type RenewParams,
  type ScheduleFire,
  type ScheduleRecord,
  type ScheduleRunRecord,
  type SqliteSpec,
  type StepParams,
  type StorageState,
  type WorkerFacts,
  type WorkerRecord,
  type WorkerRegistration,
} from "../_backend.ts";
import type { InsertParams, KvEntry, KvRow, TxInsert } from "../_backend.ts";
import {
  type JobCount,
  type JobDetails,
  type JobInfo,
  type QueueInfo,
  type QueueStats,
  queueStats,
  type WorkerInfo,
} from "../job_info.ts";
import { type Connection, SqliteError } from "./connection.ts";
import { closeHandle, shareClose } from "./ffi_driver.ts";
import { writeBackup } from "./_backup.ts";
import { diskFullMessage, readOnlyMessage } from "./_file_errors.ts";
import { acquireExisting } from "./_open_existing.ts";
import {
  acquireConnection,
  notifyLocalCommit,
  onLocalCommit,
  releaseConnection,
} from "./registry.ts";
import { SQL } from "./_sql.ts";
import { migrationSql, readVersion, SCHEMA_VERSION } from "./schema.ts";
import { Store } from "./_store.ts";
import type { QueueConfig, QueueSettings } from "../queue_config.ts";

/** SQLite's primary result code for a file that is not a database (SQLITE_NOTADB). */
const SQLITE_NOTADB = 26;

/** The default {@linkcode OpenMode}: create what is missing. */
const CREATE: OpenMode = { create: true, readOnlyFallback: false };

/**
 * The error to throw for `error`, thrown while connecting to `path`: the
 * drivers' text for a file that is not a database names a statement, and for
 * a read-only or full file neither the file nor what to do; say both.
 */
function explainConnectError(path: string, error: unknown): unknown {
  if (!(error instanceof SqliteError)) return error;
  if ((error.code & 0xff) === SQLITE_NOTADB) {
    return new SqliteError(
      `${JSON.stringify(path)} is not an SQLite database, so not a GigQ database (SQLite: file ` +
        `is not a database)`,
      error.code,
      { cause: error },
    );
  }
  if (error.readOnly || error.diskFull) {
    return new SqliteError(
      error.readOnly ? readOnlyMessage(path) : diskFullMessage(path),
      error.code,
      { cause: error },
    );
  }
  return error;
}

/** The task names a workers row holds (a JSON array), or none if it is unreadable. */
function taskList(value: unknown): string[] {
  try {
    const tasks = JSON.parse(String(value));
    return Array.isArray(tasks) ? tasks.map(String) : [];
  } catch {
    return [];
  }
}

/** An epoch-ms column, or undefined for NULL. */
function ms(value: unknown): number | undefined {
  return typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : undefined;
}

/**
 * The identity of the file at `path` (device and inode), or undefined when
 * there is none or it cannot be read (then replacement goes unnoticed).
 */
function fileId(path: string): string | undefined {
  if (path === ":memory:" || path.startsWith("file:")) return undefined;
  try {
    const st = Deno.statSync(path);
    return st.ino === null ? undefined : `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** A queue in one SQLite file. */
export class SqliteBackend implements Backend {
  readonly spec: SqliteSpec;
  #conn: Connection | undefined;
  #store: Store | undefined;
  #generation = 0;
  #closed = false;
  #fileId: string | undefined;
  #log: ((level: "info" | "warn", message: string) => void) | undefined;
  #mode: OpenMode;
  #readOnly = false;

  /**
   * Opens the connection now (so bad paths, driver conflicts and, with
   * `create: false`, a missing queue fail at once); the schema is made by
   * {@linkcode SqliteBackend.open}.
   */
  constructor(spec: SqliteSpec, mode: OpenMode = CREATE) {
    this.spec = spec;
    this.#mode = mode;
    this.#conn = this.#connect();
    this.#fileId = fileId(spec.path);
  }

  /** Takes the registry's connection to the file, as the open mode says. */
  #connect(): Connection {
    try {
      if (this.#mode.create) return acquireConnection(this.spec.path, this.#options());
      const existing = acquireExisting(
        this.spec.path,
        this.#options(),
        this.#mode.readOnlyFallback,
      );
      this.#readOnly = existing.readOnly;
      return existing.conn;
    } catch (error) {
      throw explainConnectError(this.spec.path, error);
    }
  }

  get readOnly(): boolean {
    return this.#readOnly;
  }

  #options() {
    return {
      driver: this.spec.driver,
      synchronous: this.spec.synchronous,
      busyTimeout: this.spec.busyTimeout,
    };
  }

  get generation(): number {
    return this.#generation;
  }

  /** The store on a live connection, reconnecting if the registry closed ours. */
  async #ready(): Promise<Store> {
    if (this.#closed) throw new Error(`Cannot use ${this.spec.path}: the backend is closed`);
    if (this.#conn === undefined || !this.#conn.isOpen) {
      const had = this.#conn !== undefined;
      this.#conn = this.#connect();
      this.#store = undefined;
      if (had) this.#generation++;
    }
    if (this.#store === undefined || this.#store.conn !== this.#conn) {
      this.#store = await Store.open(this.#conn, this.#log);
    }
    return this.#store;
  }

  /** The open connection (for the queue's transactions and the CLI). */
  async connection(): Promise<Connection> {
    return (await this.#ready()).conn;
  }

  async open(p: { log?: (level: "info" | "warn", message: string) => void }): Promise<void> {
    this.#log = p.log;
    await this.#ready();
  }

  async migration(p: { apply: boolean }): Promise<MigrationPlan> {
    if (this.#closed) throw new Error(`Cannot use ${this.spec.path}: the backend is closed`);
    if (this.#conn === undefined || !this.#conn.isOpen) {
      this.#conn = this.#connect();
      this.#store = undefined;
    }
    // The connection is open but not yet migrated until the store opens on it.
    const from = readVersion(this.#conn);
    if (p.apply) await this.#ready();
    return { from, to: SCHEMA_VERSION, sql: migrationSql(from) };
  }

  async insertJobs(p: InsertParams): Promise<string[]> {
    const s = await this.#ready();
    return await s.write(() => s.insertJobs(p.jobs, p.now, p.traceContext));
  }

  async step(p: StepParams): Promise<Claimed[]> {
    const s = await this.#ready();
    return await s.write(() => s.cycle(p));
  }

  async renewLeases(p: RenewParams): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.heartbeat(p));
  }

  async registerWorker(p: WorkerRegistration): Promise<WorkerRecord | undefined> {
    const s = await this.#ready();
    return await s.write(() => {
      const row = p.previous ? s.workerRow(p.workerId) : undefined;
      s.registerWorker(p.workerId, [...p.tasks], p.queues, p.concurrency, p.now);
      return row;
    });
  }

  async workerStopped(p: { workerId: string; now: number }): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.workerStopped(p.workerId, p.now));
  }

  async overdue(p: { owner: string; now: number; graceMs: number }): Promise<boolean> {
    const s = await this.#ready();
    return await s.read(() => s.workerOverdue(p.owner, p.now, p.graceMs));
  }

  async endAttempts(p: {
    owner: string;
    how: "died" | "terminated";
    message: string;
    now: number;
    graceMs: number;
  }): Promise<string[]> {
    const s = await this.#ready();
    return await s.write(() => s.endWorker(p.owner, p.how, p.message, p.now, p.graceMs));
  }

  async transaction<T>(p: {
    now: number;
    fn: (tx: { connection: unknown; insertJobs: TxInsert }) => T;
  }): Promise<T> {
    const s = await this.#ready();
    return await s.write(() =>
      p.fn({ connection: s.conn, insertJobs: (jobs, tc) => s.insertJobs(jobs, p.now, tc) })
    );
  }

  async cancel(p: { id: string; now: number }): Promise<boolean> {
    const s = await this.#ready();
    return await s.write(() => s.cancel(p.id, p.now));
  }

  async requeue(p: { id: string; now: number }): Promise<boolean> {
    const s = await this.#ready();
    return await s.write(() => s.requeue(p.id, p.now));
  }

  async cancelMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#bulk("cancel", p.filter, p.now);
  }

  async requeueMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#bulk("requeue", p.filter, p.now);
  }

  /** Batches of a bulk operation, each its own write transaction (workers go on in between). */
  async #bulk(op: "cancel" | "requeue", filter: BulkFilter, now: number): Promise<number> {
    const s = await this.#ready();
    const upTo = await s.read(() => s.maxSeq());
    let after = 0;
    let count = 0;
    for (;;) {
      const batch = await s.write(() => s.bulk(op, filter, after, upTo, BULK_BATCH, now));
      count += batch.count;
      if (!batch.full) return count;
      after = batch.last;
    }
  }

  async runningOf(p: { owner: string }): Promise<{ seq: number; run: number }[]> {
    const s = await this.#ready();
    return await s.read(() =>
      s.conn.prepare(SQL.ownerRuns).values(p.owner).map((r) => ({
        seq: Number(r[0]),
        run: Number(r[1]),
      }))
    );
  }

  async cancelledRuns(p: { runs: readonly { seq: number; run: number }[] }): Promise<number[]> {
    if (p.runs.length === 0) return [];
    const s = await this.#ready();
    return await s.read(() => s.cancelledRuns(p.runs));
  }

  /**
   * For a waiter (`id` given): calls `wake` after writes to the database's
   * WAL, by any connection (this isolate's too, which `PRAGMA data_version`
   * does not show). Nothing for a worker (`id` undefined), which reads its
   * jobs' states every second anyway, nor where the WAL cannot be watched:
   * the caller's slow poll covers those.
   */
  watchEnds(p: Parameters<Backend["watchEnds"]>[0]): () => void {
    const path = this.spec.path;
    if (p.id === undefined || path === ":memory:" || path.startsWith("file:")) return () => {};
    const found = watchWal(path, p.debug);
    if (found === undefined) return () => {};
    const watcher = found;
    let active = true;
    let scheduled = false;
    const stop = () => {
      active = false;
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
    };
    (async () => {
      try {
        for await (const event of watcher) {
          if (!active) return;
          if (event.kind === "remove") return stop();
          if (scheduled) continue;
          scheduled = true;
          // The commit may not be visible yet when its WAL write is seen.
          setTimeout(() => {
            scheduled = false;
            if (active) p.wake();
          }, 5);
        }
      } catch (error) {
        p.debug(`stopped watching: ${(error as Error)?.message ?? error}`);
      }
    })();
    return stop;
  }

  async clear(p: { before: number; now: number }): Promise<number> {
    const s = await this.#ready();
    return await s.write(() => s.clear(p.before));
  }

  async prune(p: PruneParams): Promise<PruneBatch> {
    const s = await this.#ready();
    return await s.write(() => s.prune(p));
  }

  async getJob(p: { id: string; now: number }): Promise<JobDetails | undefined> {
    const s = await this.#ready();
    return await s.read(() => s.getJob(p.id)) as JobDetails | undefined;
  }

  async listJobs(p: ListParams): Promise<JobInfo[]> {
    const s = await this.#ready();
    return await s.read(() => s.list(p, p.limit, p.before));
  }

  async countJobs(p: CountParams): Promise<JobCount> {
    const s = await this.#ready();
    return await s.read(() => s.countJobs(p, p.cap));
  }

  async workers(p: { stopped: boolean; now: number }): Promise<WorkerInfo[]> {
    const s = await this.#ready();
    return await s.read(() => s.workers(p.stopped));
  }

  async activity(
    p: { since: number; minutes: number; queue: string | undefined; now: number },
  ): Promise<ActivityRow[]> {
    const s = await this.#ready();
    return await s.read(() => s.activity(p.since, p.minutes, p.queue));
  }

  async stats(p: { queue: string | undefined; now: number }): Promise<QueueStats> {
    const s = await this.#ready();
    const q = p.queue;
    return queueStats(await s.read(() => q === undefined ? s.stats() : s.queueStats(q)));
  }

  async queueList(_p: { now: number }): Promise<QueueInfo[]> {
    const s = await this.#ready();
    return await s.read(() => s.queueList());
  }

  async setProgress(
    p: { rows: readonly { seq: number; run: number; progress: string }[] },
  ): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.setProgress(p.rows));
  }

  async configureQueue(
    p: { queue: string; config: QueueConfig; now: number },
  ): Promise<QueueSettings> {
    const s = await this.#ready();
    const settings = await s.write(() => s.configureQueue(p.queue, p.config, p.now));
    // A limit lifted (or raised) may make jobs claimable at once.
    this.notifyLocalCommit();
    return settings;
  }

  async limitState(p: { queue: string; key: string | null; now: number }): Promise<LimitState> {
    const s = await this.#ready();
    return await s.read(() => s.limitState(p.queue, p.key, p.now));
  }

  async isPaused(p: { queue: string }): Promise<boolean> {
    const s = await this.#ready();
    return await s.read(() => s.conn.prepare(SQL.isPaused).values(p.queue)[0]?.[0] === 1);
  }

  async setPaused(p: { queue: string; paused: boolean; now: number }): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.setPaused(p.queue, p.paused, p.now));
  }

  async workerFacts(
    p: { workerId?: string; liveSince: number; now: number },
  ): Promise<WorkerFacts> {
    const s = await this.#ready();
    return await s.read(() => ({
      lastSeen: ms(s.conn.prepare(SQL.lastWorkerSeen).values()[0]?.[0]),
      liveTasks: s.conn.prepare(SQL.liveWorkerTasks).values(p.liveSince).map((r) => taskList(r[0])),
      seenAt: p.workerId === undefined
        ? undefined
        : ms(s.conn.prepare(SQL.workerSeenAt).values(p.workerId)[0]?.[0]),
    }));
  }

  async backup(p: { dest: string; now: number }): Promise<void> {
    const s = await this.#ready();
    await writeBackup(s.conn, this.spec.path, p.dest);
  }

  async exportQueue(_p: { now: number }): Promise<QueueDump> {
    const s = await this.#ready();
    return await s.read(() => s.exportQueue());
  }

  async importQueue(p: { dump: QueueDump; force: boolean; now: number }): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.importQueue(p.dump, p.force, p.now));
  }

  async listSchedules(p: { tasks?: readonly string[]; now: number }): Promise<ScheduleRecord[]> {
    const s = await this.#ready();
    return await s.read(() => s.listSchedules(p.tasks));
  }

  async saveSchedule(p: {
    name: string;
    merge: (stored: ScheduleRecord | undefined) => ScheduleRecord;
    now: number;
  }): Promise<ScheduleRecord> {
    const s = await this.#ready();
    return await s.write(() => s.saveSchedule(p.name, p.merge));
  }

  async deleteSchedule(p: { name: string; now: number }): Promise<boolean> {
    const s = await this.#ready();
    return await s.write(() => s.deleteSchedule(p.name, p.now));
  }

  async fireSchedule(p: ScheduleFire): Promise<string[] | undefined> {
    const s = await this.#ready();
    return await s.write(() => s.fireSchedule(p));
  }

  async scheduleRunOf(p: { jobId: string }): Promise<ScheduleRunRecord | undefined> {
    const s = await this.#ready();
    return await s.read(() => s.scheduleRunOf(p.jobId));
  }

  async nextWake(p: { now: number }): Promise<number | undefined> {
    const s = await this.#ready();
    const next = s.conn.prepare(SQL.nextWake).values()[0]?.[0];
    // A rate-limited queue's jobs become claimable when a start leaves its window.
    const rate = s.conn.prepare(SQL.rateWake).values(p.now)[0]?.[0];
    const times = [next, rate].filter((t): t is number => typeof t === "number");
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /**
   * Notices commits by other connections while a worker is idle: it watches
   * the database's WAL file and, on each write to it, checks
   * `PRAGMA data_version` (which changes only for other connections'
   * commits) and then looks for claimable work (a read: no lock). One look
   * for work committed since the last claim happens at once. Where the WAL
   * cannot be watched (no read permission, no such file yet), it checks
   * `PRAGMA data_version` every 50 ms instead.
   *
   * Only the WAL, never the database or its directory: Deno's watcher opens
   * and closes each file it reports an event for, and closing a descriptor
   * of a file drops every POSIX lock the process holds on that file. SQLite
   * keeps its locks on the database and the -shm file, none on the WAL. (A
   * watch on the directory once let another process delete the WAL under a
   * live worker: lost commits and a corrupt index.)
   */
  watch(p: Parameters<Backend["watch"]>[0]): () => void {
    const path = this.spec.path;
    const conn = this.#conn;
    if (
      p.enabled === false || conn === undefined || !conn.isOpen || path === ":memory:" ||
      path.startsWith("file:")
    ) {
      return () => {};
    }
    const intervalMs = p.intervalMs ?? 50;
    const tasks = JSON.stringify(p.tasks);
    const queues = p.queues === undefined ? null : JSON.stringify(p.queues);
    let active = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let watcher: Deno.FsWatcher | undefined;
    const dataVersion = (): unknown => {
      try {
        return conn.prepare(SQL.dataVersion).values()[0]?.[0];
      } catch {
        return undefined;
      }
    };
    const wake = () => {
      if (!active) return;
      stop();
      p.wake();
    };
    const lookForWork = () => {
      try {
        const ready = conn.prepare(SQL.workReady).values(p.now(), tasks, queues)[0]?.[0];
        if (ready === 1) wake();
      } catch {
        wake(); // Let the loop find out what is wrong.
      }
    };
    let version = dataVersion();
    const changed = () => {
      const now = dataVersion();
      if (now === version) return false;
      version = now;
      lookForWork();
      return true;
    };
    const poll = () => {
      timer = undefined;
      if (!active) return;
      changed();
      if (active) timer = setTimeout(poll, intervalMs);
    };
    const stop = () => {
      active = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const w = watcher;
      watcher = undefined;
      try {
        w?.close();
      } catch {
        // Already closed.
      }
    };
    lookForWork();
    if (!active) return stop;
    watcher = watchWal(path, p.debug);
    if (watcher === undefined) {
      timer = setTimeout(poll, intervalMs);
      return stop;
    }
    const mine = watcher;
    let scheduled = false;
    const check = (again: boolean) => {
      scheduled = false;
      if (watcher !== mine || !active) return;
      // The commit may not be visible yet when its WAL write is seen.
      if (!changed() && again) {
        scheduled = true;
        setTimeout(() => check(false), 10);
      }
    };
    (async () => {
      try {
        for await (const event of mine) {
          if (event.kind === "remove") {
            // The WAL went away (its last other user closed it): poll instead.
            if (watcher === mine && active) {
              watcher = undefined;
              try {
                mine.close();
              } catch {
                // Already closed.
              }
              timer = setTimeout(poll, intervalMs);
            }
            return;
          }
          if (scheduled || !active) continue;
          scheduled = true;
          setTimeout(() => check(true), 1);
        }
      } catch (error) {
        p.debug(`stopped watching: ${(error as Error)?.message ?? error}`);
      }
    })();
    return stop;
  }

  onLocalCommit(listener: () => void): () => void {
    return onLocalCommit(this.spec.path, listener);
  }

  notifyLocalCommit(): void {
    notifyLocalCommit(this.spec.path);
  }

  storageState(): StorageState {
    if (this.#fileId === undefined) return "same";
    const now = fileId(this.spec.path);
    if (now === this.#fileId) return "same";
    return now === undefined ? "deleted" : "replaced";
  }

  reopen(): void {
    if (this.#conn !== undefined) releaseConnection(this.#conn);
    this.#conn = undefined;
    this.#store = undefined;
    this.#conn = this.#connect();
    this.#fileId = fileId(this.spec.path);
    this.#generation++;
  }

  releaseToken(): string | undefined {
    const conn = this.#conn;
    return conn !== undefined && "handle" in conn
      ? String((conn as { handle: bigint }).handle)
      : undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#conn !== undefined) releaseConnection(this.#conn);
    this.#conn = undefined;
    this.#store = undefined;
  }

  // ---- The key-value table (see Backend) ----
  async kvGet(p: { key: string }): Promise<KvRow | undefined> {
    const s = await this.#ready();
    return await s.read(() => s.kvGet(p.key));
  }

  async kvList(p: { prefix: string; limit: number }): Promise<KvRow[]> {
    const s = await this.#ready();
    return await s.read(() => s.kvList(p.prefix, p.limit));
  }

  async kvSet(p: { entries: readonly KvEntry[]; now: number }): Promise<void> {
    const s = await this.#ready();
    await s.write(() => s.kvSet(p.entries, p.now));
  }

  async kvDelete(p: { key: string }): Promise<boolean> {
    const s = await this.#ready();
    return await s.write(() => s.kvDelete(p.key));
  }
}

/**
 * A watcher of the WAL of the database at `path` (SQLite names the WAL
 * after the real file: through a symlink, beside its target), or undefined
 * where it cannot be watched (no read permission, no such file system
 * support), said through `debug`: the caller then polls.
 */
function watchWal(path: string, debug: (message: string) => void): Deno.FsWatcher | undefined {
  let wal = path + "-wal";
  try {
    wal = Deno.realPathSync(path) + "-wal";
  } catch {
    // Not readable as a path: watch the name given.
  }
  try {
    if (Deno.permissions.querySync({ name: "read", path: wal }).state !== "granted") {
      throw new Error("no read permission");
    }
    return Deno.watchFs(wal, { recursive: false });
  } catch (error) {
    debug(`polling, not watching ${wal}: ${(error as Error)?.message ?? error}`);
    return undefined;
  }
}

/**
 * Frees, from the parent, what a terminated Web Worker's backend left open
 * (unless the Web Worker closed it itself: see shareSqliteTokenClose).
 */
export function releaseSqliteToken(token: string, claim?: Int32Array<SharedArrayBuffer>): void {
  closeHandle(BigInt(token), claim);
}

/** In the Web Worker: shares the closing of the handle `token` names with the parent, through `claim`. */
export function shareSqliteTokenClose(token: string, claim: Int32Array<SharedArrayBuffer>): void {
  shareClose(BigInt(token), claim);
}
