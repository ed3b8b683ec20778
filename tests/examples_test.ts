import assert from "node:assert/strict";
import { JobQueue, Worker } from "../mod.ts";
import { tasks } from "../examples/tasks.ts";
import { untilNextRun } from "../examples/scheduled.ts";
import { tempDb, until } from "./_helpers.ts";
// The testing kit's example test (its Deno.test cases run with this file's).
import "../examples/retry_test.ts";

const TOKEN = "edge-example-token";
const quiet = () => {};

const examples = new URL("../examples/", import.meta.url);
const PRODUCER = ["--allow-read", "--allow-write", "--allow-env"];

async function run(
  file: string,
  flags: string[],
  env: Record<string, string>,
  args: string[] = [],
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, new URL(file, examples).pathname, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

Deno.test("examples/demo.ts runs the workflow and the independent jobs to completion", async () => {
  const db = await tempDb();
  try {
    const out = await run("demo.ts", PRODUCER, { GIGQ_DB: db.path });
    assert.match(out, /merge\s+completed attempts=1 result=\{"sums":\[55,30\],"total":85\}/);
    assert.match(out, /flaky\s+completed attempts=2 result="succeeded on attempt 2"/);
    assert.match(out, /"completed":8,"failed":0,"cancelled":0,"timeout":0,"total":8/);
  } finally {
    await db.cleanup();
  }
});

Deno.test("examples/web_worker.ts: the Web Worker's connection is closed by self.close()", async () => {
  const out = await run("web_worker.ts", ["--allow-all"], {});
  assert.match(out, /Hello, Ada!\nHello, Grace!\nHello, Edsger!/);
  assert.match(out, /files the closed worker left open: 0/);
});

Deno.test("examples/scheduled.ts submits the day's job and exits", async () => {
  const db = await tempDb();
  try {
    const out = await run("scheduled.ts", PRODUCER, { GIGQ_DB: db.path }, ["--now"]);
    const id = out.match(/submitted daily-report-\d{4}-\d{2}-\d{2}: (\S+)/)?.[1];
    const queue = new JobQueue(db.path);
    assert.equal((await queue.getStatus(id!))?.status, "pending");
    queue.close();
    assert.equal(untilNextRun(new Date("2026-01-01T05:00:00Z")), 3_600_000);
    assert.equal(untilNextRun(new Date("2026-01-01T06:00:00Z")), 86_400_000);
  } finally {
    await db.cleanup();
  }
});

Deno.test("examples/web_server.ts submits jobs from requests over one connection", async () => {
  const db = await tempDb();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", ...PRODUCER, new URL("web_server.ts", examples).pathname],
    env: { NO_COLOR: "1", PORT: "0", GIGQ_DB: db.path },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    while (!/listening on (\S+)/.test(text)) text += (await reader.read()).value ?? "";
    const base = text.match(/listening on (\S+)/)![1];
    const ids: string[] = [];
    for (const name of ["Ada", "Grace"]) {
      const res = await fetch(`${base}/greet`, { method: "POST", body: JSON.stringify({ name }) });
      assert.equal(res.status, 202);
      ids.push((await res.json()).id);
    }
    const bad = await fetch(`${base}/greet`, { method: "POST", body: "nope" });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const worker = new Worker(db.path, { tasks });
    while (await worker.processOne()) { /* run them */ }
    worker.close();
    const job = await (await fetch(`${base}/jobs/${ids[1]}`)).json();
    assert.deepEqual(job, {
      id: ids[1],
      status: "completed",
      result: "Hello, Grace!",
      error: null,
    });
    const missing = await fetch(`${base}/jobs/unknown`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    child.kill("SIGTERM");
    while (!/stopped/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    assert.match(text, /stopped/);
    assert.equal((await child.status).code, 0);
  } finally {
    reader.releaseLock();
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.stdout.cancel().catch(() => {});
    await db.cleanup();
  }
});

Deno.test("examples/worker_pool.ts: SIGTERM lets running jobs finish, then exits 0", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  const { sleep } = await import("../examples/tasks.ts");
  const ids = await queue.submitMany(Array.from({ length: 10 }, () => sleep.toJob({ ms: 400 })));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PRODUCER,
      new URL("worker_pool.ts", examples).pathname,
      "--workers",
      "2",
    ],
    env: { NO_COLOR: "1", GIGQ_DB: db.path },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    let running: string[] = [];
    const deadline = Date.now() + 30_000;
    while (running.length < 2) {
      assert.ok(Date.now() < deadline, "the pool never started two jobs");
      running = (await queue.listJobs({ status: "running" })).map((j) => j.id);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill("SIGTERM");
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    assert.match(text, /SIGTERM: stopping/);
    for (const id of running) {
      assert.equal((await queue.getStatus(id))?.status, "completed", "in-flight jobs finished");
    }
    const stats = await queue.stats();
    assert.equal(stats.running, 0);
    assert.equal(stats.completed + stats.pending, ids.length, "the rest wait for the next worker");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    queue.close();
    await db.cleanup();
  }
});

Deno.test("examples/edge_submit.ts, with only --allow-net, submits through `gigq dashboard` and gets the result", async () => {
  const db = await tempDb();
  const queue = new JobQueue(db.path);
  const cli = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "--db", db.path, "dashboard", "--port", "0", "--token", TOKEN],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const worker = new Worker(db.path, { tasks, logger: quiet, pollInterval: 0.05 });
  const working = worker.start();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let banner = "";
    while (!/http:\/\/\S+\/\n/.test(banner)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the dashboard did not start: ${banner}`);
      banner += value;
    }
    reader.releaseLock();
    const url = /(http:\/\/\S+)\//.exec(banner)![1];
    const example = new URL("edge_submit.ts", examples).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", example, url, TOKEN],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /completed: "Hello, Ada!"/);
    await until(async () => (await queue.stats()).completed === 1);
  } finally {
    worker.stop();
    await working;
    worker.close();
    server.kill("SIGTERM");
    const status = await server.status;
    await server.stderr.cancel().catch(() => {});
    await server.stdout.cancel().catch(() => {});
    assert.equal(status.code, 0, "the dashboard stops cleanly on SIGTERM");
    queue.close();
    await db.cleanup();
  }
});

Deno.test("examples/dashboard_app.ts mounts the dashboard under /jobs beside the app's routes", async () => {
  const db = await tempDb();
  new JobQueue(db.path).close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", ...PRODUCER, new URL("dashboard_app.ts", examples).pathname],
    env: { NO_COLOR: "1", PORT: "0", GIGQ_DB: db.path, GIGQ_DASHBOARD_TOKEN: "example-token" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    while (!/listening on (\S+)/.test(text)) text += (await reader.read()).value ?? "";
    const base = text.match(/listening on (\S+)/)![1];
    const app = await fetch(`${base}/`);
    assert.equal(await app.text(), "my app");
    const login = await fetch(`${base}/jobs/`, { redirect: "manual" });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "/jobs/login");
    await login.body?.cancel();
    const stats = await fetch(`${base}/jobs/api/stats`, {
      headers: { authorization: "Bearer example-token" },
    });
    assert.equal((await stats.json()).total, 0);
    const page = await fetch(`${base}/jobs/jobs/`, {
      headers: { authorization: "Bearer example-token" },
    });
    assert.match(await page.text(), /<h1>Jobs<\/h1>/);
  } finally {
    child.kill("SIGTERM");
    while (!(await reader.read()).done) { /* drain */ }
    await child.status;
    await db.cleanup();
  }
});
