/**
 * copyQueue() and `gigq copy`: a queue with jobs in every state moved
 * between SQLite files and PostgreSQL schemas comes out the same (a running
 * job as an abandoned attempt); a refused copy writes nothing.
 */
import assert from "node:assert/strict";
import { closeConnections, copyQueue, Job, type JobDetails, JobQueue } from "../mod.ts";
import { cascadeMessage, type Claimed, type Outcome } from "../src/_backend.ts";
import { closing } from "../src/_closers.ts";
import { queueInternals } from "../src/_queue_backend.ts";
import { abandonedMessage } from "../src/copy.ts";
import {
  backendTest,
  POSTGRES_URL,
  postgresSchema,
  postgresTest,
  schemaExists,
} from "./_backends.ts";
import { cli } from "./cli/_cli.ts";
import { dbHash, FakeClock, tempDb } from "./_helpers.ts";

const WORKER = "worker-a";

/** The queue's backend, to claim and end attempts at exact times (no handler runs). */
async function backendOf(queue: JobQueue) {
  return await queueInternals("test", queue).backend();
}

/** Claims the ready job of `task` as worker-a, with a 30 s lease. */
async function claim(queue: JobQueue, task: string, now: number): Promise<Claimed> {
  const [job] = await (await backendOf(queue)).step({
    claimer: {
      workerId: WORKER,
      owner: "owner-a",
      tasks: [task],
      queues: undefined,
      leaseMs: 30_000,
      graceMs: 5000,
    },
    outcomes: [],
    limit: 1,
    now,
  });
  assert.ok(job, `a ${task} job was claimed`);
  return job;
}

/** Records how a claimed attempt ended. */
async function end(queue: JobQueue, outcome: Outcome): Promise<void> {
  await (await backendOf(queue)).step({
    claimer: {
      workerId: WORKER,
      owner: "owner-a",
      tasks: [],
      queues: undefined,
      leaseMs: 30_000,
      graceMs: 5000,
    },
    outcomes: [outcome],
    limit: 0,
    now: outcome.at,
  });
}

interface Filled {
  ids: Record<string, string>;
  /** Jobs a copy changes: the running ones and the child of the one on its last attempt. */
  changed: Set<string>;
}

/**
 * Fills `queue` with a job in every state: completed (with a result),
 * failed after a retry, cancelled by a user and by a cascade (two levels),
 * timed out, delayed, released by a stopping worker, a workflow (a
 * completed parent with a ready child, a pending parent with a blocked
 * child), and two running jobs (one on its last attempt, with a child).
 */
async function fill(queue: JobQueue, clock: FakeClock): Promise<Filled> {
  const ids: Record<string, string> = {};
  const submit = async (key: string, init: ConstructorParameters<typeof Job>[0]) => {
    ids[key] = await queue.submit(new Job(init));
    clock.jump(7);
  };
  await submit("done", { task: "t_done", params: { a: [1, "two", null] }, priority: 3 });
  let c = await claim(queue, "t_done", clock.now());
  clock.jump(1500);
  await end(queue, { kind: "completed", job: c, result: '{"ok":true,"n":1.5}', at: clock.now() });

  await submit("failed", { task: "t_fail", maxAttempts: 2, description: "fails twice" });
  for (let i = 1; i <= 2; i++) {
    c = await claim(queue, "t_fail", clock.now());
    clock.jump(200);
    const error = `Error: attempt ${i} broke`;
    await end(queue, {
      kind: "failed",
      job: c,
      error,
      detail: `${error}\n    at handler (tasks.ts:1:1)`,
      permanent: false,
      at: clock.now(),
    });
  }

  await submit("root", { task: "t_root", maxAttempts: 1 });
  await submit("child", { task: "t_child", dependencies: [ids.root] });
  await submit("grandchild", { task: "t_child", dependencies: [ids.child], module: "./x.ts#c" });
  c = await claim(queue, "t_root", clock.now());
  await end(queue, {
    kind: "failed",
    job: c,
    error: "boom",
    detail: "boom",
    permanent: true,
    at: clock.now(),
  });

  await submit("cancelled", { task: "t_cancel" });
  assert.equal(await queue.cancel(ids.cancelled), true);

  await submit("timeout", { task: "t_timeout", maxAttempts: 1, timeout: 2 });
  c = await claim(queue, "t_timeout", clock.now());
  clock.jump(2000);
  await end(queue, {
    kind: "timeout",
    job: c,
    error: "Job timed out after 2 seconds",
    detail: "Job timed out after 2 seconds",
    permanent: false,
    at: clock.now(),
  });

  await submit("later", { task: "t_later", runAt: clock.now() + 3_600_000 });

  await submit("released", { task: "t_release" });
  c = await claim(queue, "t_release", clock.now());
  await end(queue, {
    kind: "released",
    job: c,
    reason: "Released: worker stopped",
    at: clock.now(),
  });

  await submit("parent", { task: "t_parent" });
  c = await claim(queue, "t_parent", clock.now());
  await end(queue, { kind: "completed", job: c, result: "5", at: clock.now() });
  const waiting = new Job({ task: "t_wait" });
  const both = new Job({ task: "t_ready", dependencies: [ids.parent, waiting], retryDelay: 4 });
  [ids.waiting, ids.ready] = await queue.submitMany([waiting, both]);
  clock.jump(7);
  await submit("blocked", { task: "t_blocked", dependencies: [ids.waiting] });
  await submit("readyChild", { task: "t_ready_child", dependencies: [ids.parent] });

  await submit("running", { task: "t_run", maxAttempts: 3, retryDelay: 10 });
  await claim(queue, "t_run", clock.now());
  await submit("last", { task: "t_last", maxAttempts: 1 });
  await submit("lastChild", { task: "t_last_child", dependencies: [ids.last] });
  await claim(queue, "t_last", clock.now());
  clock.jump(1000);
  return { ids, changed: new Set([ids.running, ids.last, ids.lastChild]) };
}

