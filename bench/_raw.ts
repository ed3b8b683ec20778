/**
 * The practical limit: the same work as the queue, written as plain SQLite
 * loops with no queue code around them, on the same SQLite library as each
 * driver (Deno's `node:sqlite` for `node`, the system library through
 * `Deno.dlopen` for `ffi`).
 *
 * The table keeps the essentials of the queue's: an integer key, a unique
 * text id (a time-ordered UUID, as the queue makes), task, params, priority,
 * status, attempts, times, worker and result, plus one partial index that
 * serves the claim in priority-then-age order. WAL, synchronous=NORMAL.
 * Every statement is prepared once; the claim's LIMIT is written into the SQL
 * (a bound LIMIT makes SQLite 3.53's planner re-prepare the statement on
 * every run), so the limit is as fast as we know how to make it.
 *
 * The lean loops (`rawLeanInsertOne`, `rawLeanInsertBatch`) are what a user
 * who writes a queue by hand compares us with: a table with an integer key,
 * a status, a priority and a JSON text of the job, and one index on
 * (status, priority, id); nothing else.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { uuidv7 } from "../src/_uuid.ts";

/** What every raw connection sets (the schemas below start with it). */
const PRAGMAS = `
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  PRAGMA busy_timeout = 5000;
`;

const SCHEMA = `${PRAGMAS}
  CREATE TABLE jobs (
    seq          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    task         TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_at       INTEGER NOT NULL,
    worker_id    TEXT,
    result       TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER
  );
  CREATE INDEX jobs_ready ON jobs (priority DESC, run_at, seq) WHERE status = 'pending';
`;

const INSERT = `INSERT INTO jobs (id, task, params, priority, status, run_at, created_at)
  VALUES (?, 'noop', '{}', 0, 'pending', ?, ?)`;
const claimSql = (limit: number) =>
  `UPDATE jobs SET status = 'running', attempts = attempts + 1, worker_id = ?, started_at = ?
  WHERE seq IN (SELECT seq FROM jobs WHERE status = 'pending'
    ORDER BY priority DESC, run_at, seq LIMIT ${limit})
  RETURNING seq, id, task, params`;
const COMPLETE = `UPDATE jobs SET status = 'completed', result = 'null', completed_at = ?
  WHERE seq = ? AND status = 'running'`;

/** The lean table: an integer key, a status, a priority, a JSON text; one index. */
const LEAN_SCHEMA = `${PRAGMAS}
  CREATE TABLE jobs (
    id       INTEGER PRIMARY KEY,
    status   TEXT    NOT NULL,
    priority INTEGER NOT NULL,
    data     TEXT    NOT NULL
  );
  CREATE INDEX jobs_status ON jobs (status, priority, id);
`;
const LEAN_INSERT = `INSERT INTO jobs (status, priority, data) VALUES ('pending', 0, ?)`;
/** The JSON text a hand-written queue would store for one of the benchmark's no-op jobs. */
const leanData = () => JSON.stringify({ task: "noop", params: {} });

/** A claimed row: seq, id, task, params. */
type Row = [number, string, string, string];

/** The few operations the raw loops need, on one open database. */
interface RawDb {
  exec(sql: string): void;
  /** Runs a prepared statement for its effect. */
  run(sql: string, ...params: (number | string)[]): void;
  /** Runs a prepared statement and returns its rows (4 columns). */
  rows(sql: string, ...params: (number | string)[]): Row[];
  close(): void;
}

class NodeRaw implements RawDb {
  #db: DatabaseSync;
  #stmts = new Map<string, ReturnType<DatabaseSync["prepare"]>>();
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
  }
  #stmt(sql: string) {
    let s = this.#stmts.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      (s as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
      this.#stmts.set(sql, s);
    }
    return s;
  }
  exec(sql: string): void {
    this.#db.exec(sql);
  }
  run(sql: string, ...params: SQLInputValue[]): void {
    this.#stmt(sql).run(...params);
  }
  rows(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#stmt(sql).all(...params) as unknown as Row[];
  }
  close(): void {
    this.#db.close();
  }
}

