/**
 * Explicit schema migrations (`gigq migrate`). Every queue migrates itself
 * when it opens; this is for deployments that apply schema changes as their
 * own step, or review them first.
 *
 * @module
 */
import { backendLabel, backendSpec, type DriverName, openBackend } from "./_open_backend.ts";
import { NoQueueError } from "./errors.ts";
import { knownKeys } from "./_validate.ts";
import { describe } from "./job_status.ts";

/** Options for {@linkcode migrate}. */
export interface MigrateOptions {
  /**
   * Only report what would run (the statements in `sql`), creating and
   * changing nothing — not even a missing file or schema.
   *
   * @default {false}
   */
  dryRun?: boolean;
  /**
   * The SQLite driver (SQLite files only).
   *
   * @default {"node"}
   */
  driver?: DriverName;
}

/** What {@linkcode migrate} found and did. */
export interface MigrationReport {
  /** The database, as messages name it (a URL without its password). */
  database: string;
  /** The schema version found (0: no queue there yet). */
  from: number;
  /** This GigQ's schema version (the same numbers on SQLite and PostgreSQL). */
  to: number;
  /** The statements between them, as they run (empty when the queue is current). */
  sql: string;
  /** Whether they were run (false with `dryRun`, or when there was nothing to do). */
  applied: boolean;
}

/**
 * Brings the queue at `db` (a SQLite file or a `postgres://` URL) up to this
 * GigQ's schema, creating it where there is none, exactly as opening a
 * queue does — under the same lock, so it is safe while workers start —
 * and reports the versions and statements. With `dryRun`, only reports.
 * A queue written by a newer GigQ is refused with a `SchemaError`.
 *
 * @example Review, then apply
 * ```ts ignore
 * import { migrate } from "@gigq/gigq";
 *
 * const plan = await migrate("postgres://app@db/app?schema=jobs", { dryRun: true });
 * console.log(`version ${plan.from} → ${plan.to}\n${plan.sql}`);
 * await migrate("postgres://app@db/app?schema=jobs");
 * ```
 *
 * @param db the database file, or a PostgreSQL URL
 * @param options `dryRun`, and the SQLite driver
 */
export async function migrate(db: string, options: MigrateOptions = {}): Promise<MigrationReport> {
  const context = "Cannot migrate";
  if (typeof db !== "string" || db === "") {
    throw new TypeError(`${context}: db must be a non-empty string, got ${describe(db)}`);
  }
  knownKeys(context, options ?? {}, ["dryRun", "driver"]);
  if (options.dryRun !== undefined && typeof options.dryRun !== "boolean") {
    throw new TypeError(`${context}: dryRun must be a boolean, got ${describe(options.dryRun)}`);
  }
  const dryRun = options.dryRun === true;
  const spec = backendSpec(db, options.driver === undefined ? {} : { driver: options.driver });
  const database = backendLabel(spec);
  let backend;
  try {
    backend = openBackend(spec, dryRun ? { create: false, readOnlyFallback: false } : undefined);
  } catch (error) {
    if (!(dryRun && error instanceof NoQueueError)) throw error;
    // Nothing there (or a file without GigQ's tables): everything would run.
    const fresh = await freshSqlitePlan();
    return { database, from: 0, to: fresh.to, sql: fresh.sql, applied: false };
  }
  try {
    const plan = await backend.migration({ apply: !dryRun });
    return { database, ...plan, applied: !dryRun && plan.from !== plan.to };
  } finally {
    backend.close();
  }
}

/** The plan for a new SQLite queue, read from an in-memory database (nothing on disk). */
async function freshSqlitePlan(): Promise<{ to: number; sql: string }> {
  const backend = openBackend(backendSpec(":memory:"));
  try {
    return await backend.migration({ apply: false });
  } finally {
    backend.close();
  }
}
