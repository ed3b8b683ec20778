/** The CLI on a PostgreSQL URL given in `--db` or `GIGQ_DB`. */
import assert from "node:assert/strict";
import { postgresTest, schemaExists } from "../_backends.ts";
import { cli, cliProcess, ok, TASKS } from "./_cli.ts";

postgresTest(
  "commands that read or change jobs find no queue in a new schema, and create none",
  async ({ target }) => {
    for (
      const args of [
        ["list"],
        ["stats"],
        ["status", "0190-x"],
        ["cancel", "x"],
        ["clear"],
        ["queues"],
        ["pause", "emails"],
        ["resume", "emails"],
      ]
    ) {
      const r = await cli(["--db", target, ...args]);
      assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /no GigQ queue at postgres:\/\/.*schema=gigq_test_/);
      assert.match(r.stderr, /gigq migrate/);
    }
    assert.equal(await schemaExists(target), false);
  },
);

postgresTest(
  "submit, worker, status, list, stats and why work on a URL from --db or GIGQ_DB",
  async ({ target }) => {
    const id = (await ok(["--db", target, "submit", `${TASKS}#echo`, "-p", "n=7"])).trim()
      .replace(/^Job submitted: /, "");
    assert.match(id, /^[0-9a-f-]{36}$/);
    const before = JSON.parse(await ok(["--db", target, "stats", "--json"]));
    assert.equal(before.pending, 1);
    // The supervised worker: the handler runs in a Web Worker that opens the URL itself.
    const w = await cli(["worker", "--tasks", TASKS, "--once"], { GIGQ_DB: target });
    assert.equal(w.code, 0, w.stderr);
    const status = JSON.parse(await ok(["--db", target, "status", id, "--json"]));
    assert.equal(status.status, "completed");
    assert.deepEqual(status.result, { n: 7 });
    const list = JSON.parse(await ok(["--db", target, "list", "--json"]));
    assert.deepEqual(list.map((j: { id: string }) => j.id), [id]);
    assert.match(await ok(["--db", target, "why", id]), /completed/);
  },
);

postgresTest(
  "--driver with a URL is a usage error, and the password never appears in messages",
  async ({ target }) => {
    const r = await cli(["--db", target, "--driver", "ffi", "list"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--driver applies to SQLite files only/);
    const withPassword = target.replace("postgres://postgres@", "postgres://postgres:hunter2@")
      .replace(/127\.0\.0\.1:\d+|localhost:\d+/, "127.0.0.1:1");
    const refused = await cli(["--db", withPassword, "list"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Cannot open postgres:\/\/postgres@127\.0\.0\.1:1\//);
    assert.match(refused.stderr, /is the server running/);
    assert.doesNotMatch(refused.stderr, /hunter2/);
  },
);

postgresTest(
  "the gigq task's permissions are enough for a PostgreSQL queue",
  async ({ target }) => {
    const sub = await cliProcess("postgres", ["--db", target, "submit", `${TASKS}#echo`]);
    assert.equal(sub.code, 0, sub.stderr);
    const run = await cliProcess("postgres", [
      "--db",
      target,
      "worker",
      "--tasks",
      TASKS,
      "--once",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const stats = await cliProcess("postgres", ["--db", target, "stats", "--json"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(JSON.parse(stats.stdout).completed, 1);
  },
);