/** Every job as listJobs() and getStatus() report it, newest first. */
async function snapshot(queue: JobQueue): Promise<{ list: unknown[]; details: JobDetails[] }> {
  const list = await queue.listJobs({ limit: 1000 });
  const details: JobDetails[] = [];
  for (const j of list) details.push((await queue.getStatus(j.id))!);
  return { list, details };
}

/** A snapshot without the jobs of `skip`. */
function without(s: { list: unknown[]; details: JobDetails[] }, skip: Set<string>) {
  return {
    list: s.list.filter((j) => !skip.has((j as { id: string }).id)),
    details: s.details.filter((j) => !skip.has(j.id)),
  };
}

/** What the copy made of the running jobs (copied at `now`). */
async function checkAbandoned(queue: JobQueue, f: Filled, now: number): Promise<void> {
  const at = new Date(now).toISOString();
  const run = (await queue.getStatus(f.ids.running))!;
  assert.equal(run.status, "pending");
  assert.equal(run.attempts, 1, "the abandoned attempt counts");
  assert.equal(run.workerId, null);
  assert.equal(run.leaseUntil, null);
  assert.equal(run.error, abandonedMessage(WORKER));
  assert.equal(run.runAt, new Date(now + 10_000).toISOString(), "after its retry delay");
  assert.equal(run.updatedAt, at);
  assert.deepEqual(run.executions.map((e) => [e.attempt, e.run, e.status, e.workerId, e.error]), [
    [1, 1, "timeout", WORKER, abandonedMessage(WORKER)],
  ]);
  assert.equal(run.executions[0].completedAt, at);
  const last = (await queue.getStatus(f.ids.last))!;
  assert.equal(last.status, "timeout", "its last attempt was abandoned");
  assert.equal(last.completedAt, at);
  assert.deepEqual(last.executions.map((e) => e.status), ["timeout"]);
  const child = (await queue.getStatus(f.ids.lastChild))!;
  assert.equal(child.status, "cancelled");
  assert.equal(child.cancelledBy, f.ids.last);
  assert.equal(child.error, cascadeMessage(f.ids.last, "timeout"));
}

/** The copy is a live queue: the ready workflow child is claimed with its parents' results. */
async function checkLive(queue: JobQueue, f: Filled, now: number): Promise<void> {
  const c = await claim(queue, "t_ready_child", now);
  assert.equal(c.id, f.ids.readyChild);
  assert.deepEqual(c.parentResults, { [f.ids.parent]: 5 });
  // The blocked child stays blocked until its parent completes, there too.
  const w = await claim(queue, "t_wait", now);
  await end(queue, { kind: "completed", job: w, result: "1", at: now });
  assert.equal((await claim(queue, "t_blocked", now)).id, f.ids.blocked);
  // A new job comes after every copied one.
  const id = await queue.submit(new Job({ task: "t_new" }));
  assert.equal((await queue.listJobs({ limit: 1 }))[0].id, id);
}

