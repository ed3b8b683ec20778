/**
 * Where a queue lives, from what the user gave: the one core file that knows
 * which backends exist (and so imports their folders). A path is a SQLite
 * file; a `postgres://` or `postgresql://` URL is a schema in a PostgreSQL
 * database, whose backend (and its npm client) is imported only when such a
 * queue first opens, so a SQLite user downloads nothing for it.
 *
 * @module
 */
import type {
  ActivityRow,
  Backend,
  BackendSpec,
  BulkFilter,
  Claimed,
  CountParams,
  LimitState,
  ListParams,
  MigrationPlan,
  OpenMode,
  PostgresSpec,
  PruneBatch,
  PruneParams,
  QueueDump,
  RenewParams,
  ScheduleFire,
  ScheduleRecord,
  ScheduleRunRecord,
  StepParams,
  StorageState,
  WorkerFacts,
  WorkerRecord,
  WorkerRegistration,
} from "./_backend.ts";
import type { InsertParams, KvEntry, KvRow, TxInsert } from "./_backend.ts";
import type {
  JobCount,
  JobDetails,
  JobInfo,
  QueueInfo,
  QueueStats,
  WorkerInfo,
} from "./job_info.ts";
import { closing } from "./_closers.ts";
import { inFlight } from "./_in_flight.ts";
import { releaseSqliteToken, shareSqliteTokenClose, SqliteBackend } from "./sqlite/backend.ts";
import { closeConnections, resolveDbPath } from "./sqlite/registry.ts";
import type { QueueConfig, QueueSettings } from "./queue_config.ts";

/** The SQLite error classes the core passes on (a Web Worker's errors, rebuilt in its parent). */
export { SqliteError } from "./sqlite/connection.ts";
export { freeWriteGate, newWriteGate, shareWriteGate } from "./sqlite/_write_gate.ts";
export { SchemaError } from "./errors.ts";

/** The SQLite types the core's public options and transactions name. */
export type { Connection, DriverName } from "./sqlite/connection.ts";
export type { ConnectionOptions } from "./sqlite/registry.ts";

/** What JobQueue, Worker and WorkerPool take besides the path. */
export interface StorageOptions {
  driver?: "node" | "ffi";
  synchronous?: "NORMAL" | "FULL";
  busyTimeout?: number;
}

/** The schema a PostgreSQL URL without `?schema=` names. */
export const DEFAULT_POSTGRES_SCHEMA = "gigq";
/** What a schema name may be: one lower-case PostgreSQL identifier, never needing quotes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** The most connections a `?max=` may ask for. */
const MAX_CONNECTIONS = 1000;

/** Whether `target` names a PostgreSQL database (rather than a SQLite file). */
export function isPostgresUrl(target: unknown): target is string {
  return typeof target === "string" && /^postgres(?:ql)?:\/\//i.test(target);
}

/** `url` with any password replaced by nothing: fit for messages and `.path`. */
function withoutPassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/?#]*):[^@/?#]*@/i, "$1@");
}

/**
 * The spec of the queue a PostgreSQL URL names: `?schema=` (default `gigq`)
 * and `?max=` (connections) are GigQ's and taken out; every other parameter
 * is the client's.
 */
