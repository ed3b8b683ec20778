import { backup, DatabaseSync, type StatementSync } from "node:sqlite";
import {
  applyPragmas,
  checkOpenOptions,
  type Connection,
  type OpenOptions,
  type RunResult,
  SqliteError,
  type SqlRow,
  type SqlValue,
  type Statement,
} from "./connection.ts";
import { explainOpenError } from "./_file_errors.ts";
import { runTransaction, type TransactionStatements } from "./_transaction.ts";

/** Turns whatever node:sqlite threw into a {@linkcode SqliteError}. */
function wrap(error: unknown, context: string): unknown {
  if (error instanceof SqliteError || !(error instanceof Error)) return error;
  const e = error as Error & { errcode?: number; code?: string };
  if (typeof e.errcode === "number") {
    return new SqliteError(`${context}: ${e.message}`, e.errcode, { cause: error });
  }
  if (e.code === "ERR_SQLITE_ERROR") {
    // node:sqlite omits the code for errors raised outside a prepared statement
    // (and by its backup()).
    const codes: [RegExp, number][] = [
      [/locked|busy/i, 5],
      [/readonly/i, 8],
      [/disk is full/i, 13],
      [/unable to open/i, 14],
      [/not a database/i, 26],
    ];
    const code = codes.find(([re]) => re.test(e.message))?.[1] ?? 1;
    return new SqliteError(`${context}: ${e.message}`, code, { cause: error });
  }
  return error;
}

class NodeStatement implements Statement {
  #objects: StatementSync;
  #arrays: StatementSync | undefined;
  #db: DatabaseSync;
  #sql: string;

  constructor(db: DatabaseSync, sql: string) {
    this.#db = db;
    this.#sql = sql;
    try {
      this.#objects = db.prepare(sql);
    } catch (error) {
      throw wrap(error, `Cannot prepare ${JSON.stringify(sql.slice(0, 80))}`);
    }
  }

  run(...params: SqlValue[]): RunResult {
    try {
      const r = this.#objects.run(...params);
      return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
    } catch (error) {
      throw wrap(error, "SQLite");
    }
  }

  get(...params: SqlValue[]): SqlRow | undefined {
    try {
      return this.#objects.get(...params) as SqlRow | undefined;
    } catch (error) {
      throw wrap(error, "SQLite");
    }
  }

  all(...params: SqlValue[]): SqlRow[] {
    try {
      return this.#objects.all(...params) as SqlRow[];
    } catch (error) {
      throw wrap(error, "SQLite");
    }
  }

  values(...params: SqlValue[]): SqlValue[][] {
    try {
      if (this.#arrays === undefined) {
        this.#arrays = this.#db.prepare(this.#sql);
        // Present at run time; missing from the bundled type declarations.
        (this.#arrays as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      }
      return this.#arrays.all(...params) as unknown as SqlValue[][];
    } catch (error) {
      throw wrap(error, "SQLite");
    }
  }
}

/**
 * A connection through Deno's built-in `node:sqlite`. Needs only
 * `--allow-read` and `--allow-write` for the database file.
 */
export class NodeConnection implements Connection {
  readonly path: string;
  readonly driver = "node" as const;
  readonly sqliteVersion: string;
  #db: DatabaseSync | undefined;
  #cache = new Map<string, NodeStatement>();
  #tx: TransactionStatements;
  #inTransaction = false;

  /**
   * Opens `path` and applies GigQ's pragmas.
   *
   * @param path a file path or `":memory:"`
   * @param options pragmas to apply
   */
  constructor(path: string, options: OpenOptions = {}) {
    checkOpenOptions(options);
    this.path = path;
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
    } catch (error) {
      throw explainOpenError(path, wrap(error, `Cannot open ${JSON.stringify(path)}`));
    }
    this.#db = db;
    try {
      applyPragmas(this, options);
      this.sqliteVersion = String(this.prepare("SELECT sqlite_version()").values()[0][0]);
      this.#tx = {
        beginWrite: this.prepare("BEGIN IMMEDIATE"),
        beginRead: this.prepare("BEGIN"),
        commit: this.prepare("COMMIT"),
        rollback: this.prepare("ROLLBACK"),
      };
    } catch (error) {
      this.close();
      throw explainOpenError(
        path,
        error instanceof SqliteError && !error.message.includes(path)
          ? new SqliteError(`Cannot open ${JSON.stringify(path)}: ${error.message}`, error.code, {
            cause: error,
          })
          : error,
      );
    }
  }

  get isOpen(): boolean {
    return this.#db !== undefined;
  }

  get inTransaction(): boolean {
    return this.#inTransaction;
  }

  #open(): DatabaseSync {
    if (this.#db === undefined) {
      throw new SqliteError(
        `Cannot use ${JSON.stringify(this.path)}: the connection is closed`,
        21,
      );
    }
    return this.#db;
  }

  exec(sql: string): void {
    try {
      this.#open().exec(sql);
    } catch (error) {
      throw wrap(error, "SQLite");
    }
  }

  prepare(sql: string): Statement {
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      stmt = new NodeStatement(this.#open(), sql);
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  transaction<T>(fn: () => T, mode: "write" | "read" = "write"): T {
    if (this.#inTransaction) {
      throw new Error("Cannot begin a transaction: one is already open on this connection");
    }
    this.#open();
    this.#inTransaction = true;
    try {
      return runTransaction(this.#tx, mode, fn);
    } finally {
      this.#inTransaction = false;
    }
  }

  async backupTo(path: string): Promise<void> {
    const db = this.#open();
    try {
      // rate -1: every page in one step, so one read transaction, never
      // restarted by another connection's write.
      await backup(db, path, { rate: -1 });
    } catch (error) {
      throw wrap(error, `Cannot back up ${JSON.stringify(this.path)} to ${JSON.stringify(path)}`);
    }
  }

  close(): void {
    const db = this.#db;
    if (db === undefined) return;
    this.#db = undefined;
    this.#cache.clear();
    db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
