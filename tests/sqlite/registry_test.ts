import assert from "node:assert/strict";
import {
  closeConnection,
  closeConnections,
  DriverConflictError,
  getConnection,
  JobQueue,
  task,
  Worker,
} from "../../mod.ts";
import { openConnectionCount } from "../../src/sqlite/registry.ts";
import { closeHandle } from "../../src/sqlite/ffi_driver.ts";
import type { DriverName } from "../../src/sqlite/connection.ts";
import { drivers, FakeClock, settle, tempDb, until } from "../_helpers.ts";

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
          new URL("../_fd_check.ts", import.meta.url).pathname,
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

/** Two names of one file: `real` and `link`, which `make()` creates once `real` exists. */
type Spelling = "symlink" | "hard link" | "symlinked directory";
const spellings: readonly Spelling[] = ["symlink", "hard link", "symlinked directory"];

function spell(kind: Spelling, dir: string): { real: string; link: string; make: () => void } {
  if (kind === "symlinked directory") {
    Deno.mkdirSync(`${dir}/real`);
    return {
      real: `${dir}/real/jobs.db`,
      link: `${dir}/link/jobs.db`,
      make: () => Deno.symlinkSync(`${dir}/real`, `${dir}/link`),
    };
  }
  const real = `${dir}/real.db`;
  const link = `${dir}/link.db`;
  return {
    real,
    link,
    make: () => kind === "symlink" ? Deno.symlinkSync(real, link) : Deno.linkSync(real, link),
  };
}