function postgresSpec(target: string, options: StorageOptions): PostgresSpec {
  const shown = withoutPassword(target);
  for (const key of ["driver", "synchronous", "busyTimeout"] as const) {
    if (options[key] !== undefined) {
      throw new RangeError(
        `Cannot open ${shown}: the ${key} option applies to SQLite files only, got ${
          JSON.stringify(options[key])
        } (a PostgreSQL queue takes ?schema= and ?max= in its URL)`,
      );
    }
  }
  const q = target.indexOf("?");
  const base = q < 0 ? target : target.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
  try {
    // Several hosts (h1,h2) are the client's extension of the URL form: check the first.
    new URL(base.replace(/^([a-z]+:\/\/[^/?#]*?)(,[^/?#]*)/i, "$1"));
  } catch {
    throw new TypeError(
      `Cannot open queue: ${JSON.stringify(shown)} is not a valid PostgreSQL URL`,
    );
  }
  const schema = params.get("schema") ?? DEFAULT_POSTGRES_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) {
    throw new RangeError(
      `Cannot open ${withoutPassword(base)}: schema must be a lower-case name of letters, ` +
        `digits and _ (not starting with a digit, at most 63), got ${JSON.stringify(schema)}`,
    );
  }
  let max: number | undefined;
  const maxText = params.get("max");
  if (maxText !== null) {
    max = Number(maxText);
    if (!/^\d+$/.test(maxText) || max < 1 || max > MAX_CONNECTIONS) {
      throw new RangeError(
        `Cannot open ${withoutPassword(base)}: max must be a whole number of connections from ` +
          `1 to ${MAX_CONNECTIONS}, got ${JSON.stringify(maxText)}`,
      );
    }
  }
  params.delete("schema");
  params.delete("max");
  const rest = params.toString();
  return { kind: "postgres", url: rest === "" ? base : `${base}?${rest}`, schema, max };
}

/**
 * The spec of the queue at `target`: a database file, `:memory:` or a
 * `file:` URI, or a `postgres://` / `postgresql://` URL.
 */
export function backendSpec(target: string, options: StorageOptions = {}): BackendSpec {
  if (isPostgresUrl(target)) return postgresSpec(target, options);
  return {
    kind: "sqlite",
    path: resolveDbPath(target),
    driver: options.driver ?? "node",
    synchronous: options.synchronous,
    busyTimeout: options.busyTimeout,
  };
}

/**
 * What a queue, worker or pool reports as its `.path`: the file's absolute
 * path, or the URL without its password, with its schema.
 */
export function backendLabel(spec: BackendSpec): string {
  if (spec.kind === "sqlite") return spec.path;
  const url = withoutPassword(spec.url);
  return `${url}${url.includes("?") ? "&" : "?"}schema=${spec.schema}`;
}

/** The target and options that give `spec` back through {@linkcode backendSpec} (a Web Worker's). */
export function specTarget(spec: BackendSpec): { target: string; options: StorageOptions } {
  if (spec.kind === "sqlite") {
    return {
      target: spec.path,
      options: {
        driver: spec.driver,
        synchronous: spec.synchronous,
        busyTimeout: spec.busyTimeout,
      },
    };
  }
  const params = `schema=${spec.schema}${spec.max === undefined ? "" : `&max=${spec.max}`}`;
  return { target: `${spec.url}${spec.url.includes("?") ? "&" : "?"}${params}`, options: {} };
}

/**
 * The PostgreSQL backend's module, imported by a name Deno cannot follow
 * before it runs: a literal `import("…")` is resolved with the program, and
 * would download the npm client for every SQLite user.
 */
const POSTGRES_BACKEND = new URL("./postgres/backend.ts", import.meta.url).href;

/**
 * Opens the backend a spec describes (in this isolate), creating what is
 * missing unless `mode` says not to (SQLite files only).
 */
export function openBackend(spec: BackendSpec, mode?: OpenMode): Backend {
  if (spec.kind === "sqlite") return new SqliteBackend(spec, mode);
  // readOnlyFallback is about a file in a read-only directory: a server has none.
  return new LoadedOnOpen(spec, async () => {
    let mod: typeof import("./postgres/backend.ts");
    try {
      mod = await import(POSTGRES_BACKEND);
    } catch (error) {
      throw new Error(
        `Cannot open ${backendLabel(spec)}: the PostgreSQL backend did not load (it needs the ` +
          `npm package postgres@3): ${(error as Error)?.message ?? error}`,
        { cause: error },
      );
    }
    return new mod.PostgresBackend(spec, backendLabel(spec), mode?.create !== false);
  });
}

/**
 * Frees, from a Web Worker's parent, what a terminated Web Worker's backend
 * left open — unless the Web Worker won `claim` (shared with
 * {@linkcode shareBackendTokenClose}) and closed it itself.
 */
export function releaseBackendToken(
  spec: BackendSpec,
  token: string,
  claim?: Int32Array<SharedArrayBuffer>,
): void {
  if (spec.kind === "sqlite") releaseSqliteToken(token, claim);
}

/**
 * In a Web Worker: whichever of it and its parent first claims `claim`
 * closes what `token` names; the other leaves it alone (never closed twice).
 */
export function shareBackendTokenClose(
  spec: BackendSpec,
  token: string,
  claim: Int32Array<SharedArrayBuffer>,
): void {
  if (spec.kind === "sqlite") shareSqliteTokenClose(token, claim);
}

/**
 * Closes every backend connection this isolate holds (a Web Worker, before
 * it ends); resolves once the network clients among them have closed too.
 */
export function closeAllBackends(): Promise<void> {
  closeConnections();
  return closing();
}

/**
 * A backend whose code is imported by its first `open()` (the constructors
 * of JobQueue, Worker and WorkerPool are synchronous; opening is not). Until
 * then it has nothing open: no watch, no token, no local-commit listener
 * (a worker subscribes once open), the storage "same".
 */
class LoadedOnOpen implements Backend {
  readonly spec: BackendSpec;
  #load: () => Promise<Backend>;
  #inner: Backend | undefined;
  #loading: Promise<Backend> | undefined;
  #closed = false;

  constructor(spec: BackendSpec, load: () => Promise<Backend>) {
    this.spec = spec;
    this.#load = load;
  }

  #get(): Promise<Backend> {
    if (this.#inner !== undefined) return Promise.resolve(this.#inner);
    return this.#loading ??= this.#load().then((backend) => {
      if (this.#closed) backend.close();
      this.#inner = backend;
      return backend;
    }, (error) => {
      this.#loading = undefined;
      throw error;
    });
  }

  /** Runs `op` on the backend once loaded, counted as in flight until it settles. */
  #run<T>(op: (backend: Backend) => Promise<T>): Promise<T> {
    return inFlight(this.#get().then(op));
  }

  get generation(): number {
    return this.#inner?.generation ?? 0;
  }

  get readOnly(): boolean {
    return this.#inner?.readOnly ?? false;
  }

  async open(p: { log?: (level: "info" | "warn", message: string) => void }): Promise<void> {
    await this.#run((b) => b.open(p));
  }

  async migration(p: { apply: boolean }): Promise<MigrationPlan> {
    return await this.#run((b) => b.migration(p));
  }

  async insertJobs(p: InsertParams): Promise<string[]> {
    return await this.#run((b) => b.insertJobs(p));
  }

  async insertJobsIn(p: InsertParams & { tx: unknown }): Promise<string[]> {
    return await this.#run((b) => {
      if (b.insertJobsIn === undefined) {
        throw new TypeError(
          `Cannot submit in an outside transaction on ${backendLabel(this.spec)}`,
        );
      }
      return b.insertJobsIn(p);
    });
  }

  async step(p: StepParams): Promise<Claimed[]> {
    return await this.#run((b) => b.step(p));
  }

  async renewLeases(p: RenewParams): Promise<void> {
    await this.#run((b) => b.renewLeases(p));
  }

  async registerWorker(p: WorkerRegistration): Promise<WorkerRecord | undefined> {
    return await this.#run((b) => b.registerWorker(p));
  }

  async workerStopped(p: { workerId: string; now: number }): Promise<void> {
    await this.#run((b) => b.workerStopped(p));
  }

  async overdue(p: { owner: string; now: number; graceMs: number }): Promise<boolean> {
    return await this.#run((b) => b.overdue(p));
  }

  async endAttempts(p: {
    owner: string;
    how: "died" | "terminated";
    message: string;
    now: number;
    graceMs: number;
  }): Promise<string[]> {
    return await this.#run((b) => b.endAttempts(p));
  }

  async transaction<T>(p: {
    now: number;
    fn: (tx: { connection: unknown; insertJobs: TxInsert }) => T;
  }): Promise<T> {
    return await this.#run((b) => b.transaction(p));
  }

  async cancel(p: { id: string; now: number }): Promise<boolean> {
    return await this.#run((b) => b.cancel(p));
  }

  async requeue(p: { id: string; now: number }): Promise<boolean> {
    return await this.#run((b) => b.requeue(p));
  }

  async cancelMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#run((b) => b.cancelMany(p));
  }

  async requeueMany(p: { filter: BulkFilter; now: number }): Promise<number> {
    return await this.#run((b) => b.requeueMany(p));
  }

  async runningOf(p: { owner: string }): Promise<{ seq: number; run: number }[]> {
    return await this.#run((b) => b.runningOf(p));
  }

  async cancelledRuns(p: { runs: readonly { seq: number; run: number }[] }): Promise<number[]> {
    return await this.#run((b) => b.cancelledRuns(p));
  }

  watchEnds(p: Parameters<Backend["watchEnds"]>[0]): () => void {
    return this.#inner?.watchEnds(p) ?? (() => {});
  }

  async clear(p: { before: number; now: number }): Promise<number> {
    return await this.#run((b) => b.clear(p));
  }

  async prune(p: PruneParams): Promise<PruneBatch> {
    return await this.#run((b) => b.prune(p));
  }

  async getJob(p: { id: string; now: number }): Promise<JobDetails | undefined> {
    return await this.#run((b) => b.getJob(p));
  }

  async listJobs(p: ListParams): Promise<JobInfo[]> {
    return await this.#run((b) => b.listJobs(p));
  }

  async countJobs(p: CountParams): Promise<JobCount> {
    return await this.#run((b) => b.countJobs(p));
  }

  async workers(p: { stopped: boolean; now: number }): Promise<WorkerInfo[]> {
    return await this.#run((b) => b.workers(p));
  }

  async activity(
    p: { since: number; minutes: number; queue: string | undefined; now: number },
  ): Promise<ActivityRow[]> {
    return await this.#run((b) => b.activity(p));
  }

  async stats(p: { queue: string | undefined; now: number }): Promise<QueueStats> {
    return await this.#run((b) => b.stats(p));
  }

  async queueList(p: { now: number }): Promise<QueueInfo[]> {
    return await this.#run((b) => b.queueList(p));
  }

  async setProgress(
    p: { rows: readonly { seq: number; run: number; progress: string }[] },
  ): Promise<void> {
    await this.#run((b) => b.setProgress(p));
  }

  async configureQueue(
    p: { queue: string; config: QueueConfig; now: number },
  ): Promise<QueueSettings> {
    return await this.#run((b) => b.configureQueue(p));
  }

  async limitState(p: { queue: string; key: string | null; now: number }): Promise<LimitState> {
    return await this.#run((b) => b.limitState(p));
  }

  async isPaused(p: { queue: string }): Promise<boolean> {
    return await this.#run((b) => b.isPaused(p));
  }

  async setPaused(p: { queue: string; paused: boolean; now: number }): Promise<void> {
    await this.#run((b) => b.setPaused(p));
  }

  async workerFacts(
    p: { workerId?: string; liveSince: number; now: number },
  ): Promise<WorkerFacts> {
    return await this.#run((b) => b.workerFacts(p));
  }

  async backup(p: { dest: string; now: number }): Promise<void> {
    await this.#run((b) => b.backup(p));
  }

  async exportQueue(p: { now: number }): Promise<QueueDump> {
    return await this.#run((b) => b.exportQueue(p));
  }

  async importQueue(p: { dump: QueueDump; force: boolean; now: number }): Promise<void> {
    await this.#run((b) => b.importQueue(p));
  }

  async listSchedules(p: { tasks?: readonly string[]; now: number }): Promise<ScheduleRecord[]> {
    return await this.#run((b) => b.listSchedules(p));
  }

  async saveSchedule(p: {
    name: string;
    merge: (stored: ScheduleRecord | undefined) => ScheduleRecord;
    now: number;
  }): Promise<ScheduleRecord> {
    return await this.#run((b) => b.saveSchedule(p));
  }

  async deleteSchedule(p: { name: string; now: number }): Promise<boolean> {
    return await this.#run((b) => b.deleteSchedule(p));
  }

  async fireSchedule(p: ScheduleFire): Promise<string[] | undefined> {
    return await this.#run((b) => b.fireSchedule(p));
  }

  async scheduleRunOf(p: { jobId: string }): Promise<ScheduleRunRecord | undefined> {
    return await this.#run((b) => b.scheduleRunOf(p));
  }

  async nextWake(p: { now: number }): Promise<number | undefined> {
    return await this.#run((b) => b.nextWake(p));
  }

  watch(p: Parameters<Backend["watch"]>[0]): () => void {
    return this.#inner?.watch(p) ?? (() => {});
  }

  onLocalCommit(listener: () => void): () => void {
    return this.#inner?.onLocalCommit(listener) ?? (() => {});
  }

  notifyLocalCommit(): void {
    this.#inner?.notifyLocalCommit();
  }

  storageState(): StorageState {
    return this.#inner?.storageState() ?? "same";
  }

  reopen(): void {
    this.#inner?.reopen();
  }

  releaseToken(): string | undefined {
    return this.#inner?.releaseToken();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inner?.close();
  }

  // ---- The key-value table (see Backend) ----
  async kvGet(p: { key: string }): Promise<KvRow | undefined> {
    return await this.#run((b) => b.kvGet(p));
  }

  async kvList(p: { prefix: string; limit: number }): Promise<KvRow[]> {
    return await this.#run((b) => b.kvList(p));
  }

  async kvSet(p: { entries: readonly KvEntry[]; now: number }): Promise<void> {
    return await this.#run((b) => b.kvSet(p));
  }

  async kvDelete(p: { key: string }): Promise<boolean> {
    return await this.#run((b) => b.kvDelete(p));
  }
}
