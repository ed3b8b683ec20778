import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { closeConnections, JobQueue } from "../../mod.ts";
import { echo } from "./_tasks.ts";
import { driverTest, fileHash, tempDb } from "../_helpers.ts";
import { drivers } from "../_helpers.ts";
import { makeDirReadOnly } from "../_read_only.ts";
import { cli, ok, REPO, TASKS } from "./_cli.ts";

const MAIN = `${REPO}/src/cli/main.ts`;
/** The flags of the repository's `gigq` task (not --allow-all: Deno's node:sqlite differs). */
const TASK_FLAGS = JSON.parse(Deno.readTextFileSync(`${REPO}/deno.json`)).tasks.gigq
  .split(" ").filter((a: string) => a.startsWith("--"));
const flags = (driver: string): string[] => [
  ...TASK_FLAGS,
  ...(driver === "ffi" ? ["--allow-ffi"] : []),
];
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

/** Opens a file read-only, outside GigQ, and returns its job ids and integrity check. */
function inspect(path: string): { ids: Set<string>; integrity: string } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const ids = new Set(db.prepare("SELECT id FROM gigq_jobs").all().map((r) => r.id as string));
    const integrity = String(db.prepare("PRAGMA integrity_check").get()?.integrity_check);
    return { ids, integrity };
  } finally {
    db.close();
  }
}

Deno.test("gigq backup --help documents it, and it is in gigq --help", async () => {
  const top = await ok(["--help"]);
  assert.match(top, /^ {2}backup +\S/m);
  for (const flag of ["--help", "-h"]) {
    const help = await ok(["backup", flag]);
    assert.match(help, /^Usage: gigq backup <dest> \[options\]$/m);
    for (const o of ["VACUUM INTO", "--db", "--driver", "--json", "--help"]) {
      assert.ok(help.includes(o), `gigq backup --help does not mention ${o}`);
    }
  }
});

driverTest(
  "gigq backup writes a copy that opens and holds every job",
  async ({ path, dir, driver }) => {
    const d = ["--db", path, "--driver", driver];
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        JSON.parse(await ok([...d, "submit", `${TASKS}#echo`, "-p", `n=${i}`, "--json"])).id,
      );
    }
    await ok([...d, "worker", "--tasks", TASKS, "--once"]);
    const dest = `${dir}/copy.db`;
    const r = await cli([...d, "backup", dest, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const size = Deno.statSync(dest).size;
    assert.deepEqual(JSON.parse(r.stdout), { db: path, backup: dest, bytes: size });
    assert.deepEqual(names(dir), ["copy.db", "jobs.db"], "the temporary file is gone");
    const { ids: copied, integrity } = inspect(dest);
    assert.equal(integrity, "ok");
    assert.deepEqual(copied, new Set(ids));
    // The copy is a GigQ queue: the CLI reads it, the first job completed.
    const stats = JSON.parse(await ok(["--db", dest, "--driver", driver, "stats", "--json"]));
    assert.equal(stats.total, 5);
    assert.equal(stats.completed, 1);
    closeConnections();
    // Without --json, one line; a relative DEST is relative to the current directory.
    const human = await cli([...d, "backup", `${dir}/second.db`]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Backed up .*jobs\.db to .*second\.db \(\d+ bytes\)\.\n$/);
  },
);

driverTest(
  "gigq backup refuses a DEST that exists, and leaves it alone",
  async ({ path, dir, driver }) => {
    const d = ["--db", path, "--driver", driver];
    await ok([...d, "submit", `${TASKS}#echo`]);
    for (const content of ["precious", ""]) {
      const dest = `${dir}/taken.db`;
      await Deno.writeTextFile(dest, content);
      const before = await fileHash(dest);
      const r = await cli([...d, "backup", dest]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `gigq backup: ${dest} already exists; give a path that does not ` +
          `(gigq backup never overwrites a file)\n`,
      );
      assert.equal(await fileHash(dest), before, "DEST changed");
      await Deno.remove(dest);
    }
    // The database itself, and a directory, are refused the same way.
    assert.equal((await cli([...d, "backup", path])).code, 2);
    assert.equal((await cli([...d, "backup", dir])).code, 2);
    assert.deepEqual(names(dir), ["jobs.db"], "nothing was left");
  },
);