const SYMBOLS = {
  sqlite3_open_v2: { parameters: ["buffer", "buffer", "i32", "pointer"], result: "i32" },
  sqlite3_close_v2: { parameters: ["pointer"], result: "i32" },
  sqlite3_exec: {
    parameters: ["pointer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  sqlite3_errmsg: { parameters: ["pointer"], result: "pointer" },
  sqlite3_prepare_v2: {
    parameters: ["pointer", "buffer", "i32", "buffer", "pointer"],
    result: "i32",
  },
  sqlite3_step: { parameters: ["pointer"], result: "i32" },
  sqlite3_reset: { parameters: ["pointer"], result: "i32" },
  sqlite3_finalize: { parameters: ["pointer"], result: "i32" },
  sqlite3_bind_int: { parameters: ["pointer", "i32", "i32"], result: "i32" },
  sqlite3_bind_double: { parameters: ["pointer", "i32", "f64"], result: "i32" },
  sqlite3_bind_text: { parameters: ["pointer", "i32", "buffer", "i32", "isize"], result: "i32" },
  sqlite3_column_int: { parameters: ["pointer", "i32"], result: "i32" },
  sqlite3_column_text: { parameters: ["pointer", "i32"], result: "pointer" },
  sqlite3_libversion: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

let ffi: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | undefined;

function ffiLib() {
  if (ffi !== undefined) return ffi;
  const name = Deno.build.os === "darwin"
    ? "libsqlite3.dylib"
    : Deno.build.os === "windows"
    ? "sqlite3.dll"
    : "libsqlite3.so.0";
  ffi = Deno.dlopen(name, SYMBOLS).symbols;
  return ffi;
}

const encoder = new TextEncoder();

class FfiRaw implements RawDb {
  #db: Deno.PointerValue;
  #stmts = new Map<string, Deno.PointerValue>();
  #out = new BigUint64Array(1);
  #text = new Uint8Array(256);
  constructor(path: string) {
    const s = ffiLib();
    const flags = 0x2 | 0x4; // READWRITE | CREATE
    if (s.sqlite3_open_v2(encoder.encode(path + "\0"), this.#out, flags, null) !== 0) {
      throw new Error(`cannot open ${path}`);
    }
    this.#db = Deno.UnsafePointer.create(this.#out[0]);
  }
  #check(rc: number, what: string): void {
    if (rc !== 0 && rc !== 100 && rc !== 101) {
      const p = ffiLib().sqlite3_errmsg(this.#db);
      throw new Error(`${what}: ${p === null ? rc : Deno.UnsafePointerView.getCString(p)}`);
    }
  }
  #stmt(sql: string, params: (number | string)[]): Deno.PointerValue {
    const s = ffiLib();
    let st = this.#stmts.get(sql);
    if (st === undefined) {
      const bytes = encoder.encode(sql);
      this.#check(s.sqlite3_prepare_v2(this.#db, bytes, bytes.length, this.#out, null), sql);
      st = Deno.UnsafePointer.create(this.#out[0]);
      this.#stmts.set(sql, st);
    }
    for (let i = 0; i < params.length; i++) {
      const v = params[i];
      if (typeof v === "string") {
        const { written } = encoder.encodeInto(v, this.#text);
        s.sqlite3_bind_text(st, i + 1, this.#text, written, -1n);
      } else if ((v | 0) === v) {
        s.sqlite3_bind_int(st, i + 1, v);
      } else {
        s.sqlite3_bind_double(st, i + 1, v); // epoch ms, as node:sqlite binds every number
      }
    }
    return st;
  }
  exec(sql: string): void {
    this.#check(ffiLib().sqlite3_exec(this.#db, encoder.encode(sql + "\0"), null, null, null), sql);
  }
  run(sql: string, ...params: (number | string)[]): void {
    const s = ffiLib();
    const st = this.#stmt(sql, params);
    let rc = s.sqlite3_step(st);
    while (rc === 100) rc = s.sqlite3_step(st);
    s.sqlite3_reset(st);
    this.#check(rc, sql);
  }
  rows(sql: string, ...params: (number | string)[]): Row[] {
    const s = ffiLib();
    const st = this.#stmt(sql, params);
    const out: Row[] = [];
    const text = (i: number) => Deno.UnsafePointerView.getCString(s.sqlite3_column_text(st, i)!);
    let rc = s.sqlite3_step(st);
    while (rc === 100) {
      out.push([s.sqlite3_column_int(st, 0), text(1), text(2), text(3)]);
      rc = s.sqlite3_step(st);
    }
    s.sqlite3_reset(st);
    this.#check(rc, sql);
    return out;
  }
  close(): void {
    const s = ffiLib();
    for (const st of this.#stmts.values()) s.sqlite3_finalize(st);
    s.sqlite3_close_v2(this.#db);
  }
}

/** The SQLite version the raw `ffi` loops use (the system library). */
export function ffiSqliteVersion(): string {
  return Deno.UnsafePointerView.getCString(ffiLib().sqlite3_libversion()!);
}

function open(path: string, driver: "node" | "ffi", schema = SCHEMA): RawDb {
  const db = driver === "node" ? new NodeRaw(path) : new FfiRaw(path);
  db.exec(schema);
  return db;
}

/** Seconds taken by `fn`. */
function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
}

function fill(db: RawDb, n: number): void {
  const now = Date.now();
  db.exec("BEGIN IMMEDIATE");
  for (let i = 0; i < n; i++) db.run(INSERT, uuidv7(now), now, now);
  db.exec("COMMIT");
}

/** Inserts `n` jobs, one transaction each. Returns seconds. */
export function rawInsertOne(path: string, driver: "node" | "ffi", n: number): number {
  const db = open(path, driver);
  try {
    return time(() => {
      for (let i = 0; i < n; i++) {
        const now = Date.now();
        db.exec("BEGIN IMMEDIATE");
        db.run(INSERT, uuidv7(now), now, now);
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
  }
}

/** Inserts `n` jobs, `batch` per transaction. Returns seconds. */
export function rawInsertBatch(
  path: string,
  driver: "node" | "ffi",
  n: number,
  batch: number,
): number {
  const db = open(path, driver);
  try {
    return time(() => {
      for (let done = 0; done < n; done += batch) {
        const now = Date.now();
        db.exec("BEGIN IMMEDIATE");
        for (let i = 0; i < batch; i++) db.run(INSERT, uuidv7(now), now, now);
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
  }
}

/** Inserts `n` jobs into the lean table, one transaction each. Returns seconds. */
export function rawLeanInsertOne(path: string, driver: "node" | "ffi", n: number): number {
  const db = open(path, driver, LEAN_SCHEMA);
  try {
    return time(() => {
      for (let i = 0; i < n; i++) {
        db.exec("BEGIN IMMEDIATE");
        db.run(LEAN_INSERT, leanData());
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
  }
}

/** Inserts `n` jobs into the lean table, `batch` per transaction. Returns seconds. */
export function rawLeanInsertBatch(
  path: string,
  driver: "node" | "ffi",
  n: number,
  batch: number,
): number {
  const db = open(path, driver, LEAN_SCHEMA);
  try {
    return time(() => {
      for (let done = 0; done < n; done += batch) {
        db.exec("BEGIN IMMEDIATE");
        for (let i = 0; i < batch; i++) db.run(LEAN_INSERT, leanData());
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
  }
}

/**
 * Processes `n` pending jobs: claim one in a transaction, complete it in a
 * second one. Returns seconds (the jobs are inserted before the clock starts).
 */
export function rawClaimOne(path: string, driver: "node" | "ffi", n: number): number {
  const db = open(path, driver);
  try {
    fill(db, n);
    const claim = claimSql(1);
    return time(() => {
      for (;;) {
        db.exec("BEGIN IMMEDIATE");
        const rows = db.rows(claim, "raw-worker", Date.now());
        db.exec("COMMIT");
        if (rows.length === 0) break;
        db.exec("BEGIN IMMEDIATE");
        db.run(COMPLETE, Date.now(), rows[0][0]);
        db.exec("COMMIT");
      }
    });
  } finally {
    db.close();
  }
}

/**
 * Processes `n` pending jobs `batch` at a time: each transaction completes the
 * previous batch and claims the next. With `connections` > 1, that many
 * connections to the file take turns in one thread, each with its own
 * batch: the cost of SQLite dropping a connection's page cache whenever
 * another one wrote, with no lock ever waited for. Returns seconds.
 */
export function rawClaimBatch(
  path: string,
  driver: "node" | "ffi",
  n: number,
  batch: number,
  connections = 1,
): number {
  const dbs = [open(path, driver)];
  try {
    fill(dbs[0], n);
    // More connections take turns, one transaction each, as a pool's threads do.
    while (dbs.length < connections) dbs.push(open(path, driver, PRAGMAS));
    const claim = claimSql(batch);
    return time(() => {
      const held: Row[][] = dbs.map(() => []);
      for (let turn = 0;; turn++) {
        const i = turn % dbs.length;
        const db = dbs[i];
        const now = Date.now();
        db.exec("BEGIN IMMEDIATE");
        for (const row of held[i]) db.run(COMPLETE, now, row[0]);
        held[i] = db.rows(claim, "raw-worker", now);
        db.exec("COMMIT");
        if (held.every((h) => h.length === 0)) break;
      }
    });
  } finally {
    for (const db of dbs) db.close();
  }
}
