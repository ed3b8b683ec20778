/**
 * Named queues, pause and resume, and unique keys on the command line:
 * `submit --queue/--unique-key`, `list/stats --queue`, `worker --queue`,
 * `gigq queues`, `gigq pause`, `gigq resume`, and what `status` shows.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { JobQueue } from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import { formatTable, formatTime } from "../../src/cli/_format.ts";
import { type BackendContext, backendTest, withPostgres } from "../_backends.ts";
import { getConnection } from "../../mod.ts";
import { cli, ok, REPO, TASKS } from "./_cli.ts";

/** `--db` (and `--driver`) for the test's backend. */
const dbArgs = ({ target, driver }: BackendContext) =>
  driver === undefined ? ["--db", target] : ["--db", target, "--driver", driver];

/** Submits with `--json`; returns what it printed. */
async function submit(
  d: string[],
  target: string,
  ...args: string[]
): Promise<{ id: string; inserted: boolean }> {
  return JSON.parse(await ok([...d, "submit", target, "--json", ...args]));
}

backendTest(
  "submit --queue puts the job in that queue (default: the task's, else default); list and stats filter by --queue",
  async (ctx) => {
    const d = dbArgs(ctx);
    const plain = await submit(d, `${TASKS}#echo`);
    const mail = await submit(d, `${TASKS}#mail`);
    const bulk = await submit(d, `${TASKS}#mail`, "--queue", "bulk emails");
    const report = await submit(d, `${TASKS}#echo`, "--queue", "reports", "--name", "r");
    assert.deepEqual([plain, mail, bulk, report].map((r) => r.inserted), [true, true, true, true]);
    const queue = new JobQueue(ctx.target, ctx.options);
    const queueOf = async (id: string) => (await queue.getStatus(id))?.queue;
    assert.deepEqual(
      await Promise.all([plain, mail, bulk, report].map((r) => queueOf(r.id))),
      ["default", "emails", "bulk emails", "reports"],
    );
    queue.close();

    const listed = JSON.parse(await ok([...d, "list", "--queue", "bulk emails", "--json"]));
    assert.deepEqual(listed.map((j: { id: string }) => j.id), [bulk.id]);
    assert.equal(listed[0].queue, "bulk emails");
    assert.deepEqual(JSON.parse(await ok([...d, "list", "--queue", "nowhere", "--json"])), []);
    assert.equal(await ok([...d, "list", "--queue", "nowhere"]), "No jobs found.\n");
    const pendingReports = JSON.parse(
      await ok([...d, "list", "--queue", "reports", "--status", "pending", "--json"]),
    );
    assert.deepEqual(pendingReports.map((j: { id: string }) => j.id), [report.id]);

    // The table has a Queue column after the name.
    const all = JSON.parse(await ok([...d, "list", "--json"]));
    assert.equal(
      await ok([...d, "list"]),
      formatTable(
        all.map((j: { id: string; name: string; queue: string; createdAt: string }) => [
          j.id,
          j.name,
          j.queue,
          "pending",
          "0",
          formatTime(j.createdAt),
          formatTime(j.createdAt),
        ]),
        ["ID", "Name", "Queue", "Status", "Priority", "Created", "Updated"],
      ) + "\n",
    );

    const stats = JSON.parse(await ok([...d, "stats", "--queue", "emails", "--json"]));
    assert.deepEqual(stats, {
      pending: 1,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      timeout: 0,
      total: 1,
    });
    assert.equal(JSON.parse(await ok([...d, "stats", "--json"])).total, 4);
    assert.equal(JSON.parse(await ok([...d, "stats", "--queue", "nowhere", "--json"])).total, 0);
    assert.match(await ok([...d, "stats", "--queue", "reports"]), /^\| pending +\| 1 +\|$/m);
  },
);

