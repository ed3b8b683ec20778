/**
 * `gigq mcp`: the real process, driven by the MCP SDK's own client over
 * stdio, with the `gigq` task's permissions (the SDK needs none of its own).
 * Each tool's effect is checked in the database through a JobQueue opened on
 * the same file.
 */
import assert from "node:assert/strict";
import { Client } from "npm:@modelcontextprotocol/sdk@1/client";
// @ts-types="npm:@modelcontextprotocol/sdk@1/client/stdio"
import { StdioClientTransport } from "npm:@modelcontextprotocol/sdk@1/client/stdio.js";
import { JobQueue, Worker } from "../mod.ts";
import { closing } from "../src/_closers.ts";
import { postgresSchema } from "./_backends.ts";
import { tempDb } from "./_helpers.ts";
import { cli, REPO, taskFlags, TASKS } from "./cli/_cli.ts";
import { boom, echo } from "./cli/_tasks.ts";

/** The flags of the repository's worker task, which the worker hint shows. */
const WORKER_FLAGS = taskFlags("node").join(" ");

const TOOL_NAMES = [
  "gigq_submit_job",
  "gigq_get_job_status",
  "gigq_get_job_result",
  "gigq_list_jobs",
  "gigq_queue_stats",
  "gigq_cancel_job",
  "gigq_requeue_job",
  "gigq_submit_workflow",
  "gigq_why",
  "gigq_list_queues",
  "gigq_pause_queue",
  "gigq_resume_queue",
];

/** A tool call's outcome: its report (structured content) or its error text. */
interface Outcome {
  isError: boolean;
  text: string;
  report: Record<string, unknown>;
}

/** A running `gigq mcp` and the SDK client connected to it. */
interface Session {
  client: Client;
  /** Calls a tool; the call must succeed; resolves to its report. */
  call(name: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Calls a tool; the call must fail as a tool error; resolves to its message. */
  fail(name: string, args?: Record<string, unknown>): Promise<string>;
  /** What the server wrote to stderr so far. */
  stderr(): string;
}

/** Starts `gigq --db <db> mcp` in `cwd`, runs `fn` with a connected client, then closes it. */
async function withServer(
  db: string,
  fn: (s: Session) => Promise<void>,
  cwd = REPO,
): Promise<void> {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", ...taskFlags("node"), `${REPO}/src/cli/main.ts`, "--db", db, "mcp"],
    cwd,
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "" },
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
  const client = new Client({ name: "gigq-test", version: "1.0.0" });
  await client.connect(transport);
  const run = async (name: string, args: Record<string, unknown> = {}): Promise<Outcome> => {
    const result = await client.callTool({ name, arguments: args });
    const content = result.content as { type: string; text: string }[];
    assert.equal(content[0].type, "text");
    return {
      isError: result.isError === true,
      text: content[0].text,
      report: result.structuredContent as Record<string, unknown>,
    };
  };
  try {
    await fn({
      client,
      async call(name, args) {
        const r = await run(name, args);
        assert.equal(r.isError, false, `${name} failed: ${r.text}`);
        assert.deepEqual(JSON.parse(r.text), r.report, "the text is the report as JSON");
        return r.report;
      },
      async fail(name, args) {
        const r = await run(name, args);
        assert.equal(r.isError, true, `${name} should have failed, got ${r.text}`);
        assert.ok(r.text.startsWith(`${name}: `), r.text);
        return r.text;
      },
      stderr: () => stderr,
    });
  } finally {
    await client.close();
  }
}

/** A temp database, and a JobQueue on it once `fn` is done with the server. */
async function withDb(fn: (db: string, dir: string) => Promise<void>): Promise<void> {
  const tmp = await tempDb();
  try {
    await fn(tmp.path, tmp.dir);
  } finally {
    await tmp.cleanup();
  }
}

/** Runs `fn` on a JobQueue opened on `db`, and closes it. */
async function inDb<T>(db: string, fn: (queue: JobQueue) => Promise<T>): Promise<T> {
  const queue = new JobQueue(db);
  try {
    return await fn(queue);
  } finally {
    queue.close();
  }
}

