import assert from "node:assert/strict";
import {
  closeHandle,
  FfiConnection,
  shareClose,
  sqliteLibraryPath,
} from "../../src/sqlite/ffi_driver.ts";
import type { SqlValue } from "../../src/sqlite/connection.ts";
import { tempDb } from "../_helpers.ts";

const driverUrl = new URL("../../src/sqlite/ffi_driver.ts", import.meta.url).href;

/** Runs `deno <args>` in a fresh process (the library is loaded once per isolate). */
async function runDeno(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

const tryOpen = `
import { FfiConnection } from ${JSON.stringify(driverUrl)};
try {
  new FfiConnection(":memory:").close();
  console.log("opened");
} catch (e) {
  console.log(e.name + ": " + e.message);
}
`;

Deno.test("[ffi] loads the system SQLite library and reports its path", () => {
  const path = sqliteLibraryPath();
  assert.match(path, /sqlite3/);
  using conn = new FfiConnection(":memory:");
  assert.match(conn.sqliteVersion, /^3\.\d+\.\d+$/);
});

Deno.test("[ffi] binds and reads the values Deno's FFI gets wrong by default", () => {
  using conn = new FfiConnection(":memory:");
  const echo = conn.prepare("SELECT ? AS v, typeof(?) AS t");
  const roundTrip = (v: SqlValue) => echo.values(v, v)[0];
  // Integers go in as INTEGER whatever their size (-0 is refused by Deno's i32).
  assert.deepEqual(roundTrip(-0), [0, "integer"]);
  assert.deepEqual(roundTrip(2 ** 31), [2 ** 31, "integer"]);
  assert.deepEqual(roundTrip(Number.MAX_SAFE_INTEGER), [Number.MAX_SAFE_INTEGER, "integer"]);
  assert.deepEqual(roundTrip(-(2n ** 63n)), [-(2n ** 63n), "integer"]);
  assert.deepEqual(roundTrip(2n ** 53n), [2n ** 53n, "integer"]);
  assert.deepEqual(roundTrip(5n), [5, "integer"]);
  assert.deepEqual(roundTrip(0.5), [0.5, "real"]);
  // Deno passes an empty Uint8Array as a NULL pointer, which SQLite binds as NULL.
  assert.deepEqual(roundTrip(""), ["", "text"]);
  assert.deepEqual(roundTrip(new Uint8Array(0)), [new Uint8Array(0), "blob"]);
  assert.deepEqual(roundTrip(new Uint8Array([9, 8, 7, 6]).subarray(1, 3)), [
    new Uint8Array([8, 7]),
    "blob",
  ]);
  // Text survives NUL bytes, non-ASCII and sizes beyond the reused buffers.
  for (const text of ["a\0b", "héllo ✓ 日本 😀", "é".repeat(5000), "x".repeat(70_000)]) {
    assert.equal(roundTrip(text)[0], text);
  }
  // Deno would silently wrap a bigint to 64 bits.
  assert.throws(
    () => echo.get(2n ** 63n, 1),
    (e: Error) =>
      e instanceof RangeError && e.message.includes("parameter 1") &&
      e.message.includes("9223372036854775808n"),
  );
  assert.throws(
    () => echo.get(1, true as unknown as SqlValue),
    (e: Error) =>
      e instanceof TypeError && e.message.includes("parameter 2") && e.message.includes("boolean"),
  );
  assert.throws(
    () => echo.get(1),
    (e: Error) => e instanceof RangeError && /expected 2 parameters, got 1/.test(e.message),
  );
  // The statement is still usable after every failure.
  assert.deepEqual(echo.get(1, "x"), Object.assign(Object.create(null), { v: 1, t: "text" }));
});

Deno.test("[ffi] GIGQ_SQLITE_PATH naming a missing file is an error naming that path", async () => {
  const bogus = "/nonexistent/gigq/libsqlite3.so";
  const { out } = await runDeno(["eval", "--ext=ts", tryOpen], { GIGQ_SQLITE_PATH: bogus });
  assert.match(out, /^Error: Cannot load SQLite from GIGQ_SQLITE_PATH/);
  assert.ok(out.includes(bogus), out);
});

Deno.test("[ffi] a GIGQ_SQLITE_PATH that cannot be loaded is one line that says each thing once", async () => {
  const db = await tempDb("not-a-library.so");
  try {
    await Deno.writeTextFile(db.path, "not a shared library\n".repeat(100));
    for (
      const [path, reason] of [
        [
          "/nonexistent/gigq/libsqlite3.so",
          "cannot open shared object file: No such file or directory",
        ],
        [db.path, "invalid ELF header"],
      ]
    ) {
      const { out } = await runDeno(["eval", "--ext=ts", tryOpen], { GIGQ_SQLITE_PATH: path });
      assert.equal(
        out.trim(),
        `Error: Cannot load SQLite from GIGQ_SQLITE_PATH=${JSON.stringify(path)}: ${reason} ` +
          `(point GIGQ_SQLITE_PATH at a SQLite library such as libsqlite3.so.0, or unset it to ` +
          `search the usual places)`,
      );
    }
  } finally {
    await db.cleanup();
  }
});

Deno.test("[ffi] GIGQ_SQLITE_PATH is ignored, without a prompt, when env access is not granted", async () => {
  const db = await tempDb("run.ts");
  try {
    await Deno.writeTextFile(db.path, tryOpen);
    const { out } = await runDeno(["run", "--allow-ffi", db.path], {
      GIGQ_SQLITE_PATH: "/nonexistent/gigq/libsqlite3.so",
    });
    assert.equal(out.trim(), "opened");
  } finally {
    await db.cleanup();
  }
});

Deno.test("[ffi] without --allow-ffi, importing works and opening says --allow-ffi is needed", async () => {
  const db = await tempDb("run.ts");
  try {
    await Deno.writeTextFile(db.path, tryOpen);
    const { out } = await runDeno(["run", "--no-prompt", db.path]);
    assert.match(out, /^Error: .*needs --allow-ffi/);
    assert.match(out, /"node" driver, which needs none/);
  } finally {
    await db.cleanup();
  }
});

Deno.test("[ffi] closeHandle refuses a value that is not a pointer", () => {
  assert.throws(
    () => closeHandle(0n),
    (e: Error) => e instanceof RangeError && /got 0n/.test(e.message),
  );
  // deno-lint-ignore no-explicit-any
  assert.throws(() => closeHandle(12 as any), RangeError);
});

Deno.test("[ffi] closeHandle releases the files of a terminated worker's connection", async () => {
  // The worker's dlopen is undone when it terminates; this isolate must keep
  // the library mapped or the handle would point into unmapped code.
  sqliteLibraryPath();
  const db = await tempDb();
  // Count the descriptors open on this database, not the process total:
  // `deno test --parallel` runs other test files in this process at the same time.
  const dbFds = () => {
    let n = 0;
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      try {
        if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith(db.dir)) n++;
      } catch {
        // Closed while we were listing (for example the directory iterator itself).
      }
    }
    return n;
  };
  const worker = new Worker(new URL("./_ffi_worker.ts", import.meta.url), { type: "module" });
  try {
    assert.equal(dbFds(), 0);
    const handle = await new Promise<bigint>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ handle: bigint }>) => resolve(e.data.handle);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`worker failed: ${e.message}`));
      };
      worker.postMessage({ path: db.path });
    });
    assert.equal(typeof handle, "bigint");
    assert.equal(dbFds(), 3, "the worker's connection holds the db, -wal and -shm files");
    worker.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(dbFds(), 3, "terminating a worker leaves its connection open");
    closeHandle(handle);
    assert.equal(dbFds(), 0, "closeHandle closed every file");
    // The worker's committed row is there, and the last close removed the WAL files.
    using conn = new FfiConnection(db.path);
    assert.deepEqual(conn.prepare("SELECT count(*) FROM t").values(), [[1]]);
    assert.equal(dbFds(), 3);
  } finally {
    worker.terminate();
    await db.cleanup();
  }
});

Deno.test("[ffi] a handle whose close is shared is closed once: by whichever side claims it first", async () => {
  const db = await tempDb();
  try {
    // The Web Worker's side closes it first: the parent's release is then a no-op.
    const first = new FfiConnection(db.path);
    const claim = new Int32Array(new SharedArrayBuffer(4));
    shareClose(first.handle, claim);
    const handle = first.handle;
    first.close();
    assert.equal(Atomics.load(claim, 0), 1, "the connection's own close took the claim");
    closeHandle(handle, claim); // would close a freed sqlite3* without the claim
    // The parent claims first: the connection's own close touches nothing.
    const second = new FfiConnection(db.path);
    const claim2 = new Int32Array(new SharedArrayBuffer(4));
    shareClose(second.handle, claim2);
    second.prepare("SELECT 1").values(); // a cached statement the parent finalizes
    closeHandle(second.handle, claim2);
    assert.equal(Atomics.load(claim2, 0), 1);
    second.close();
    assert.equal(second.isOpen, false);
    // Without sharing, close works as before.
    using third = new FfiConnection(db.path);
    assert.deepEqual(third.prepare("SELECT 2").values(), [[2]]);
  } finally {
    await db.cleanup();
  }
});
