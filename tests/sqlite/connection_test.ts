import assert from "node:assert/strict";
import {
  type Connection,
  type DriverName,
  SqliteError,
  WAL_SIZE_LIMIT,
} from "../../src/sqlite/connection.ts";
import { openConnection } from "../../src/sqlite/open.ts";
import { drivers, tempDb } from "../_helpers.ts";

async function withConn(
  driver: DriverName,
  fn: (conn: Connection, path: string) => void | Promise<void>,
): Promise<void> {
  const db = await tempDb();
  const conn = openConnection(db.path, driver);
  try {
    await fn(conn, db.path);
  } finally {
    conn.close();
    await db.cleanup();
  }
}

for (const driver of drivers) {
  const t = (name: string, fn: (conn: Connection, path: string) => void | Promise<void>) =>
    Deno.test(`[${driver}] ${name}`, () => withConn(driver, fn));

  t("applies WAL, synchronous=NORMAL, foreign_keys and busy_timeout at open", (conn) => {
    assert.equal(conn.driver, driver);
    assert.equal(conn.prepare("PRAGMA journal_mode").get()?.journal_mode, "wal");
    assert.equal(conn.prepare("PRAGMA synchronous").get()?.synchronous, 1);
    assert.equal(conn.prepare("PRAGMA foreign_keys").get()?.foreign_keys, 1);
    assert.equal(conn.prepare("PRAGMA busy_timeout").get()?.timeout, 25);
    assert.match(conn.sqliteVersion, /^3\.\d+\.\d+$/);
  });

  t("a WAL that grew past WAL_SIZE_LIMIT shrinks back when it restarts", (conn, path) => {
    assert.equal(
      conn.prepare("PRAGMA journal_size_limit").get()?.journal_size_limit,
      WAL_SIZE_LIMIT,
    );
    const walSize = () => Deno.statSync(`${path}-wal`).size;
    conn.prepare("PRAGMA wal_autocheckpoint = 0").values(); // let the WAL grow, as under load
    conn.prepare("CREATE TABLE blobs (b BLOB)").run();
    const mib = new Uint8Array(1 << 20).fill(7);
    const insert = conn.prepare("INSERT INTO blobs (b) VALUES (?)");
    const chunks = WAL_SIZE_LIMIT / (1 << 20) + 8;
    for (let i = 0; i < chunks; i++) conn.transaction(() => insert.run(mib));
    assert.ok(walSize() > WAL_SIZE_LIMIT, `the WAL grew to ${walSize()} bytes`);
    // Every frame copied back, no reader: the next write restarts the WAL.
    conn.prepare("PRAGMA wal_checkpoint(PASSIVE)").values();
    conn.transaction(() => conn.prepare("DELETE FROM blobs WHERE rowid = 1").run());
    assert.ok(walSize() <= WAL_SIZE_LIMIT, `the WAL is still ${walSize()} bytes`);
  });

  Deno.test(`[${driver}] synchronous FULL and busyTimeout are options`, async () => {
    const db = await tempDb();
    const conn = openConnection(db.path, driver, { synchronous: "FULL", busyTimeout: 250 });
    try {
      assert.equal(conn.prepare("PRAGMA synchronous").get()?.synchronous, 2);
      assert.equal(conn.prepare("PRAGMA busy_timeout").get()?.timeout, 250);
    } finally {
      conn.close();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] bad open options are refused with the value named`, async () => {
    const db = await tempDb();
    try {
      assert.throws(
        () => openConnection(db.path, driver, { busyTimeout: -1 }),
        (e: Error) => e instanceof RangeError && e.message.includes("-1"),
      );
      assert.throws(
        // deno-lint-ignore no-explicit-any
        () => openConnection(db.path, driver, { synchronous: "OFF" as any }),
        (e: Error) => e instanceof RangeError && e.message.includes('"OFF"'),
      );
    } finally {
      await db.cleanup();
    }
  });

  t("prepares each statement once and reuses it", (conn) => {
    const a = conn.prepare("SELECT 1 AS x");
    assert.equal(conn.prepare("SELECT 1 AS x"), a);
    assert.notEqual(conn.prepare("SELECT 2 AS x"), a);
  });

  t("round-trips integers, reals, text, blobs, null and bigints", (conn) => {
    conn.exec("CREATE TABLE v (i INTEGER, r REAL, t TEXT, b BLOB, n TEXT, big INTEGER)");
    const ins = conn.prepare("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)");
    const r = ins.run(42, 2.5, "héllo ✓ 日本", new Uint8Array([0, 1, 255]), null, 2n ** 40n);
    assert.equal(r.changes, 1);
    assert.equal(r.lastInsertRowid, 1);
    const row = conn.prepare("SELECT * FROM v").get()!;
    assert.equal(row.i, 42);
    assert.equal(row.r, 2.5);
    assert.equal(row.t, "héllo ✓ 日本");
    assert.deepEqual([...(row.b as Uint8Array)], [0, 1, 255]);
    assert.equal(row.n, null);
    assert.equal(Number(row.big), 2 ** 40);
    assert.equal(conn.prepare("SELECT typeof(i) AS t FROM v").get()?.t, "integer");
    assert.deepEqual(conn.prepare("SELECT i, t FROM v").values(), [[42, "héllo ✓ 日本"]]);
    assert.equal(conn.prepare("SELECT * FROM v WHERE i = ?").get(7), undefined);
    assert.equal(conn.prepare("SELECT ? AS e").get("")?.e, "");
  });

  t("all() returns every row in order and run() counts changes", (conn) => {
    conn.exec("CREATE TABLE n (x INTEGER)");
    for (let i = 0; i < 5; i++) conn.prepare("INSERT INTO n VALUES (?)").run(i);
    assert.deepEqual(conn.prepare("SELECT x FROM n ORDER BY x").all().map((r) => r.x), [
      0,
      1,
      2,
      3,
      4,
    ]);
    assert.equal(conn.prepare("UPDATE n SET x = x + 1 WHERE x >= ?").run(2).changes, 3);
    assert.deepEqual(
      conn.prepare("UPDATE n SET x = x * 10 WHERE x > ? RETURNING x").values(3),
      [[40], [50]],
    );
  });

  t("a transaction commits, and rolls back when its function throws", (conn) => {
    conn.exec("CREATE TABLE t (x INTEGER)");
    const ins = conn.prepare("INSERT INTO t VALUES (?)");
    assert.equal(conn.transaction(() => (ins.run(1), "done")), "done");
    assert.throws(() =>
      conn.transaction(() => {
        ins.run(2);
        assert.equal(conn.inTransaction, true);
        throw new Error("boom");
      }), /boom/);
    assert.equal(conn.inTransaction, false);
    assert.deepEqual(conn.prepare("SELECT x FROM t").values(), [[1]]);
  });

  t("a transaction refuses an async function and rolls it back", (conn) => {
    conn.exec("CREATE TABLE t (x INTEGER)");
    assert.throws(
      () =>
        conn.transaction(() => {
          conn.prepare("INSERT INTO t VALUES (1)").run();
          return Promise.resolve(1);
        }),
      (e: Error) => e instanceof TypeError && /async/.test(e.message),
    );
    assert.deepEqual(conn.prepare("SELECT count(*) FROM t").values(), [[0]]);
  });

  t("nested transactions are refused", (conn) => {
    assert.throws(() => conn.transaction(() => conn.transaction(() => 1)), /already open/);
  });

  t("SQL errors are SqliteError with SQLite's code", (conn) => {
    assert.throws(() => conn.prepare("SELEC 1"), (e: Error) => {
      return e instanceof SqliteError && (e.code & 0xff) === 1 && e.busy === false;
    });
    conn.exec("CREATE TABLE u (x TEXT UNIQUE)");
    conn.prepare("INSERT INTO u VALUES ('a')").run();
    assert.throws(
      () => conn.prepare("INSERT INTO u VALUES ('a')").run(),
      (e: Error) => e instanceof SqliteError && (e.code & 0xff) === 19 && /UNIQUE/.test(e.message),
    );
  });

  t("a write lock held by another connection is reported as busy", (conn, path) => {
    const other = openConnection(path, driver, { busyTimeout: 0 });
    try {
      conn.exec("CREATE TABLE t (x INTEGER)");
      conn.transaction(() => {
        assert.throws(
          () => other.transaction(() => other.prepare("INSERT INTO t VALUES (1)").run()),
          (e: Error) => e instanceof SqliteError && e.busy,
        );
        assert.equal(other.inTransaction, false);
        // Readers are not blocked in WAL mode.
        assert.deepEqual(other.prepare("SELECT count(*) FROM t").values(), [[0]]);
      });
      other.transaction(() => other.prepare("INSERT INTO t VALUES (1)").run());
      assert.deepEqual(conn.prepare("SELECT count(*) FROM t").values(), [[1]]);
    } finally {
      other.close();
    }
  });

  t("close is idempotent and use after close is a clear error", (conn) => {
    const stmt = conn.prepare("SELECT 1");
    conn.close();
    conn.close();
    assert.equal(conn.isOpen, false);
    assert.throws(() => conn.prepare("SELECT 2"), (e: Error) => e instanceof SqliteError);
    assert.throws(() => stmt.get());
  });

  Deno.test(`[${driver}] opening a directory, a missing directory or a non-SQLite file fails clearly`, async () => {
    const db = await tempDb();
    try {
      assert.throws(
        () => openConnection(db.dir, driver),
        (e: Error) => e instanceof SqliteError && e.message.includes(db.dir),
      );
      const missing = `${db.dir}/nope/x.db`;
      assert.throws(
        () => openConnection(missing, driver),
        (e: Error) => e instanceof SqliteError && e.message.includes(missing),
      );
      const text = `${db.dir}/text.db`;
      await Deno.writeTextFile(text, "this is not a database, just some text\n".repeat(50));
      assert.throws(
        () => openConnection(text, driver),
        (e: Error) =>
          e instanceof SqliteError && /not a database/.test(e.message) && e.message.includes(text),
      );
      assert.equal(
        await Deno.readTextFile(text),
        "this is not a database, just some text\n".repeat(50),
      );
    } finally {
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] two connections on one file see each other's commits`, async () => {
    const db = await tempDb();
    const a = openConnection(db.path, driver);
    const b = openConnection(db.path, driver);
    try {
      a.exec("CREATE TABLE t (x INTEGER)");
      for (let i = 0; i < 100; i++) {
        (i % 2 ? a : b).transaction(() =>
          (i % 2 ? a : b).prepare("INSERT INTO t VALUES (?)").run(i)
        );
      }
      assert.deepEqual(a.prepare("SELECT count(*), sum(x) FROM t").values(), [[100, 4950]]);
      assert.deepEqual(b.prepare("SELECT count(*), sum(x) FROM t").values(), [[100, 4950]]);
    } finally {
      a.close();
      b.close();
      await db.cleanup();
    }
  });
}