Deno.test("gigq mcp: initialize, then twelve tools, each with a described JSON Schema input", async () => {
  await withDb(async (db) => {
    await withServer(db, async ({ client }) => {
      assert.equal(client.getServerVersion()?.name, "gigq");
      assert.match(client.getInstructions() ?? "", /never starts one/);
      assert.ok(client.getServerCapabilities()?.tools);
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name), TOOL_NAMES);
      for (const tool of tools) {
        assert.ok((tool.description ?? "").length > 20, `${tool.name} has a description`);
        assert.equal(tool.inputSchema.type, "object");
        for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
          const description = (schema as { description?: string }).description ?? "";
          assert.ok(description.length > 5, `${tool.name}.${field} has a description`);
        }
        assert.equal(tool.annotations?.readOnlyHint, /get|list|stats|why/.test(tool.name));
        assert.equal(tool.annotations?.destructiveHint, tool.name === "gigq_cancel_job");
      }
    });
    // Listing changed nothing: no database was created.
    await assert.rejects(Deno.stat(db), Deno.errors.NotFound);
  });
});

Deno.test("gigq_submit_job: a job for module#export with params and options, in the database", async () => {
  await withDb(async (db) => {
    await withServer(db, async ({ call }) => {
      const r = await call("gigq_submit_job", {
        task: "./tests/cli/_tasks.ts#echo",
        params: { n: 7, tags: ["a"] },
        priority: 5,
        maxAttempts: 2,
        queue: "emails",
        description: "from the MCP test",
        uniqueKey: "echo:7",
      });
      assert.equal(r.inserted, true);
      assert.equal(r.status, "pending");
      assert.equal(r.reason, "no-worker");
      assert.match(r.note as string, /never starts a worker/);
      assert.equal(
        r.workerCommand,
        `deno run ${WORKER_FLAGS} ${REPO}/src/cli/main.ts --db ${db} worker --tasks ${TASKS}`,
      );
      const job = await inDb(db, (q) => q.getStatus(r.id as string));
      assert.ok(job);
      assert.equal(job.task, "echo");
      assert.equal(job.module, "./tests/cli/_tasks.ts#echo");
      assert.deepEqual(job.params, { n: 7, tags: ["a"] });
      assert.equal(job.priority, 5);
      assert.equal(job.maxAttempts, 2);
      assert.equal(job.queue, "emails");
      assert.equal(job.description, "from the MCP test");
      // The same unique key: nothing new, the holder's id.
      const again = await call("gigq_submit_job", {
        task: "./tests/cli/_tasks.ts#echo",
        queue: "emails",
        uniqueKey: "echo:7",
      });
      assert.equal(again.inserted, false);
      assert.equal(again.id, r.id);
      assert.match(again.message as string, /Already queued/);
      assert.equal((await inDb(db, (q) => q.stats())).total, 1);
      // A delay: pending, waiting for its start time.
      const later = await call("gigq_submit_job", { task: `${TASKS}#echo`, delay: 3600 });
      assert.equal(later.reason, "waiting");
      const delayed = await inDb(db, (q) => q.getStatus(later.id as string));
      assert.ok(Date.parse(delayed!.runAt) > Date.now() + 3_500_000);
    });
  });
});

Deno.test("gigq_submit_job: a bad module path, export or option is a tool error, and nothing is submitted", async () => {
  await withDb(async (db, dir) => {
    await withServer(db, async ({ call, fail }) => {
      assert.match(
        await fail("gigq_submit_job", { task: "./nope.ts#greet" }),
        /cannot import "\.\/nope\.ts": .*nope\.ts/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: "./tests/cli/_tasks.ts#missing" }),
        /has no export "missing"; its tasks are: .*\becho\b/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: "./tests/cli/_tasks.ts#notATask" }),
        /is 42, not a task made by task\(\)/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: "tasks.ts" }),
        /expected <module>#<export>, for example \.\/tasks\.ts#greet, got "tasks\.ts"/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, priority: "high" }),
        /priority must be an integer, got "high"/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, priority: 2 ** 40 }),
        /priority/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, backoff: "linear" }),
        /backoff must be one of fixed, exponential, got "linear"/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, delay: 5, runAt: "2030-01-01" }),
        /give delay or runAt, not both/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, dependsOn: ["nope"] }),
        /its dependency "nope" does not exist/,
      );
      assert.match(
        await fail("gigq_submit_job", { task: `${TASKS}#echo`, colour: "red" }),
        /unknown argument "colour"; allowed are: task, params, /,
      );
      assert.match(await fail("gigq_submit_job", {}), /task is required/);
      // No database was created by any of these.
      await assert.rejects(Deno.stat(db), Deno.errors.NotFound);
      // And the server still answers.
      const r = await call("gigq_submit_job", { task: `${TASKS}#echo` });
      assert.equal(r.inserted, true);
    });
    assert.ok(dir);
  });
});

