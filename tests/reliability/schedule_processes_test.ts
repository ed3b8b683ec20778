/**
 * Exactly once per slot, with no leader, in real time: 4 worker processes
 * on one queue (a SQLite file; a PostgreSQL schema) fire a schedule of every
 * second for 10 s. Every slot in the window is fired once — no slot twice,
 * none missing — and its job runs once.
 */
import assert from "node:assert/strict";
import { JobQueue } from "../../mod.ts";
import { type BackendContext, postgresTest } from "../_backends.ts";
import { tempDb } from "../_helpers.ts";
import { exited, script, signal, sleep, spawnDeno } from "./_common.ts";

const WORKERS = 4;
const WINDOW_MS = 10_000;

async function fireEverySecond(ctx: Pick<BackendContext, "target" | "driver" | "dir">) {
  const options = ctx.driver ? { driver: ctx.driver } : {};
  const queue = new JobQueue(ctx.target, options);
  await queue.stats(); // the schema, made once before the race
  const children = Array.from({ length: WORKERS }, (_, i) =>
    spawnDeno([
      "run",
      "-A",
      script("_schedule_worker.ts"),
      "--db",
      ctx.target,
      ...(ctx.driver ? ["--driver", ctx.driver] : []),
      "--id",
      `w${i}`,
      "--log",
      `${ctx.dir}/w${i}.log`,
    ]));
  try {
    await Promise.all(children.map((c) => c.waitFor(/^ready$/m)));
    // Every worker runs: the schedule starts now, and is removed after the window.
    const info = await queue.schedule({ name: "tick", cron: "* * * * * *", task: "slot" });
    const first = Date.parse(info.nextRunAt!);
    await sleep(WINDOW_MS);
    await queue.unschedule("tick");
    const stopped = Date.now();
    // Its last jobs run to the end.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await queue.stats();
      if (s.pending + s.running === 0) break;
      if (Date.now() > deadline) throw new Error(`jobs left: ${JSON.stringify(s)}`);
      await sleep(100);
    }
    for (const c of children) signal(c, "SIGTERM");
    for (const [i, c] of children.entries()) {
      const status = await exited(c, 30_000, `worker w${i}`);
      assert.equal(status.code, 0, c.stderr());
      assert.equal(c.stderr(), "", `worker w${i} logged no warning or error`);
    }

    const jobs = await queue.listJobs({ limit: 10_000 });
    const slots = jobs.map((j) => Date.parse(j.runAt)).sort((a, b) => a - b);
    assert.equal(new Set(slots).size, slots.length, "no slot fired twice");
    assert.ok(jobs.every((j) => j.status === "completed" && j.attempts === 1));
    // Every second from the first slot on, none missing, up to the removal (the last
    // slot may or may not have fired as it was removed).
    assert.equal(slots[0], first);
    const last = slots.at(-1)!;
    assert.ok(last >= stopped - 2000, `fired until ${new Date(last).toISOString()}`);
    assert.deepEqual(
      slots,
      Array.from({ length: (last - first) / 1000 + 1 }, (_, i) => first + i * 1000),
      "one job for each second",
    );
    assert.ok(slots.length >= WINDOW_MS / 1000 - 1, `${slots.length} slots in the window`);
    // Each job's handler ran once, in whichever process claimed it, and saw its slot.
    const ran = new Map<string, string[]>();
    for (let i = 0; i < WORKERS; i++) {
      let text = "";
      try {
        text = await Deno.readTextFile(`${ctx.dir}/w${i}.log`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
      for (const line of text.split("\n").filter((l) => l !== "")) {
        const [slot, id] = line.split(" ");
        ran.set(id, [...ran.get(id) ?? [], slot]);
      }
    }
    assert.equal(ran.size, jobs.length);
    for (const j of jobs) assert.deepEqual(ran.get(j.id), [j.runAt], `job ${j.id}`);
  } finally {
    for (const c of children) signal(c, "SIGKILL");
    await Promise.all(children.map((c) => c.done));
    queue.close();
  }
}

Deno.test("[node] 4 worker processes fire a schedule of every second once per slot for 10 s", async () => {
  const db = await tempDb();
  try {
    await fireEverySecond({ target: db.path, driver: "node", dir: db.dir });
  } finally {
    const { closeConnections } = await import("../../mod.ts");
    closeConnections();
    await db.cleanup();
  }
});

postgresTest(
  "4 worker processes fire a schedule of every second once per slot for 10 s",
  async (ctx) => {
    await fireEverySecond(ctx);
  },
);
