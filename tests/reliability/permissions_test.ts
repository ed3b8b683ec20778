/**
 * Least privilege: the exact `--allow-*` flags the README lists are enough
 * for a producer script, a worker on the `node` driver and a worker on the
 * `ffi` driver, and one flag fewer fails at once with one clear line naming
 * the missing flag: no prompt (`--no-prompt`, stdin closed), no hang.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { closeConnections, Job, JobQueue } from "../../mod.ts";
import { tempDb } from "../_helpers.ts";
import { exited, inspect, REPO, scalar, script, spawnDeno } from "./_common.ts";

const CLI = `${REPO}/src/cli/main.ts`;
const TASKS = `${REPO}/examples/tasks.ts`;

/** The flags the README's "Permissions" section gives, by use. */
const PRODUCER = ["--allow-read", "--allow-write"];
const NODE_WORKER = ["--allow-read", "--allow-write"];
/**
 * FFI is not sandboxed: the system SQLite opens the file whatever
 * --allow-write says. The CLI still needs --allow-read (it looks at the file
 * and imports the task modules); a script needs only --allow-ffi.
 */
const FFI_WORKER = ["--allow-read", "--allow-ffi"];
const FFI_PRODUCER = ["--allow-ffi"];

/** Runs `deno run --no-prompt <flags> <args>` and waits (a hang is a failure). */
async function run(flags: string[], args: string[]) {
  const child = spawnDeno(["run", "--no-prompt", ...flags, ...args]);
  const status = await exited(child, 60_000, `deno run ${flags.join(" ")}`);
  return { code: status.code, stdout: child.stdout(), stderr: child.stderr() };
}

/** Every way of dropping one of `flags`. */
function oneFewer(flags: string[]): [string, string[]][] {
  return flags.map((f) => [f, flags.filter((g) => g !== f)]);
}

function assertRefusal(
  r: { code: number; stdout: string; stderr: string },
  missing: string,
  label: string,
): void {
  const flag = missing.replace(/=.*/, "");
  assert.equal(r.code, 1, `${label}: exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, /^[^\n]+\n$/, `${label}: not one line: ${JSON.stringify(r.stderr)}`);
  assert.ok(r.stderr.includes(flag), `${label}: the error does not name ${flag}: ${r.stderr}`);
}

async function withJob(fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  const db = await tempDb();
  try {
    const queue = new JobQueue(db.path);
    await queue.submit(new Job({ task: "greet", params: { name: "Ada" } }));
    queue.close();
    closeConnections();
    await fn(db.path, db.dir);
  } finally {
    closeConnections();
    await db.cleanup();
  }
}

Deno.test("a producer script needs --allow-read --allow-write, and fails in one line without either", async () => {
  await withJob(async (path) => {
    const args = [script("_producer.ts"), "--db", path, "--count", "1"];
    const ok = await run(PRODUCER, args);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr, "");
    assert.match(ok.stdout, /^[0-9a-f-]{36}\n\{"summary"/);
    for (const [missing, flags] of oneFewer(PRODUCER)) {
      assertRefusal(await run(flags, args), missing, `producer without ${missing}`);
    }
  });
});

Deno.test("a producer script on the ffi driver needs only --allow-ffi (FFI is not sandboxed), and fails in one line without it", async () => {
  await withJob(async (path) => {
    const args = [script("_producer.ts"), "--db", path, "--count", "1", "--driver", "ffi"];
    const ok = await run(FFI_PRODUCER, args);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^[0-9a-f-]{36}\n\{"summary"/);
    assertRefusal(await run([], args), "--allow-ffi", "ffi producer without --allow-ffi");
  });
});

Deno.test("gigq submit needs --allow-read --allow-write, and fails in one line without either", async () => {
  await withJob(async (path) => {
    const args = [CLI, "--db", path, "submit", `${TASKS}#greet`, "-p", "name=Bob"];
    const ok = await run(PRODUCER, args);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Job submitted: /);
    for (const [missing, flags] of oneFewer(PRODUCER)) {
      assertRefusal(await run(flags, args), missing, `submit without ${missing}`);
    }
  });
});

Deno.test("gigq stats (any read command) needs --allow-read --allow-write", async () => {
  await withJob(async (path) => {
    const args = [CLI, "--db", path, "stats", "--json"];
    const ok = await run(PRODUCER, args);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).total, 1);
    for (const [missing, flags] of oneFewer(PRODUCER)) {
      assertRefusal(await run(flags, args), missing, `stats without ${missing}`);
    }
  });
});