Deno.test("gigq_get_job_status: the job in full; an unknown id is a tool error", async () => {
  await withDb(async (db) => {
    const id = await inDb(db, (q) => echo.submit(q, { n: 1 }));
    await withServer(db, async ({ call, fail }) => {
      const r = await call("gigq_get_job_status", { id });
      assert.equal(r.id, id);
      assert.equal(r.status, "pending");
      assert.equal(r.task, "echo");
      assert.deepEqual(r.params, { n: 1 });
      assert.deepEqual(r.executions, []);
      assert.match(
        await fail("gigq_get_job_status", { id: "0190-nope" }),
        /Job "0190-nope" not found/,
      );
      assert.match(await fail("gigq_get_job_status", { id: 42 }), /id must be a string, got 42/);
      assert.match(await fail("gigq_get_job_status", { id: " " }), /id must not be blank/);
    });
  });
});

Deno.test("gigq_get_job_result: the result once completed, null with the status before", async () => {
  await withDb(async (db) => {
    const [done, waiting, failed] = await inDb(db, async (q) => [
      await echo.submit(q, { n: 0 }),
      await echo.submit(q, { n: 1 }, { runAt: Date.now() + 3_600_000 }),
      await boom.submit(q, {}),
    ]);
    const worker = new Worker(db, { tasks: [echo, boom], logger: () => {} });
    try {
      assert.equal(await worker.processOne(), true);
      assert.equal(await worker.processOne(), true);
    } finally {
      worker.close();
    }
    await withServer(db, async ({ call, fail }) => {
      assert.deepEqual(await call("gigq_get_job_result", { id: done }), {
        id: done,
        status: "completed",
        result: { n: 0 },
      });
      const pending = await call("gigq_get_job_result", { id: waiting });
      assert.equal(pending.status, "pending");
      assert.equal(pending.result, null);
      assert.match(pending.message as string, /the job is pending, and only a completed job/);
      const ended = await call("gigq_get_job_result", { id: failed });
      assert.equal(ended.status, "failed");
      assert.match(ended.message as string, /its last error: .*kaboom/);
      assert.match(await fail("gigq_get_job_result", { id: "nope" }), /Job "nope" not found/);
    });
  });
});

Deno.test("gigq_list_jobs: newest first, by status, queue and limit; a bad status is a tool error", async () => {
  await withDb(async (db) => {
    const [a, b, c] = await inDb(db, async (q) => {
      const ids = [
        await echo.submit(q, { n: 1 }),
        await echo.submit(q, { n: 2 }, { queue: "emails" }),
        await echo.submit(q, { n: 3 }),
      ];
      await q.cancel(ids[2]);
      return ids;
    });
    await withServer(db, async ({ call, fail }) => {
      const all = await call("gigq_list_jobs");
      assert.equal(all.count, 3);
      assert.deepEqual((all.jobs as { id: string }[]).map((j) => j.id), [c, b, a]);
      const pending = await call("gigq_list_jobs", { status: "pending" });
      assert.deepEqual((pending.jobs as { id: string }[]).map((j) => j.id), [b, a]);
      const emails = await call("gigq_list_jobs", { queue: "emails" });
      assert.deepEqual((emails.jobs as { id: string }[]).map((j) => j.id), [b]);
      assert.equal((await call("gigq_list_jobs", { limit: 1 })).count, 1);
      assert.match(
        await fail("gigq_list_jobs", { status: "done" }),
        /status must be one of pending, running, completed, failed, cancelled, timeout, got "done"/,
      );
      assert.match(await fail("gigq_list_jobs", { limit: -1 }), /limit must be from 0/);
    });
  });
});

Deno.test("gigq_queue_stats: counts by status, of all or one queue, with a worker note", async () => {
  await withDb(async (db) => {
    await inDb(db, async (q) => {
      await echo.submit(q, { n: 1 });
      await echo.submit(q, { n: 2 }, { queue: "emails" });
      await q.cancel(await echo.submit(q, { n: 3 }));
    });
    await withServer(db, async ({ call, fail }) => {
      const all = await call("gigq_queue_stats");
      assert.deepEqual(all.stats, {
        pending: 2,
        running: 0,
        completed: 0,
        failed: 0,
        cancelled: 1,
        timeout: 0,
        total: 3,
      });
      assert.match(all.note as string, /2 pending and none running.*gigq_why/);
      const emails = await call("gigq_queue_stats", { queue: "emails" });
      assert.equal((emails.stats as { total: number }).total, 1);
      assert.equal(emails.queue, "emails");
      assert.match(await fail("gigq_queue_stats", { queue: "x".repeat(200) }), /queue must be/);
    });
  });
});