driverTest(
  "gigq backup: a missing queue, a missing directory and a read-only one are one line each, leaving nothing",
  async ({ path, dir, driver }) => {
    const d = ["--db", path, "--driver", driver];
    let r = await cli([...d, "backup", `${dir}/copy.db`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `gigq backup: no GigQ database at ${path} (submit a job or start a worker to create one)\n`,
    );
    assert.deepEqual(names(dir), [], "nothing was created");
    await ok([...d, "submit", `${TASKS}#echo`]);
    r = await cli([...d, "backup", `${dir}/no/such/copy.db`]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      `gigq backup: cannot write the backup to ${dir}/no/such/copy.db: the directory ` +
        `${dir}/no/such does not exist\n`,
    );
    r = await cli([...d, "backup"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^gigq backup: missing <dest> \(usage: gigq backup <dest> \[options\]\)\n$/,
    );
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    const readOnly = await makeDirReadOnly(out);
    if (typeof readOnly === "string") {
      console.log(`skipped the read-only part: ${readOnly}`);
      return;
    }
    try {
      r = await cli([...d, "backup", `${out}/copy.db`]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        `gigq backup: cannot write the backup to ${out}/copy.db: SQLite cannot create a file in ` +
          `${out} (is it read-only?); nothing was written\n`,
      );
    } finally {
      await readOnly.undo();
    }
    assert.deepEqual(names(out), [], "nothing was left");
  },
);

for (const driver of drivers) {
  Deno.test(`[${driver}] gigq backup while a worker process writes: the copy opens and holds every job committed before it`, async () => {
    const db = await tempDb();
    const queue = new JobQueue(db.path); // the producer, in this process (node driver)
    const worker = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--db", db.path, "worker", "--tasks", TASKS, "--concurrency", "4"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const committed: string[] = [];
    let producing = true;
    const producer = (async () => {
      let n = 0;
      while (producing) {
        const ids = await queue.submitMany(
          Array.from({ length: 20 }, () => echo.toJob({ n: n++, pad: "x".repeat(500) })),
        );
        committed.push(...ids);
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    try {
      // Let the worker complete some jobs while the producer keeps submitting.
      const started = Date.now();
      while ((await queue.stats()).completed < 200) {
        if (Date.now() - started > 30_000) throw new Error("the worker completed too little");
        await new Promise((r) => setTimeout(r, 20));
      }
      const before = [...committed];
      const dest = `${db.dir}/backup.db`;
      const backup = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags(driver), MAIN, "--db", db.path, "--driver", driver, "backup", dest],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(backup.stderr);
      assert.equal(backup.code, 0, stderr);
      assert.equal(stderr, "");
      const after = committed.length;
      const { ids, integrity } = inspect(dest);
      assert.equal(integrity, "ok");
      const missing = before.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `${missing.length} committed jobs are missing from the copy`);
      assert.ok(after > before.length, "the producer kept writing during the backup");
      // Every completed job in the copy has its result: no torn rows.
      const copy = new DatabaseSync(dest, { readOnly: true });
      const torn = copy.prepare(
        "SELECT count(*) AS n FROM gigq_jobs WHERE status = 'completed' AND result IS NULL",
      ).get()?.n;
      copy.close();
      assert.equal(torn, 0);
    } finally {
      producing = false;
      await producer;
      worker.kill("SIGTERM");
      await worker.status;
      queue.close();
      closeConnections();
      await db.cleanup();
    }
  });
}

for (const driver of drivers) {
  Deno.test(`[${driver}] gigq backup on a disk that fills up says so and leaves no partial file`, async () => {
    const db = await tempDb();
    const out = `${db.dir}/small`;
    try {
      const queue = new JobQueue(db.path);
      await queue.submitMany(
        Array.from({ length: 50 }, () => echo.toJob({ pad: "x".repeat(20_000) })),
      );
      queue.close();
      closeConnections();
      await Deno.mkdir(out);
      // A 256 KiB file system for DEST, in a mount namespace of its own.
      const script = `mount -t tmpfs -o size=256k tmpfs "$1" || exit 99
"$2" run ${flags(driver).join(" ")} "$3" --db "$4" --driver "$5" backup "$1/copy.db"
echo "exit $?"; ls -A "$1"`;
      let run: Deno.CommandOutput;
      try {
        run = await new Deno.Command("unshare", {
          args: ["-m", "sh", "-c", script, "sh", out, Deno.execPath(), MAIN, db.path, driver],
          stdout: "piped",
          stderr: "piped",
        }).output();
      } catch (error) {
        console.log(`skipped: unshare is not available (${(error as Error).message})`);
        return;
      }
      if (run.code === 99 || (!run.success && run.stdout.length === 0)) {
        console.log(`skipped: cannot mount a tmpfs here (${new TextDecoder().decode(run.stderr)})`);
        return;
      }
      const dest = `${out}/copy.db`;
      assert.equal(
        new TextDecoder().decode(run.stderr),
        `gigq backup: cannot write the backup to ${dest}: the disk is full (SQLite: database or ` +
          `disk is full); nothing was written\n`,
      );
      assert.equal(new TextDecoder().decode(run.stdout), "exit 1\n", "files were left behind");
    } finally {
      await db.cleanup();
    }
  });
}