for (
  const [driver, flags] of [["node", NODE_WORKER], ["ffi", FFI_WORKER]] as const
) {
  Deno.test(`a worker on the ${driver} driver needs ${flags.join(" ")}, and fails in one line with one fewer`, async () => {
    await withJob(async (path) => {
      const args = [CLI, "--db", path, "--driver", driver, "worker", "--tasks", TASKS, "--once"];
      for (const [missing, fewer] of oneFewer([...flags])) {
        assertRefusal(await run(fewer, args), missing, `${driver} worker without ${missing}`);
      }
      const ok = await run([...flags], args);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "Processed one job (completed).\n");
      // Without --allow-sys=hostname the host is "unknown", and nothing prompts for it.
      assert.equal(inspect(path, (d) => scalar(d, "SELECT host FROM gigq_workers")), "unknown");
    });
  });
}

for (
  const [driver, flags] of [["node", NODE_WORKER], ["ffi", FFI_WORKER]] as const
) {
  Deno.test(`a pool of 2 Web Workers on the ${driver} driver needs no more than ${flags.join(" ")}`, async () => {
    await withJob(async (path) => {
      const child = spawnDeno([
        "run",
        "--no-prompt",
        ...flags,
        CLI,
        "--db",
        path,
        "--driver",
        driver,
        "worker",
        "--tasks",
        TASKS,
        "--workers",
        "2",
        "--polling-interval",
        "0.1",
      ]);
      // One connection for the pool's whole life: with the pool's file watcher on (the
      // default), a connection closed meanwhile would delete the WAL under it (see
      // contention_test.ts, the watcher bug).
      const conn = new DatabaseSync(path);
      let status: Deno.CommandStatus;
      try {
        const end = Date.now() + 60_000; // only a hang takes this long
        const done = () =>
          scalar(conn, "SELECT count(*) FROM gigq_jobs WHERE status = 'completed'");
        while (done() !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        assert.equal(done(), 1, child.stderr());
      } finally {
        child.process.kill("SIGTERM");
        status = await exited(child, 60_000, "the pool");
        conn.close();
      }
      assert.equal(status.code, 0, child.stderr());
      assert.match(child.stdout(), /^Pool of 2 stopped: 1 processed \(1 completed/);
      assert.doesNotMatch(child.stderr(), /error|denied|Requires/i);
    });
  });
}

Deno.test("--allow-sys=hostname lets a worker record its host name", async () => {
  await withJob(async (path) => {
    const args = [CLI, "--db", path, "worker", "--tasks", TASKS, "--once"];
    const ok = await run([...NODE_WORKER, "--allow-sys=hostname"], args);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(inspect(path, (d) => scalar(d, "SELECT host FROM gigq_workers")), Deno.hostname());
  });
});

/** util-linux `script`, to give a command a terminal. */
const SCRIPT = (() => {
  try {
    return Deno.build.os === "linux" && Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "on a terminal, a worker without --allow-sys=hostname does not ask for it",
  ignore: !SCRIPT, // needs util-linux `script` to provide the terminal
  fn: async () => {
    await withJob(async (path) => {
      const command = [Deno.execPath(), "run", ...NODE_WORKER, CLI, "--db", path, "worker"]
        .concat(["--tasks", TASKS, "--once"]).map((a) => `'${a}'`).join(" ");
      const child = new Deno.Command("/usr/bin/script", {
        args: ["-q", "-e", "-c", command, "/dev/null"],
        stdin: "piped", // a prompt would wait on this forever: the limit below catches it
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const out = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text);
      assert.match(text, /Processed one job \(completed\)/);
      assert.doesNotMatch(text, /Allow\?|Granted|Deno requests/);
    });
  },
});

Deno.test("read and write scoped to the database's directory (read also to the task modules) are enough", async () => {
  await withJob(async (path, dir) => {
    const read = `--allow-read=${dir},${REPO}`;
    const write = `--allow-write=${dir}`;
    const submitted = await run([read, write], [CLI, "--db", path, "submit", `${TASKS}#greet`]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const worked = await run(
      [read, write],
      [CLI, "--db", path, "worker", "--tasks", TASKS, "--once"],
    );
    assert.equal(worked.code, 0, worked.stderr);
    assert.equal(worked.stdout, "Processed one job (completed).\n");
    // Write access elsewhere only: the database is out of reach, said in one line.
    const elsewhere = await run(
      [read, `--allow-write=${REPO}/tests`],
      [CLI, "--db", path, "stats"],
    );
    assertRefusal(elsewhere, "--allow-write", "write scoped elsewhere");
  });
});