Deno.test("gigq_cancel_job: cancels a pending job; an ended or unknown one is a tool error", async () => {
  await withDb(async (db) => {
    const id = await inDb(db, (q) => echo.submit(q, {}));
    await withServer(db, async ({ call, fail }) => {
      assert.deepEqual(await call("gigq_cancel_job", { id }), { id, cancelled: true });
      assert.equal((await inDb(db, (q) => q.getStatus(id)))?.status, "cancelled");
      assert.match(
        await fail("gigq_cancel_job", { id }),
        /cannot cancel job .*: it is cancelled, and only pending or running jobs can be cancelled/,
      );
      assert.match(await fail("gigq_cancel_job", { id: "nope" }), /Job "nope" not found/);
    });
  });
});

Deno.test("gigq_requeue_job: a cancelled job back to pending; a pending one is a tool error", async () => {
  await withDb(async (db) => {
    const [cancelled, pending] = await inDb(db, async (q) => {
      const ids = [await echo.submit(q, {}), await echo.submit(q, {})];
      await q.cancel(ids[0]);
      return ids;
    });
    await withServer(db, async ({ call, fail }) => {
      const r = await call("gigq_requeue_job", { id: cancelled });
      assert.equal(r.requeued, true);
      assert.equal(r.reason, "no-worker");
      assert.equal((await inDb(db, (q) => q.getStatus(cancelled)))?.status, "pending");
      assert.match(
        await fail("gigq_requeue_job", { id: pending }),
        /cannot requeue job .*: it is pending, and only failed, timed-out or cancelled jobs/,
      );
      assert.match(await fail("gigq_requeue_job", { id: "nope" }), /Job "nope" not found/);
    });
  });
});

Deno.test("gigq_submit_workflow: steps with dependencies in one transaction; a bad one adds nothing", async () => {
  await withDb(async (db) => {
    await withServer(db, async ({ call, fail }) => {
      const r = await call("gigq_submit_workflow", {
        name: "fan",
        steps: [
          // Out of order: the tool orders them.
          { id: "merge", task: `${TASKS}#echo`, dependsOn: ["left", "right"] },
          { id: "left", task: `${TASKS}#echo`, params: { side: "l" }, dependsOn: ["source"] },
          { id: "right", task: `${TASKS}#echo`, params: { side: "r" }, dependsOn: ["source"] },
          { id: "source", task: "./tests/cli/_tasks.ts#value", params: { value: 1 }, priority: 3 },
        ],
      });
      assert.equal(r.workflow, "fan");
      const jobs = r.jobs as { step: string; id: string; name: string }[];
      assert.deepEqual(jobs.map((j) => j.step), ["source", "left", "right", "merge"]);
      const id = Object.fromEntries(jobs.map((j) => [j.step, j.id]));
      const details = await inDb(
        db,
        async (q) =>
          Object.fromEntries(
            await Promise.all(jobs.map(async (j) => [j.step, await q.getStatus(j.id)])),
          ),
      );
      assert.deepEqual(details.merge.dependencies, [id.left, id.right]);
      assert.deepEqual(details.left.dependencies, [id.source]);
      assert.deepEqual(details.left.params, { side: "l" });
      assert.equal(details.source.task, "value");
      assert.equal(details.source.priority, 3);
      assert.match(r.workerCommand as string, /--tasks .*tests\/cli\/_tasks\.ts$/);
      const before = (await inDb(db, (q) => q.stats())).total;
      assert.equal(before, 4);

      // A step may depend on a job already submitted, by its id.
      const next = await call("gigq_submit_workflow", {
        name: "after",
        steps: [{ id: "tail", task: `${TASKS}#echo`, dependsOn: [id.merge] }],
      });
      const tail = (next.jobs as { id: string }[])[0].id;
      assert.deepEqual((await inDb(db, (q) => q.getStatus(tail)))?.dependencies, [id.merge]);

      const bad: [Record<string, unknown>, RegExp][] = [
        [{ name: "w", steps: [] }, /steps must have at least 1 item, got 0/],
        [
          {
            name: "w",
            steps: [{ id: "a", task: `${TASKS}#echo`, dependsOn: ["b"] }, {
              id: "b",
              task: `${TASKS}#echo`,
              dependsOn: ["a"],
            }],
          },
          /dependsOn form a cycle, so none of these could ever run: "a", "b"/,
        ],
        [
          {
            name: "w",
            steps: [{ id: "a", task: `${TASKS}#echo` }, { id: "a", task: `${TASKS}#echo` }],
          },
          /steps\[1\]\.id "a" is the id of an earlier step/,
        ],
        [
          {
            name: "w",
            steps: [{ id: "a", task: `${TASKS}#echo` }, {
              id: "b",
              task: `${TASKS}#nope`,
              dependsOn: ["a"],
            }],
          },
          /steps\[1\] \("b"\): .* has no export "nope"/,
        ],
        [
          {
            name: "w",
            steps: [{ id: "a", task: `${TASKS}#echo` }, {
              id: "b",
              task: `${TASKS}#echo`,
              dependsOn: ["a", "0190-gone"],
            }],
          },
          /"0190-gone"/,
        ],
        [{ name: "w", steps: [{ task: `${TASKS}#echo` }] }, /steps\[0\]\.id is required/],
        [{ name: "w", steps: ["a"] }, /steps\[0\] must be an object, got "a"/],
        [
          { name: "w", steps: [{ id: "a", task: `${TASKS}#echo`, maxAttempts: 0 }] },
          /steps\[0\]\.maxAttempts must be from 1/,
        ],
      ];
      for (const [args, message] of bad) {
        assert.match(await fail("gigq_submit_workflow", args), message);
      }
      assert.equal((await inDb(db, (q) => q.stats())).total, before + 1, "nothing more was added");
    });
  });
});