backendTest(
  "submit --unique-key says when a pending or running job of its queue holds the key, exits 0, and adds nothing",
  async (ctx) => {
    const d = dbArgs(ctx);
    const first = await cli([...d, "submit", `${TASKS}#echo`, "--unique-key", "invoice:42"]);
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.match(/^Job submitted: (\S+)\n$/)?.[1];
    assert.ok(id, first.stdout);
    const again = await cli([
      ...d,
      "submit",
      `${TASKS}#echo`,
      "--unique-key",
      "invoice:42",
      "-p",
      "n=2",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, "");
    assert.equal(
      again.stdout,
      `Already queued: ${id} holds unique key "invoice:42" in queue "default"; nothing was ` +
        `submitted\n`,
    );
    assert.deepEqual(
      await submit(d, `${TASKS}#echo`, "--unique-key", "invoice:42"),
      { id, inserted: false },
    );
    // The key is held per queue: another queue takes it.
    const elsewhere = await submit(
      d,
      `${TASKS}#echo`,
      "--unique-key",
      "invoice:42",
      "--queue",
      "b",
    );
    assert.equal(elsewhere.inserted, true);
    assert.notEqual(elsewhere.id, id);
    const jobs = JSON.parse(await ok([...d, "list", "--json"]));
    assert.equal(jobs.length, 2);
    const held = jobs.find((j: { id: string }) => j.id === id);
    assert.equal(held.uniqueKey, "invoice:42");
    assert.deepEqual(held.params, {}, "the duplicate's params were not written");
    // Once the job has run, the key is free again.
    const w = await cli([...d, "worker", "--tasks", TASKS, "--once", "--in-process"]);
    assert.equal(w.code, 0, w.stderr);
    const next = await submit(d, `${TASKS}#echo`, "--unique-key", "invoice:42");
    assert.equal(next.inserted, true);
    assert.notEqual(next.id, id);
  },
);

backendTest(
  "gigq queues lists each queue with its state and counts; pause and resume print one line, or JSON",
  async (ctx) => {
    const d = dbArgs(ctx);
    await ok([...d, "migrate"]);
    assert.equal(await ok([...d, "queues"]), "No queues found.\n");
    assert.deepEqual(JSON.parse(await ok([...d, "queues", "--json"])), []);
    await submit(d, `${TASKS}#mail`);
    await submit(d, `${TASKS}#mail`);
    const done = await submit(d, `${TASKS}#echo`);
    assert.equal(
      await ok([...d, "pause", "emails"]),
      `Queue "emails" paused: no worker claims its jobs until it is resumed.\n`,
    );
    // The mail jobs are older, but their queue is paused.
    const w = await cli([...d, "worker", "--tasks", TASKS, "--once", "--in-process"]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(JSON.parse(await ok([...d, "status", done.id, "--json"])).status, "completed");
    // A queue without jobs may be paused; it is listed from then on.
    assert.deepEqual(JSON.parse(await ok([...d, "pause", "later", "--json"])), {
      queue: "later",
      paused: true,
    });
    const zero = { running: 0, completed: 0, failed: 0, cancelled: 0, timeout: 0 };
    const settings = {
      concurrency: null,
      keyConcurrency: null,
      rateLimit: null,
      keepCompleted: 604_800,
      keepFailed: 2_592_000,
    };
    assert.deepEqual(JSON.parse(await ok([...d, "queues", "--json"])), [
      { name: "default", paused: false, settings, pending: 0, ...zero, completed: 1 },
      { name: "emails", paused: true, settings, pending: 2, ...zero },
      { name: "later", paused: true, settings, pending: 0, ...zero },
    ]);
    const keeps = "completed 7 d, failed 30 d";
    assert.equal(
      await ok([...d, "queues"]),
      formatTable(
        [
          ["default", "no", "0", "0", "1", "0", "0", "0", "none", keeps],
          ["emails", "yes", "2", "0", "0", "0", "0", "0", "none", keeps],
          ["later", "yes", "0", "0", "0", "0", "0", "0", "none", keeps],
        ],
        [
          "Queue",
          "Paused",
          "Pending",
          "Running",
          "Completed",
          "Failed",
          "Cancelled",
          "Timeout",
          "Limits",
          "Keeps",
        ],
      ) + "\n",
    );
    // Paused: no worker takes its jobs.
    const once = await cli([...d, "worker", "--tasks", TASKS, "--once", "--in-process"]);
    assert.equal(once.stdout, "No jobs available to process.\n");
    assert.equal(await ok([...d, "resume", "emails"]), `Queue "emails" resumed.\n`);
    assert.deepEqual(JSON.parse(await ok([...d, "resume", "emails", "--json"])), {
      queue: "emails",
      paused: false,
    });
    const after = JSON.parse(await ok([...d, "queues", "--json"]));
    assert.deepEqual(after.map((q: { name: string; paused: boolean }) => [q.name, q.paused]), [
      ["default", false],
      ["emails", false],
      ["later", true],
    ]);
    // Resuming a queue that is not paused is no error.
    assert.deepEqual(JSON.parse(await ok([...d, "resume", "never-paused", "--json"])), {
      queue: "never-paused",
      paused: false,
    });
    const resumed = await cli([...d, "worker", "--tasks", TASKS, "--once", "--in-process"]);
    assert.equal(resumed.stdout, "Processed one job (completed).\n");
  },
);

for (const mode of [["--in-process"], [], ["--workers", "2"]]) {
  const how = mode.length === 0 ? "supervised" : mode.join(" ");
  backendTest(
    `worker --queue (repeatable) claims only from the queues named (${how})`,
    async (ctx) => {
      const d = dbArgs(ctx);
      // Older and of higher priority: a worker of every queue would take it first.
      const other = await submit(d, `${TASKS}#echo`, "--queue", "b", "--priority", "9");
      const a = await submit(d, `${TASKS}#echo`, "--queue", "a");
      const c = await submit(d, `${TASKS}#echo`, "--queue", "c");
      const args = [...d, "worker", "--tasks", TASKS, ...mode, "--queue", "a", "--queue", "c"];
      if (mode[0] !== "--workers") {
        for (let i = 0; i < 2; i++) {
          const r = await cli([...args, "--once"]);
          assert.equal(r.stdout, "Processed one job (completed).\n", r.stderr);
        }
        assert.equal((await cli([...args, "--once"])).stdout, "No jobs available to process.\n");
      } else {
        // A pool runs until a signal.
        const listeners: (() => void)[] = [];
        let stderr = "";
        const running = main([...args, "--polling-interval", "0.05"], {
          stdout: () => {},
          stderr: (t) => stderr += t,
          env: () => undefined,
          cwd: () => REPO,
          isTerminal: false,
          onSignal: (_signal, handler) => {
            listeners.push(handler);
            return () => {};
          },
          exit: () => {},
        });
        const queue = new JobQueue(ctx.target, ctx.options);
        const end = Date.now() + 60_000;
        while ((await queue.stats()).completed < 2) {
          if (Date.now() > end) throw new Error(`the pool never completed a and c: ${stderr}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        queue.close();
        for (const l of listeners) l();
        assert.equal(await running, 0, stderr);
      }
      const statusOf = async (id: string) =>
        JSON.parse(await ok([...d, "status", id, "--json"])).status;
      assert.equal(await statusOf(a.id), "completed");
      assert.equal(await statusOf(c.id), "completed");
      assert.equal(await statusOf(other.id), "pending");
    },
  );
}

/** Writes a job's progress column directly (no handler reports it yet in these tests). */
async function setProgress(ctx: BackendContext, id: string, json: string): Promise<void> {
  if (ctx.backend === "postgres") {
    await withPostgres(ctx.target, async (sql, schema) => {
      await sql.unsafe(`UPDATE "${schema}".gigq_jobs SET progress = $1 WHERE id = $2`, [json, id]);
    });
  } else {
    getConnection(ctx.target, { driver: ctx.driver })
      .prepare("UPDATE gigq_jobs SET progress = ? WHERE id = ?").run(json, id);
  }
}

backendTest("status shows the job's queue, its unique key and its progress", async (ctx) => {
  const d = dbArgs(ctx);
  const plain = await submit(d, `${TASKS}#echo`);
  const keyed = await submit(d, `${TASKS}#mail`, "--unique-key", "welcome:ada");
  const text = await ok([...d, "status", plain.id]);
  assert.match(text, /^Task: echo .*\nQueue: default\nStatus: pending\n/m);
  assert.doesNotMatch(text, /Unique key|Progress/);
  await setProgress(ctx, keyed.id, JSON.stringify({ sent: 3, of: 10 }));
  const keyedText = await ok([...d, "status", keyed.id]);
  assert.match(keyedText, /^Queue: emails$/m);
  assert.match(keyedText, /^Unique key: welcome:ada$/m);
  assert.match(keyedText, /^Progress: \{"sent":3,"of":10\}$/m);
  const json = JSON.parse(await ok([...d, "status", keyed.id, "--json"]));
  assert.deepEqual([json.queue, json.uniqueKey, json.progress], [
    "emails",
    "welcome:ada",
    { sent: 3, of: 10 },
  ]);
});

const BAD_NAMES: [string, RegExp][] = [
  ["", /got ""$/],
  ["   ", /got " {3}"$/],
  ["x".repeat(129), /got "x{129}"$/],
  ["x".repeat(300), /got a text of 300 characters$/],
  ["a\0b", /got "a\\u0000b"$/],
  ["\ud800", /got "\\ud800"$/],
];

backendTest(
  "a bad queue name exits 2 with one line naming where it came from, and changes nothing",
  async (ctx) => {
    const d = dbArgs(ctx);
    const existing = await submit(d, `${TASKS}#echo`, "--queue", "x".repeat(128));
    assert.equal(existing.inserted, true, "128 characters is allowed");
    const before = JSON.stringify([
      JSON.parse(await ok([...d, "list", "--json"])),
      JSON.parse(await ok([...d, "queues", "--json"])),
    ]);
    for (const [bad, got] of BAD_NAMES) {
      const cases: [string[], string][] = [
        [["submit", `${TASKS}#echo`, "--queue", bad], "gigq submit: --queue"],
        [["list", "--queue", bad], "gigq list: --queue"],
        [["stats", "--queue", bad], "gigq stats: --queue"],
        [
          ["worker", "--tasks", TASKS, "--once", "--queue", "ok", "--queue", bad],
          "gigq worker: --queue",
        ],
        [["pause", bad], "gigq pause: <queue>"],
        [["resume", bad], "gigq resume: <queue>"],
      ];
      for (const [args, prefix] of cases) {
        const r = await cli([...d, ...args]);
        const label = `${args[0]} ${JSON.stringify(bad).slice(0, 20)}`;
        assert.equal(r.code, 2, `${label}: ${r.stderr}`);
        assert.equal(r.stdout, "", label);
        const lines = r.stderr.split("\n").filter((l) => l !== "");
        assert.equal(lines.length, 1, label);
        assert.ok(
          lines[0].startsWith(
            `${prefix} must be a queue name of 1 to 128 characters, not blank, without a NUL`,
          ),
          `${label}: ${lines[0]}`,
        );
        assert.match(lines[0], got, label);
      }
    }
    for (
      const [bad, got] of [["", /got ""$/], ["k".repeat(1001), /got a text of 1001/], [
        "a\0b",
        /got "a\\u0000b"$/,
      ]] as const
    ) {
      const r = await cli([...d, "submit", `${TASKS}#echo`, "--unique-key", bad]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^gigq submit: --unique-key must be 1 to 1000 characters, without a NUL/,
      );
      assert.match(r.stderr.trim(), got);
    }
    const after = JSON.stringify([
      JSON.parse(await ok([...d, "list", "--json"])),
      JSON.parse(await ok([...d, "queues", "--json"])),
    ]);
    assert.equal(after, before, "nothing was written");
  },
);

Deno.test("submit with a bad --queue or --unique-key creates no database file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/new.db`;
    for (const args of [["--queue", ""], ["--unique-key", ""]]) {
      const r = await cli(["--db", path, "submit", `${TASKS}#echo`, ...args]);
      assert.equal(r.code, 2, r.stderr);
    }
    assert.equal(existsSync(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

backendTest(
  "pause and resume need an existing queue database: a mistyped --db is not silently created",
  async (ctx) => {
    const target = ctx.backend === "postgres" ? ctx.target : `${ctx.dir}/typo.db`;
    const d = ctx.driver === undefined
      ? ["--db", target]
      : ["--db", target, "--driver", ctx.driver];
    for (const command of ["pause", "resume", "queues"]) {
      const r = await cli([...d, command, ...(command === "queues" ? [] : ["emails"])]);
      assert.equal(r.code, 1, `${command}: ${r.stderr}`);
      assert.match(r.stderr, /no GigQ (database|queue) at/);
    }
    if (ctx.backend !== "postgres") assert.equal(existsSync(target), false);
  },
);

backendTest(
  "gigq configure stores limits and retention, merges later calls, and gigq queues shows them",
  async (ctx) => {
    const d = dbArgs(ctx);
    await ok([...d, "migrate"]);
    assert.equal(
      await ok([...d, "configure", "emails", "--concurrency", "5", "--rate", "100/60"]),
      `Queue "emails": limits: concurrency 5, 100 per 1 min; keeps completed 7 d, failed 30 d.\n`,
    );
    const json = JSON.parse(
      await ok([
        ...d,
        "configure",
        "emails",
        "--key-concurrency",
        "1",
        "--keep-completed",
        "3600",
        "--keep-failed",
        "forever",
        "--json",
      ]),
    );
    assert.deepEqual(json, {
      queue: "emails",
      settings: {
        concurrency: 5,
        keyConcurrency: 1,
        rateLimit: { max: 100, perSeconds: 60 },
        keepCompleted: 3600,
        keepFailed: null,
      },
    });
    // Without options: shown, unchanged.
    assert.equal(
      await ok([...d, "configure", "emails"]),
      `Queue "emails": limits: concurrency 5, 1 per key, 100 per 1 min; keeps completed 1 h, ` +
        `failed forever.\n`,
    );
    const listed = JSON.parse(await ok([...d, "queues", "--json"]));
    assert.deepEqual(listed.map((q: { name: string }) => q.name), ["emails"]);
    assert.equal(listed[0].settings.concurrency, 5);
    assert.match(await ok([...d, "queues"]), /concurrency 5, 1 per key, 100 per 1 min/);
    await ok([...d, "configure", "emails", "--concurrency", "none", "--rate", "none"]);
    assert.match(await ok([...d, "configure", "emails"]), /limits: 1 per key;/);
    // A job's concurrency key, from submit to status.
    const job = await submit(d, `${TASKS}#mail`, "--concurrency-key", "tenant:7");
    assert.match(await ok([...d, "status", job.id]), /Concurrency key: tenant:7/);
    // Bad values: exit 2, one line naming the option, nothing changed.
    const before = await ok([...d, "queues", "--json"]);
    for (
      const [args, message] of [
        [["--concurrency", "0"], /--concurrency must be a whole number from 1 to 1000000/],
        [["--concurrency", "lots"], /--concurrency must be a whole number/],
        [["--rate", "100"], /--rate must be MAX\/SECONDS/],
        [["--rate", "5/0"], /--rate's SECONDS must be a number of seconds from 0.001/],
        [["--keep-completed", "-5"], /--keep-completed must be a whole number of seconds/],
      ] as [string[], RegExp][]
    ) {
      const r = await cli([...d, "configure", "emails", ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const bad = await cli([...d, "configure", "", "--concurrency", "1"]);
    assert.equal(bad.code, 2);
    assert.equal(await ok([...d, "queues", "--json"]), before, "nothing was written");
  },
);

Deno.test("gigq worker --prune-interval refuses a bad value with one line, before opening", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/new.db`;
    const r = await cli(["--db", path, "worker", "--tasks", TASKS, "--prune-interval", "0"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--prune-interval must be a number of seconds from 1 to 86400/);
    assert.equal(existsSync(path), false);
    const once = await cli([
      "--db",
      path,
      "worker",
      "--tasks",
      TASKS,
      "--once",
      "--in-process",
      "--no-prune",
      "--prune-interval",
      "30",
    ]);
    assert.equal(once.code, 0, once.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