async function cleanup(...dirs: { cleanup(): Promise<void> }[]): Promise<void> {
  closeConnections();
  await closing();
  for (const d of dirs) await d.cleanup();
}

Deno.test("copyQueue: SQLite to SQLite keeps every job, edge and attempt", async () => {
  const a = await tempDb("a.db");
  const b = await tempDb("b.db");
  try {
    const clock = new FakeClock();
    const src = new JobQueue(a.path, { clock });
    const f = await fill(src, clock);
    const before = await snapshot(src);
    const dst = new JobQueue(b.path, { clock });
    const report = await copyQueue(src, dst);
    assert.deepEqual(report, { jobs: 17, edges: 7, attempts: 7, abandoned: 2, schedules: 0 });
    assert.deepEqual(await snapshot(src), before, "the source is left as it was");
    const after = await snapshot(dst);
    assert.deepEqual(without(after, f.changed), without(before, f.changed));
    assert.deepEqual(await src.stats(), {
      pending: 7,
      running: 2,
      completed: 2,
      failed: 2,
      cancelled: 3,
      timeout: 1,
      total: 17,
    });
    assert.deepEqual(await dst.stats(), {
      pending: 7,
      running: 0,
      completed: 2,
      failed: 2,
      cancelled: 4,
      timeout: 2,
      total: 17,
    });
    await checkAbandoned(dst, f, clock.now());
    await checkLive(dst, f, clock.now());
    src.close();
    dst.close();
  } finally {
    await cleanup(a, b);
  }
});

const pgTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: `[postgres] ${name}`, ignore: POSTGRES_URL === undefined, fn });

/** Fresh PostgreSQL schemas for one test, dropped by `drop`. */
function schemas(n: number) {
  const made = Array.from({ length: n }, () => postgresSchema()!);
  return {
    targets: made.map((s) => s.target),
    cleanup: async () => {
      closeConnections();
      await closing();
      for (const s of made) await s.drop();
    },
  };
}

pgTest(
  "copyQueue: SQLite → PostgreSQL → SQLite, and schema to schema, keeps every job",
  async () => {
    const a = await tempDb("a.db");
    const c = await tempDb("c.db");
    const pg = schemas(2);
    try {
      const clock = new FakeClock();
      const src = new JobQueue(a.path, { clock });
      const f = await fill(src, clock);
      const before = await snapshot(src);
      const mid = new JobQueue(pg.targets[0], { clock });
      assert.deepEqual(await copyQueue(src, mid), {
        jobs: 17,
        edges: 7,
        attempts: 7,
        abandoned: 2,
        schedules: 0,
      });
      const onPg = await snapshot(mid);
      assert.deepEqual(without(onPg, f.changed), without(before, f.changed));
      await checkAbandoned(mid, f, clock.now());
      clock.jump(60_000);
      const back = new JobQueue(c.path, { clock });
      assert.deepEqual(await copyQueue(mid, back), {
        jobs: 17,
        edges: 7,
        attempts: 7,
        abandoned: 0,
        schedules: 0,
      });
      assert.deepEqual(await snapshot(back), onPg, "back on SQLite, every job as on PostgreSQL");
      const other = new JobQueue(pg.targets[1], { clock });
      await copyQueue(mid, other);
      assert.deepEqual(await snapshot(other), onPg, "another schema holds the same");
      await checkLive(back, f, clock.now());
      await checkLive(other, f, clock.now());
      for (const q of [src, mid, back, other]) q.close();
    } finally {
      await pg.cleanup();
      await cleanup(a, c);
    }
  },
);

