import assert from "node:assert/strict";
import { closeConnections, getConnection } from "../../mod.ts";
import { dbHash, driverTest, fileHash, tempDb } from "../_helpers.ts";
import { drivers } from "../_helpers.ts";
import { makeDirReadOnly } from "../_read_only.ts";
import { cli, cliProcess, ok, TASKS } from "./_cli.ts";

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

for (const driver of drivers) {
  Deno.test(`[${driver}] gigq in a read-only directory: status, list, stats and why read the queue as it is; writes say WAL needs a writable directory`, async () => {
    const db = await tempDb();
    const d = ["--db", db.path, "--driver", driver];
    try {
      const a = JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "--json"])).id;
      await ok([...d, "submit", `${TASKS}#echo`, "--json", "--depends-on", a]);
      closeConnections();
      assert.deepEqual(names(db.dir), ["jobs.db"], "the last connection removed the WAL");
      const before = await fileHash(db.path);
      const readOnly = await makeDirReadOnly(db.dir);
      if (typeof readOnly === "string") {
        console.log(`skipped: ${readOnly}`);
        return;
      }
      try {
        const note = `gigq: note: reading ${db.path} read-only, as it is on disk: its ` +
          `directory (or file system) is read-only, so SQLite cannot create the -wal and -shm ` +
          `files it needs to open it normally\n`;
        const list = await cli([...d, "list", "--json"]);
        assert.equal(list.code, 0, list.stderr);
        assert.equal(list.stderr, note);
        assert.equal(JSON.parse(list.stdout).length, 2);
        const stats = await cli([...d, "stats", "--json"]);
        assert.equal(stats.code, 0, stats.stderr);
        assert.equal(JSON.parse(stats.stdout).pending, 2);
        const status = await cli([...d, "status", a, "--json"]);
        assert.equal(status.code, 0, status.stderr);
        assert.equal(JSON.parse(status.stdout).id, a);
        const why = await cli([...d, "why", a]);
        assert.equal(why.code, 0, why.stderr);
        assert.equal(why.stdout, "pending: ready, but no worker has ever run on this database\n");
        for (
          const args of [
            ["submit", `${TASKS}#echo`],
            ["cancel", a],
            ["worker", "--tasks", TASKS, "--once"],
          ]
        ) {
          const r = await cli([...d, ...args]);
          assert.equal(r.code, 1, `${args[0]}: ${r.stdout}`);
          assert.equal(
            r.stderr,
            `gigq ${args[0]}: Cannot open ${JSON.stringify(db.path)}: its directory is ` +
              `read-only, or on a read-only file system (SQLite: unable to open database ` +
              `file); SQLite's WAL mode creates ${JSON.stringify(`${db.path}-wal`)} and ${
                JSON.stringify(`${db.path}-shm`)
              } beside the database, so the directory must be writable\n`,
          );
        }
        assert.equal(closeConnections(), 0, "every command closed its connection");
      } finally {
        closeConnections();
        await readOnly.undo();
      }
      assert.deepEqual(names(db.dir), ["jobs.db"], "nothing was created");
      assert.equal(await fileHash(db.path), before, "the file is unchanged");
    } finally {
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] gigq in a read-only directory refuses to read a WAL that holds commits, and says why`, async () => {
    const src = await tempDb();
    const copy = await tempDb();
    const d = ["--db", copy.path, "--driver", driver];
    try {
      // A queue whose last commits are still in its WAL, copied (file and
      // WAL, not the -shm) while its connection is open.
      await ok(["--db", src.path, "--driver", driver, "submit", `${TASKS}#echo`]);
      const conn = getConnection(src.path, { driver });
      conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      await ok(["--db", src.path, "--driver", driver, "submit", `${TASKS}#echo`]);
      assert.ok(Deno.statSync(`${src.path}-wal`).size > 0);
      await Deno.copyFile(src.path, copy.path);
      await Deno.copyFile(`${src.path}-wal`, `${copy.path}-wal`);
      closeConnections();
      const before = await dbHash(copy.path);
      const readOnly = await makeDirReadOnly(copy.dir);
      if (typeof readOnly === "string") {
        console.log(`skipped: ${readOnly}`);
        return;
      }
      try {
        for (const args of [["list"], ["stats", "--json"]]) {
          const r = await cli([...d, ...args]);
          assert.equal(r.code, 1, `${args[0]}: ${r.stdout}`);
          assert.equal(r.stdout, "");
          assert.equal(
            r.stderr,
            `gigq ${args[0]}: cannot read ${copy.path}: its directory is read-only, and ` +
              `${copy.path}-wal holds commits that SQLite can read only by creating ` +
              `${copy.path}-shm beside it (WAL mode needs a writable directory); make the ` +
              `directory writable, or run gigq as a user who can write to it\n`,
          );
        }
      } finally {
        closeConnections();
        await readOnly.undo();
      }
      assert.deepEqual(names(copy.dir), ["jobs.db", "jobs.db-wal"], "nothing was created");
      assert.equal(await dbHash(copy.path), before, "the files are unchanged");
      // Where it can be written, the copy holds both jobs.
      assert.equal(JSON.parse(await ok([...d, "stats", "--json"])).total, 2);
    } finally {
      closeConnections();
      await src.cleanup();
      await copy.cleanup();
    }
  });
}

for (const driver of drivers) {
  Deno.test(`[${driver}] gigq in a read-only directory, with the gigq task's permissions: ffi reads the queue; node says it needs --allow-all`, async () => {
    const db = await tempDb();
    try {
      await ok(["--db", db.path, "--driver", driver, "submit", `${TASKS}#echo`]);
      closeConnections();
      const readOnly = await makeDirReadOnly(db.dir);
      if (typeof readOnly === "string") {
        console.log(`skipped: ${readOnly}`);
        return;
      }
      try {
        for (const command of ["stats", "list"]) {
          const r = await cliProcess(driver, ["--db", db.path, command, "--json"]);
          if (driver === "ffi") {
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stderr, /^gigq: note: reading .* read-only, as it is on disk/);
            assert.equal(JSON.parse(r.stdout).length ?? JSON.parse(r.stdout).total, 1);
          } else {
            assert.equal(r.code, 1);
            assert.equal(r.stdout, "");
            assert.equal(
              r.stderr,
              `gigq ${command}: cannot read ${db.path}: its directory (or file system) is ` +
                `read-only, so SQLite cannot create the -wal and -shm files WAL mode needs; ` +
                `SQLite can read the file as it is (immutable), but Deno's node:sqlite opens ` +
                `it that way only with --allow-all: use --driver ffi (with --allow-ffi), or run ` +
                `with --allow-all\n`,
            );
          }
        }
      } finally {
        await readOnly.undo();
      }
      assert.deepEqual(names(db.dir), ["jobs.db"], "nothing was created");
    } finally {
      await db.cleanup();
    }
  });
}

driverTest("gigq submit on a full disk names the file", async ({ path, driver }) => {
  const d = ["--db", path, "--driver", driver];
  await ok([...d, "submit", `${TASKS}#echo`]);
  // The registry's connection (kept open here) is the one the command uses.
  const conn = getConnection(path, { driver });
  const pages = conn.prepare("PRAGMA page_count").values()[0][0];
  conn.prepare(`PRAGMA max_page_count = ${pages}`).values();
  const r = await cli([...d, "submit", `${TASKS}#echo`, "-p", `big=${"x".repeat(200_000)}`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `gigq submit: cannot write to ${JSON.stringify(path)}: the disk is full (SQLite: database ` +
      `or disk is full); the write was rolled back: free some space and try again\n`,
  );
});
