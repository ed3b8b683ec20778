import assert from "node:assert/strict";
import { closeConnections, getConnection, JobQueue, SqliteError, task } from "../../mod.ts";
import { dbHash, driverTest, tempDb } from "../_helpers.ts";
import { drivers } from "../_helpers.ts";
import { makeDirReadOnly } from "../_read_only.ts";

const echo = task("echo", (p: unknown) => p);

driverTest(
  "a write that finds the disk full (SQLITE_FULL) names the file, and writes nothing",
  async ({ path, driver }) => {
    const queue = new JobQueue(path, { driver });
    await echo.submit(queue, { n: 1 });
    // Cap the file at its current size: SQLite reports SQLITE_FULL exactly as
    // for a full disk (checked by hand on a full tmpfs, both drivers).
    const conn = getConnection(path, { driver });
    const pages = conn.prepare("PRAGMA page_count").values()[0][0];
    conn.prepare(`PRAGMA max_page_count = ${pages}`).values();
    const before = await dbHash(path);
    await assert.rejects(
      () => echo.submit(queue, { big: "x".repeat(200_000) }),
      (e: Error) => {
        assert.ok(e instanceof SqliteError, `${e.name}: ${e.message}`);
        assert.equal(e.code & 0xff, 13);
        assert.equal(e.diskFull, true);
        assert.equal(
          e.message,
          `Cannot write to ${JSON.stringify(path)}: the disk is full ` +
            `(SQLite: database or disk is full); the write was rolled back: free some space ` +
            `and try again`,
        );
        return true;
      },
    );
    conn.prepare("PRAGMA max_page_count = 1073741823").values();
    assert.equal((await queue.stats()).total, 1, "the refused job was not stored");
    assert.notEqual(before, "", "the file exists");
    await echo.submit(queue, { n: 2 });
    assert.equal((await queue.stats()).total, 2, "the queue works again once there is room");
    queue.close();
  },
);

for (const driver of drivers) {
  Deno.test(`[${driver}] opening a queue in a read-only directory says SQLite's WAL needs a writable directory`, async () => {
    const db = await tempDb();
    try {
      const queue = new JobQueue(db.path, { driver });
      await echo.submit(queue, 1);
      queue.close();
      closeConnections(); // the last connection removes the -wal and -shm files
      assert.deepEqual([...Deno.readDirSync(db.dir)].map((e) => e.name), ["jobs.db"]);
      const readOnly = await makeDirReadOnly(db.dir);
      if (typeof readOnly === "string") {
        console.log(`skipped: ${readOnly}`);
        return;
      }
      try {
        assert.throws(
          () => new JobQueue(db.path, { driver }),
          (e: Error) => {
            assert.ok(e instanceof SqliteError, `${e.name}: ${e.message}`);
            assert.equal(e.code & 0xff, 14);
            assert.equal(
              e.message,
              `Cannot open ${JSON.stringify(db.path)}: its directory is read-only, or on a ` +
                `read-only file system (SQLite: unable to open database file); SQLite's WAL ` +
                `mode creates ${JSON.stringify(`${db.path}-wal`)} and ${
                  JSON.stringify(`${db.path}-shm`)
                } beside the database, so the directory must be writable`,
            );
            return true;
          },
        );
      } finally {
        closeConnections();
        await readOnly.undo();
      }
    } finally {
      await db.cleanup();
    }
  });
}