pgTest("gigq copy: SQLite → PostgreSQL → SQLite gives the same list --json", async () => {
  const a = await tempDb("a.db");
  const pg = schemas(2);
  try {
    const clock = new FakeClock();
    const src = new JobQueue(a.path, { clock });
    const f = await fill(src, clock);
    src.close();
    const json = async (args: string[]) => {
      const r = await cli(args);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      return r.stdout;
    };
    const c = `${a.dir}/c.db`;
    const d = `${a.dir}/d.db`;
    const first = await cli(["copy", "--from", a.path, "--to", pg.targets[0], "--json"]);
    assert.equal(first.code, 0, first.stderr);
    const there = JSON.parse(first.stdout);
    assert.equal(
      first.stderr,
      `gigq: note: 2 jobs were running in ${a.path}: stop the workers there if they still run, ` +
        `or they may run twice (there, and again from ${there.to})\n`,
    );
    assert.equal(there.from, a.path);
    assert.match(there.to, /^postgres:\/\/postgres@[^?]+\?schema=gigq_test_/);
    assert.deepEqual(
      {
        jobs: there.jobs,
        edges: there.edges,
        attempts: there.attempts,
        abandoned: there.abandoned,
      },
      { jobs: 17, edges: 7, attempts: 7, abandoned: 2 },
    );
    const human = await json(["copy", "--from", pg.targets[0], "--to", c]);
    assert.equal(
      human,
      `Copied 17 jobs, 7 dependency edges and 7 attempts from ${there.to} to ${c}.\n`,
    );
    const listA = JSON.parse(await json(["--db", a.path, "list", "--json"])) as { id: string }[];
    const listC = await json(["--db", c, "list", "--json"]);
    assert.deepEqual(
      (JSON.parse(listC) as { id: string }[]).filter((j) => !f.changed.has(j.id)),
      listA.filter((j) => !f.changed.has(j.id)),
    );
    // Nothing running any more: a second round trip is exact, to the byte.
    await json(["copy", "--from", c, "--to", pg.targets[1]]);
    await json(["copy", "--from", pg.targets[1], "--to", d]);
    assert.equal(await json(["--db", d, "list", "--json"]), listC);
    for (const id of Object.values(f.ids)) {
      assert.equal(
        await json(["--db", d, "status", id, "--json"]),
        await json(["--db", c, "status", id, "--json"]),
      );
    }
  } finally {
    await pg.cleanup();
    await cleanup(a);
  }
});

/** The kinds of target a refusal is tested on: a SQLite file, and PostgreSQL when there is one. */
function targets(dir: string) {
  const list: { kind: string; target: string; drop: () => Promise<void> }[] = [
    { kind: "sqlite", target: `${dir}/target.db`, drop: () => Promise.resolve() },
  ];
  const pg = postgresSchema();
  if (pg !== undefined) list.push({ kind: "postgres", ...pg });
  return list;
}

