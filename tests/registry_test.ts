import assert from "node:assert/strict";
import {
  closeConnection,
  closeConnections,
  DriverConflictError,
  getConnection,
  JobQueue,
  SchemaError,
  Worker,
} from "../mod.ts";
import { openConnectionCount } from "../src/registry.ts";
import { dbHash, drivers, tempDb } from "./_helpers.ts";

const workerUrl = new URL("./_registry_worker.ts", import.meta.url);

function spawn() {
  const w = new globalThis.Worker(workerUrl, { type: "module" });
  const ask = (msg: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(msg);
    });
  return { w, ask };
}

for (const driver of drivers) {
  Deno.test(`[${driver}] the registry gives one connection per file in an isolate`, async () => {
    const db = await tempDb();
    try {
      const a = getConnection(db.path, { driver });
      const b = getConnection(`${db.dir}/./jobs.db`, { driver });
      assert.equal(a, b);
      assert.equal(a.driver, driver);
      const other = getConnection(`${db.dir}/other.db`, { driver });
      assert.notEqual(other, a);
      // Queues and workers on the file share it too.
      const queue = new JobQueue(db.path, { driver });
      await queue.stats();
      assert.equal(openConnectionCount(), 2);
      assert.equal(closeConnection(db.path), true);
      assert.equal(a.isOpen, false);
      assert.equal(closeConnection(db.path), false);
      // The queue reopens lazily: close is not terminal.
      assert.equal((await queue.stats()).total, 0);
      assert.notEqual(getConnection(db.path, { driver }), a);
      queue.close();
      assert.equal(closeConnections(), 2);
      assert.equal(openConnectionCount(), 0);
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] closing a queue keeps the connection a worker of the same isolate uses`, async () => {
    const db = await tempDb();
    try {
      const queue = new JobQueue(db.path, { driver });
      const worker = new Worker(db.path, { tasks: [], driver });
      await queue.stats();
      queue.close();
      assert.equal(await worker.processOne(), false);
      assert.equal(openConnectionCount(), 1);
      worker.close();
      assert.equal(openConnectionCount(), 0, "the last user closes it");
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] a Web Worker has its own registry and connection, closed by self.close()`, async () => {
    const db = await tempDb();
    const main = getConnection(db.path, { driver });
    const { w, ask } = spawn();
    try {
      const opened = await ask({ op: "open", path: db.path, driver });
      assert.equal(opened.error, undefined);
      assert.equal(opened.same, true, "within the worker, one connection per file");
      assert.equal(opened.open, 1);
      if (driver === "ffi") {
        const mainHandle = String((main as unknown as { handle: bigint }).handle);
        assert.notEqual(opened.handle, mainHandle, "the worker's FFI handle is its own");
      }
      // Closing the main isolate's connection leaves the worker's working.
      closeConnections();
      assert.deepEqual(await ask({ op: "query", path: db.path }), { count: 1, open: 1 });
      const fdsBefore = [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith(db.path);
        } catch {
          return false;
        }
      }).length;
      assert.equal(fdsBefore >= 1, true, "the worker holds the database open");
      w.postMessage({ op: "close" });
      const deadline = Date.now() + 5000;
      let fds = fdsBefore;
      while (fds > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
        fds = [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
          try {
            return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith(db.path);
          } catch {
            return false;
          }
        }).length;
      }
      assert.equal(fds, 0, "self.close() closed the worker's connection first");
    } finally {
      w.terminate();
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] 200 Web Workers that open a connection and close themselves leak no files`, async () => {
    const db = await tempDb();
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./_fd_check.ts", import.meta.url).pathname,
          driver,
          "200",
          db.dir,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(stdout);
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const result = JSON.parse(text);
      assert.equal(result.workers, 200);
      assert.equal(result.end, result.start, text);
    } finally {
      await db.cleanup();
    }
  });
}

Deno.test("opening one file with both drivers in one isolate is refused", async () => {
  const db = await tempDb();
  try {
    getConnection(db.path, { driver: "node" });
    assert.throws(
      () => getConnection(db.path, { driver: "ffi" }),
      (e: Error) =>
        e instanceof DriverConflictError && e.message.includes('"ffi"') &&
        e.message.includes('"node"') && e.message.includes(db.path),
    );
    assert.throws(() => new JobQueue(db.path, { driver: "ffi" }), DriverConflictError);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("opening one file with the other driver in a Web Worker of the same process is refused", async () => {
  const db = await tempDb();
  const { w, ask } = spawn();
  try {
    getConnection(db.path, { driver: "ffi" });
    const reply = await ask({ op: "open", path: db.path, driver: "node" });
    assert.match(String(reply.error), /DriverConflictError: .*"node" driver.*"ffi" driver/);
  } finally {
    w.terminate();
    closeConnections();
    await db.cleanup();
  }
});

Deno.test("a foreign SQLite database is refused without a byte changed", async () => {
  const db = await tempDb();
  try {
    const { DatabaseSync } = await import("node:sqlite");
    const other = new DatabaseSync(db.path);
    other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.exec("INSERT INTO customers (name) VALUES ('Ada')");
    other.close();
    const before = await dbHash(db.path);
    for (const driver of drivers) {
      assert.throws(
        () => new JobQueue(db.path, { driver }),
        (e: Error) =>
          e instanceof SchemaError && /not a GigQ database/.test(e.message) &&
          e.message.includes('"customers"'),
      );
      closeConnections();
    }
    assert.equal(await dbHash(db.path), before);
  } finally {
    closeConnections();
    await db.cleanup();
  }
});