Deno.test("gigq_why: why a job waits, in one line", async () => {
  await withDb(async (db) => {
    const [ready, later] = await inDb(db, async (q) => [
      await echo.submit(q, {}),
      await echo.submit(q, {}, { runAt: Date.now() + 3_600_000 }),
    ]);
    await withServer(db, async ({ call, fail }) => {
      const r = await call("gigq_why", { id: ready });
      assert.equal(r.reason, "no-worker");
      assert.match(r.message as string, /no worker has ever run on this database/);
      assert.equal((await call("gigq_why", { id: later })).reason, "waiting");
      assert.match(await fail("gigq_why", { id: "nope" }), /not found/);
    });
  });
});

Deno.test("gigq_list_queues, gigq_pause_queue, gigq_resume_queue: the stored pause, seen by the queue", async () => {
  await withDb(async (db) => {
    await inDb(db, (q) => echo.submit(q, {}, { queue: "emails" }));
    await withServer(db, async ({ call, fail }) => {
      assert.deepEqual(await call("gigq_pause_queue", { queue: "emails" }), {
        queue: "emails",
        paused: true,
      });
      assert.equal(
        (await inDb(db, (q) => q.queues())).find((q) => q.name === "emails")?.paused,
        true,
      );
      const listed = (await call("gigq_list_queues")).queues as {
        name: string;
        paused: boolean;
        pending: number;
        settings: { keepCompleted: number | null };
      }[];
      const emails = listed.find((q) => q.name === "emails");
      assert.equal(emails?.paused, true);
      assert.equal(emails?.pending, 1);
      assert.deepEqual(await call("gigq_resume_queue", { queue: "emails" }), {
        queue: "emails",
        paused: false,
      });
      assert.equal(
        (await inDb(db, (q) => q.queues())).find((q) => q.name === "emails")?.paused,
        false,
      );
      assert.match(await fail("gigq_pause_queue", { queue: "" }), /queue must not be blank/);
      assert.match(await fail("gigq_resume_queue", {}), /queue is required/);
      assert.match(
        await fail("gigq_list_queues", { all: true }),
        /unknown argument "all"; allowed are: none/,
      );
    });
  });
});