Deno.test("copy into a queue that holds jobs is refused, writing nothing, unless --force", async (t) => {
  const a = await tempDb("a.db");
  try {
    const clock = new FakeClock();
    const src = new JobQueue(a.path, { clock });
    const ids = await src.submitMany([new Job({ task: "x" }), new Job({ task: "y" })]);
    for (const { kind, target, drop } of targets(a.dir)) {
      await t.step(kind, async () => {
        try {
          const dst = new JobQueue(target, { clock });
          const own = await dst.submit(new Job({ task: "own" }));
          const before = await snapshot(dst);
          const r = await cli(["copy", "--from", a.path, "--to", target]);
          assert.equal(r.code, 1);
          assert.equal(r.stdout, "");
          assert.match(
            r.stderr,
            /^gigq copy: Cannot copy into .+: it already holds 1 job; nothing was written \(copy into an empty queue, or use force/,
          );
          assert.deepEqual(await snapshot(dst), before);
          await assert.rejects(copyQueue(src, dst), /it already holds 1 job; nothing was written/);
          assert.deepEqual(await snapshot(dst), before);

          const forced = await cli(["copy", "--from", a.path, "--to", target, "--force", "--json"]);
          assert.equal(forced.code, 0, forced.stderr);
          assert.equal(JSON.parse(forced.stdout).jobs, 2);
          assert.deepEqual((await dst.listJobs()).map((j) => j.id), [ids[1], ids[0], own]);
          const appended = await snapshot(dst);
          // The same jobs again: refused even with force, naming a taken id.
          const again = await cli(["copy", "--from", a.path, "--to", target, "--force"]);
          assert.equal(again.code, 1);
          assert.match(again.stderr, /it already holds 2 of the jobs to copy \(id /);
          assert.ok(again.stderr.includes(ids[0]), again.stderr);
          assert.deepEqual(await snapshot(dst), appended);
          dst.close();
        } finally {
          closeConnections();
          await closing();
          await drop();
        }
      });
    }
    src.close();
  } finally {
    await cleanup(a);
  }
});

Deno.test("gigq copy: bad arguments exit 2 with one clear line and change nothing", async () => {
  const a = await tempDb("a.db");
  try {
    const src = new JobQueue(a.path);
    await src.submit(new Job({ task: "x" }));
    const before = await snapshot(src);
    src.close();
    closeConnections();
    const hash = await dbHash(a.path);
    const dst = `${a.dir}/new.db`;
    await Deno.symlink(a.path, `${a.dir}/link.db`);
    const cases: [string[], RegExp][] = [
      [["--to", dst], /missing --from: give the queue to copy from/],
      [["--from", a.path], /missing --to: give the queue to copy to/],
      [["--from", "", "--to", dst], /missing --from/],
      [["--from", a.path, "--to", a.path], /--from and --to are the same queue \(.*a\.db\)/],
      [["--from", a.path, "--to", `${a.dir}/link.db`], /--from and --to are the same queue/],
      [
        ["--from", a.path, "--to", "mysql://root:secret@db/app"],
        /--to must be a SQLite file or a postgres:\/\/ \(postgresql:\/\/\) URL, got "mysql:\/\/root:…@db\/app" \(unknown scheme "mysql"\)/,
      ],
      [["--from", "redis://cache", "--to", dst], /--from must be .*unknown scheme "redis"/],
      [["--from", a.path, "--to", ":memory:"], /--to must be .*in-memory/],
      [["--db", a.path, "--from", a.path, "--to", dst], /takes --from and --to, not --db/],
      [["--from", a.path, "--to", dst, "extra"], /unexpected argument "extra"/],
      [["--from", a.path, "--to", dst, "--force=yes"], /option --force takes no value/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(["copy", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^gigq copy: /);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.ok(!r.stderr.includes("secret"), "the password is not shown");
    }
    const missing = await cli(["copy", "--from", `${a.dir}/nope.db`, "--to", dst]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no GigQ database at .*nope\.db/);
    const names = [...Deno.readDirSync(a.dir)].map((e) => e.name);
    assert.deepEqual(names.filter((n) => !/-(wal|shm)$/.test(n)).sort(), ["a.db", "link.db"]);
    assert.ok(!(await exists(dst)), "no target was created");
    assert.ok(!(await exists(`${a.dir}/nope.db`)), "no source was created");
    assert.equal(await dbHash(a.path), hash, "the source is unchanged");
    const again = new JobQueue(a.path);
    assert.deepEqual(await snapshot(again), before);
    again.close();
  } finally {
    await cleanup(a);
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("gigq copy --help documents it, and gigq --help lists it", async () => {
  const top = await cli(["--help"]);
  assert.match(top.stdout, /^ {2}copy +copy a whole queue/m);
  const help = await cli(["copy", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: gigq copy --from SRC --to DST \[--force\] \[options\]$/m);
  for (const o of ["--from", "--to", "--force", "postgres://", "abandoned", "--json"]) {
    assert.ok(help.stdout.includes(o), `gigq copy --help does not mention ${o}`);
  }
});

Deno.test("copyQueue refuses what is not a queue, unknown options and the same queue", async () => {
  const a = await tempDb("a.db");
  try {
    const q = new JobQueue(a.path);
    await assert.rejects(
      copyQueue({} as JobQueue, q),
      new TypeError("Cannot copy the queue: from: expected a JobQueue, got an object"),
    );
    await assert.rejects(copyQueue(q, "x.db" as unknown as JobQueue), /to: expected a JobQueue/);
    await assert.rejects(
      copyQueue(q, q, { overwrite: true } as never),
      /unknown option "overwrite"; allowed: force/,
    );
    await assert.rejects(
      copyQueue(q, q, { force: "yes" as never }),
      /force must be true or false, got "yes"/,
    );
    const same = new JobQueue(a.path);
    await assert.rejects(copyQueue(q, same), RangeError);
    await assert.rejects(copyQueue(q, same), /from and to are the same queue/);
    q.close();
    same.close();
  } finally {
    await cleanup(a);
  }
});

backendTest(
  "importQueue writes all of a copy or, on an error, nothing",
  async ({ target, options }) => {
    const a = await tempDb("a.db");
    try {
      const src = new JobQueue(a.path);
      const parent = new Job({ task: "p" });
      await src.submitMany([parent, new Job({ task: "c", dependencies: [parent] })]);
      const dump = await (await backendOf(src)).exportQueue({ now: Date.now() });
      src.close();
      const dst = new JobQueue(target, options);
      const backend = await backendOf(dst);
      // An edge to a job the copy does not have: the last write fails.
      const broken = {
        ...dump,
        edges: [...dump.edges, { parent: 999_999, child: 1, position: 1 }],
      };
      await assert.rejects(backend.importQueue({ dump: broken, force: false, now: Date.now() }));
      assert.deepEqual(await dst.listJobs(), [], "the jobs written before the error are gone");
      await backend.importQueue({ dump, force: false, now: Date.now() });
      assert.deepEqual((await dst.listJobs()).map((j) => j.task), ["c", "p"]);
      dst.close();
    } finally {
      await a.cleanup();
    }
  },
);

postgresTest(
  "gigq copy from a schema with no queue is refused, and creates neither schema nor file",
  async ({ target, dir }) => {
    const dst = `${dir}/never.db`;
    const r = await cli(["copy", "--from", target, "--to", dst]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no GigQ queue at postgres:\/\/.*schema=gigq_test_/);
    assert.ok(!(await exists(dst)), "no target was created");
    assert.equal(await schemaExists(target), false, "no schema was created");
  },
);

backendTest(
  "copyQueue copies the schedules, their next slots and fired slots; a schedule name the target has refuses the copy",
  async ({ target, options }) => {
    const a = await tempDb("a.db");
    const c = await tempDb("c.db");
    try {
      const { task, Worker, why } = await import("../mod.ts");
      const { settle } = await import("./_helpers.ts");
      const tick = task("tick", () => "tock");
      const clock = new FakeClock(Date.parse("2026-01-01T12:00:00Z"));
      const src = new JobQueue(a.path, { clock });
      await src.schedule({ name: "hourly", cron: "0 * * * *", task: tick, params: { n: 1 } });
      await src.schedule({ name: "held", cron: "@daily", task: "tick", paused: true });
      const worker = new Worker(a.path, {
        tasks: [tick],
        clock,
        pollInterval: 3600,
        lease: 86_400,
      });
      const running = worker.start();
      await settle();
      await clock.tick(60 * 60_000);
      await settle();
      const [fired] = await src.listJobs();
      assert.equal(fired?.name, "hourly");
      worker.stop();
      await running;
      worker.close();
      const schedules = await src.schedules();
      assert.equal(schedules[1].lastRunAt, "2026-01-01T13:00:00.000Z");

      const dst = new JobQueue(target, { ...options, clock });
      const report = await copyQueue(src, dst);
      assert.equal(report.schedules, 2);
      assert.deepEqual(await dst.schedules(), schedules);
      assert.deepEqual((await why(dst, fired.id)).schedule, {
        name: "hourly",
        slot: "2026-01-01T13:00:00.000Z",
        firedAt: "2026-01-01T13:00:00.000Z",
      });
      // And back to a file: the same.
      const back = new JobQueue(c.path, { clock });
      assert.equal((await copyQueue(dst, back)).schedules, 2);
      assert.deepEqual(await back.schedules(), schedules);
      assert.equal((await why(back, fired.id)).schedule?.name, "hourly");

      // Into a queue that has one of the schedules: refused whole, even with force.
      const other = new JobQueue(`${a.dir}/d.db`, { clock });
      await other.schedule({ name: "held", cron: "@hourly", task: "x" });
      await assert.rejects(() => copyQueue(src, other, { force: true }), (e: Error) => {
        assert.match(e.message, /already has schedule "held"; nothing was copied/);
        return true;
      });
      assert.deepEqual(await other.listJobs(), []);
      assert.deepEqual((await other.schedules()).map((s) => s.cron), ["@hourly"]);
      for (const q of [src, dst, back, other]) q.close();
    } finally {
      await cleanup(a, c);
    }
  },
);