/** Open descriptors of this process on `path` (the real path, as /proc shows it). */
function fdsOn(path: string): number {
  let n = 0;
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

async function untilNoFds(path: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (fdsOn(path) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(fdsOn(path), 0, `nothing in this process holds ${path} open any more`);
}

const otherDriver = (driver: DriverName): DriverName => driver === "node" ? "ffi" : "node";
const noop = task("t", () => {});

function isConflict(path: string, openAs: string, requested: string) {
  return (e: Error) =>
    e instanceof DriverConflictError && e.message.includes(JSON.stringify(path)) &&
    e.message.includes(JSON.stringify(openAs)) && e.message.includes(`"${requested}" driver`);
}

for (const driver of drivers) {
  const other = otherDriver(driver);
  for (const kind of spellings) {
    Deno.test(`[${driver}] a file reached through a ${kind} shares its connection and refuses the other driver`, async () => {
      const db = await tempDb();
      try {
        const { real, link, make } = spell(kind, db.dir);
        const a = getConnection(real, { driver });
        make();
        const b = getConnection(link, { driver });
        assert.equal(b, a, "one connection for both names");
        assert.equal(openConnectionCount(), 1);
        assert.throws(() => getConnection(link, { driver: other }), isConflict(link, real, other));
        assert.throws(() => new JobQueue(link, { driver: other }), isConflict(link, real, other));
        // A queue on one name and a worker on the other use that same connection.
        const queue = new JobQueue(link, { driver });
        await noop.submit(queue, {});
        const worker = new Worker(real, { tasks: [noop], driver });
        assert.equal(await worker.processOne(), true);
        assert.equal(openConnectionCount(), 1);
        queue.close();
        worker.close();
        assert.equal(a.isOpen, true, "getConnection pinned it");
        assert.equal(closeConnection(link), true, "closed through the other name");
        assert.equal(a.isOpen, false);
        assert.equal(openConnectionCount(), 0);
      } finally {
        closeConnections();
        await db.cleanup();
      }
    });
  }

  Deno.test(`[${driver}] an idle worker wakes at once for a job submitted through another name of its file`, async () => {
    const db = await tempDb();
    try {
      const { real, link, make } = spell("symlink", db.dir);
      const clock = new FakeClock();
      const worker = new Worker(real, {
        tasks: [noop],
        driver,
        clock,
        watch: false,
        pollInterval: 3600,
        logger: () => {},
      });
      const done = worker.start();
      await settle();
      make();
      const queue = new JobQueue(link, { driver, clock });
      const id = await noop.submit(queue, {});
      // The fake clock never moves and nothing watches the file: only the
      // submit's notification in this isolate can wake the worker.
      await until(async () => (await queue.getStatus(id))?.status === "completed");
      worker.stop();
      await done;
      worker.close();
      queue.close();
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] the names of a file not created yet share the connection that creates it`, async () => {
    const db = await tempDb();
    try {
      const { real, link, make } = spell("symlinked directory", db.dir);
      make();
      const a = getConnection(link, { driver }); // creates real/jobs.db
      assert.equal(getConnection(real, { driver }), a);
      assert.throws(() => getConnection(real, { driver: other }), isConflict(real, link, other));
      // A dangling symlink: the file it names is created through it.
      const alias = `${db.dir}/alias.db`;
      Deno.symlinkSync(`${db.dir}/real/new.db`, alias);
      const c = getConnection(alias, { driver });
      assert.notEqual(c, a);
      assert.equal(getConnection(`${db.dir}/link/new.db`, { driver }), c);
      assert.equal(openConnectionCount(), 2);
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] a Web Worker that opens the file through a symlink with the other driver is refused`, async () => {
    const db = await tempDb();
    const { w, ask } = spawn();
    try {
      const { real, link, make } = spell("symlink", db.dir);
      getConnection(real, { driver });
      make();
      const refused = await ask({ op: "open", path: link, driver: other });
      assert.match(String(refused.error), /^DriverConflictError: /);
      assert.ok(String(refused.error).includes(JSON.stringify(link)), String(refused.error));
      const same = await ask({ op: "open", path: link, driver });
      assert.equal(same.error, undefined);
    } finally {
      w.terminate();
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] once no connection to a file remains, the other driver may open it`, async () => {
    const db = await tempDb();
    try {
      const { real, link, make } = spell("symlink", db.dir);
      getConnection(real, { driver });
      assert.equal(closeConnection(real), true);
      getConnection(real, { driver: other });
      closeConnections();
      make();
      const queue = new JobQueue(real, { driver });
      await queue.stats();
      queue.close();
      const again = new JobQueue(link, { driver: other });
      assert.equal((await again.stats()).total, 0);
      again.close();
      // The same across the isolates of the process: a Web Worker's connection
      // refuses the other driver until the worker closes it.
      const { w, ask } = spawn();
      try {
        assert.equal((await ask({ op: "open", path: link, driver })).error, undefined);
        assert.throws(() => getConnection(real, { driver: other }), DriverConflictError);
        w.postMessage({ op: "close" });
        await untilNoFds(real);
      } finally {
        w.terminate();
      }
      assert.equal(getConnection(real, { driver: other }).driver, other);
    } finally {
      closeConnections();
      await db.cleanup();
    }
  });

  Deno.test(`[${driver}] a terminated Web Worker refuses the other driver only while its connection stays open`, async () => {
    const db = await tempDb();
    const { w, ask } = spawn();
    try {
      const opened = await ask({ op: "open", path: db.path, driver });
      assert.equal(opened.error, undefined);
      w.terminate(); // no self.close(): the registry in the worker never closes
      if (driver === "ffi") {
        // terminate() leaves an FFI handle open: the file is still in use.
        assert.throws(() => getConnection(db.path, { driver: other }), DriverConflictError);
        closeHandle(BigInt(String(opened.handle)));
      }
      await untilNoFds(db.path);
      assert.equal(getConnection(db.path, { driver: other }).driver, other);
    } finally {
      w.terminate();
      closeConnections();
      await db.cleanup();
    }
  });

  for (const kind of spellings) {
    for (const end of ["close", "kill"] as const) {
      Deno.test(
        `[${driver}] every job acknowledged through two names (${kind}) of one file survives ${
          end === "close" ? "a clean close" : "SIGKILL"
        }`,
        async () => {
          const db = await tempDb();
          try {
            const { real, link, make } = spell(kind, db.dir);
            const setup = new JobQueue(real, { driver });
            await setup.stats();
            setup.close();
            make();
            const { acks, refused } = await runLinkChild(driver, real, link, end);
            assert.equal(acks.length, 14);
            const queue = new JobQueue(real, { driver });
            try {
              const missing = [];
              for (const id of acks) if (await queue.getStatus(id) === undefined) missing.push(id);
              assert.deepEqual(missing, [], `${missing.length} of 14 acknowledged jobs lost`);
              assert.equal((await queue.stats()).total, 14);
            } finally {
              queue.close();
            }
            assert.deepEqual(refused, [link], "the second driver is refused");
          } finally {
            closeConnections();
            await db.cleanup();
          }
        },
      );
    }
  }
}

/**
 * Runs tests/_registry_link.ts on two names of one file; while it pauses,
 * this process opens the file (the other process that finds it unlocked).
 */
async function runLinkChild(
  driver: DriverName,
  real: string,
  link: string,
  end: "close" | "kill",
): Promise<{ acks: string[]; refused: string[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_registry_link.ts", import.meta.url).pathname, driver]
      .concat([real, link, end]),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const stderr = new Response(child.stderr).text();
  const input = child.stdin.getWriter();
  const acks: string[] = [];
  const refused: string[] = [];
  const peek = async () => {
    const queue = new JobQueue(real, { driver });
    try {
      await queue.stats();
    } finally {
      queue.close();
    }
  };
  let buffered = "";
  let killed = false;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (line.ack !== undefined) acks.push(line.ack);
      if (line.refused !== undefined) refused.push(line.refused);
      if (line.paused) {
        await peek();
        await input.write(new TextEncoder().encode("go\n"));
      }
      if (line.ready) {
        await peek();
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  await input.close().catch(() => {});
  if (!killed) assert.equal(status.code, 0, await stderr);
  else await stderr;
  assert.equal(killed, end === "kill");
  return { acks, refused };
}

for (const driver of drivers) {
  Deno.test(`[${driver}] getConnection in a Web Worker on an application's database works, whichever isolate opens it first`, async () => {
    const { DatabaseSync } = await import("node:sqlite");
    for (const workerFirst of [true, false]) {
      const db = await tempDb();
      const { w, ask } = spawn();
      try {
        // The application's own table is there before GigQ is.
        const raw = new DatabaseSync(db.path);
        raw.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
        raw.exec("INSERT INTO customers (name) VALUES ('Ada')");
        raw.close();
        const inMain = async () => {
          const queue = new JobQueue(db.path, { driver });
          assert.equal((await queue.stats()).total, 0);
          queue.close();
          const conn = getConnection(db.path, { driver });
          assert.deepEqual(conn.prepare("SELECT name FROM customers").values(), [["Ada"]]);
        };
        if (!workerFirst) await inMain();
        const opened = await ask({ op: "open", path: db.path, driver });
        assert.equal(opened.error, undefined, `Web Worker: ${opened.error}`);
        assert.equal(opened.same, true);
        if (workerFirst) await inMain();
        assert.equal((await ask({ op: "query", path: db.path })).count, 1);
      } finally {
        // self.close() closes its connections first (a terminated one would leave an ffi handle).
        w.postMessage({ op: "close" });
        await new Promise((r) => setTimeout(r, 50));
        closeConnections();
        await db.cleanup();
      }
    }
  });
}