Deno.test("gigq mcp: without a database, the tools that read say so and create nothing", async () => {
  await withDb(async (db) => {
    await withServer(db, async ({ client, fail }) => {
      for (
        const [name, args] of [
          ["gigq_list_jobs", {}],
          ["gigq_queue_stats", {}],
          ["gigq_get_job_status", { id: "x" }],
          ["gigq_why", { id: "x" }],
          ["gigq_cancel_job", { id: "x" }],
          ["gigq_pause_queue", { queue: "q" }],
        ] as const
      ) {
        assert.match(await fail(name, args), /no GigQ database at .*jobs\.db \(submit a job/);
      }
      // An unknown tool is a protocol error, and the server goes on.
      await assert.rejects(
        client.callTool({ name: "gigq_nope", arguments: {} }),
        /Unknown tool "gigq_nope"/,
      );
      assert.equal((await client.listTools()).tools.length, 12);
    });
    await assert.rejects(Deno.stat(db), Deno.errors.NotFound);
  });
});

Deno.test("gigq mcp: a task module that prints as it is imported does not break the protocol", async () => {
  await withDb(async (db, dir) => {
    await Deno.writeTextFile(
      `${dir}/noisy.ts`,
      `import { task } from ${JSON.stringify(`${REPO}/mod.ts`)};
console.log("hello from noisy.ts");
console.info("info from noisy.ts");
export const shout = task("shout", () => "HI");
`,
    );
    await withServer(db, async ({ call, stderr }) => {
      const r = await call("gigq_submit_job", { task: "./noisy.ts#shout" });
      assert.equal((await inDb(db, (q) => q.getStatus(r.id as string)))?.task, "shout");
      assert.match(stderr(), /hello from noisy\.ts/);
      assert.equal(
        r.workerCommand,
        `deno run ${WORKER_FLAGS} ${REPO}/src/cli/main.ts --db ${db} worker --tasks ${dir}/noisy.ts`,
      );
    }, dir);
  });
});

const pg = postgresSchema();
Deno.test({
  name: "[postgres] gigq mcp: submit, status and why on a PostgreSQL URL",
  ignore: pg === undefined,
  fn: async () => {
    try {
      await withServer(pg!.target, async ({ call, fail }) => {
        assert.match(await fail("gigq_list_jobs"), /no GigQ queue at postgres:\/\//);
        const r = await call("gigq_submit_job", { task: `${TASKS}#echo`, params: { n: 9 } });
        assert.equal(r.inserted, true);
        const status = await call("gigq_get_job_status", { id: r.id });
        assert.deepEqual(status.params, { n: 9 });
        assert.equal(status.status, "pending");
        assert.equal((await call("gigq_why", { id: r.id })).reason, "no-worker");
        const queue = new JobQueue(pg!.target);
        try {
          assert.equal((await queue.getStatus(r.id as string))?.task, "echo");
        } finally {
          queue.close();
          await closing();
        }
      });
    } finally {
      await pg!.drop();
    }
  },
});

Deno.test("gigq mcp: when the client closes stdin, the calls in progress are answered, then it exits 0; stdout carries only the protocol", async () => {
  await withDb(async (db) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...taskFlags("node"), `${REPO}/src/cli/main.ts`, "--db", db, "mcp"],
      cwd: REPO,
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const messages = [
      {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "pipe", version: "1" },
        },
      },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "gigq_submit_job", arguments: { task: `${TASKS}#echo` } },
      },
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "gigq_queue_stats", arguments: {} },
      },
      ...[4, 5, 6, 7, 8].map((id) => ({
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "gigq_submit_job", arguments: { task: `${TASKS}#echo`, params: { id } } },
      })),
    ];
    const writer = child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(messages.map((m) => JSON.stringify(m) + "\n").join("")),
    );
    await writer.close();
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(stderr, "");
    const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "");
    const replies = lines.map((l) =>
      JSON.parse(l) as { id: number; result?: { isError?: boolean } }
    );
    assert.deepEqual(replies.map((r) => r.id).sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(replies.every((r) => r.result !== undefined));
    const submitted = replies.find((r) => r.id === 2)!.result as { isError?: boolean };
    assert.notEqual(submitted.isError, true);
    assert.equal((await inDb(db, (q) => q.stats())).pending, 6);
  });
});

Deno.test("gigq mcp: --help says how a client starts it; --json is a usage error", async () => {
  const help = await cli(["mcp", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /gigq mcp: serve the queue's tools to an AI assistant/);
  assert.match(help.stdout, /deno run -A jsr:@gigq\/gigq\/cli --db \/path\/to\/jobs\.db mcp/);
  const top = await cli(["--help"]);
  assert.match(top.stdout, /\n {2}mcp +serve the queue's tools/);
  const json = await cli(["mcp", "--json"]);
  assert.equal(json.code, 2);
  assert.match(
    json.stderr,
    /gigq mcp: --json does not apply: the output of gigq mcp is the MCP protocol/,
  );
});
