/**
 * The README's `--allow-env` list for PostgreSQL is exactly enough: a queue,
 * a worker and a pool run under `--no-prompt` with `--allow-net`, that list,
 * and read access to the code only — and one variable fewer fails.
 */
import assert from "node:assert/strict";
import { postgresTest } from "./_backends.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const README = await Deno.readTextFile(`${REPO}/README.md`);
/** The list the README gives, from its `--allow-env=PG…` line. */
const LIST = README.match(/^--allow-env=(PG[A-Z_,]+)$/m)?.[1];

const SCRIPT = `
import { JobQueue, task, Worker, WorkerPool } from "${REPO}/mod.ts";
import { noop } from "${REPO}/tests/_tasks.ts";
const url = Deno.args[0];
const queue = new JobQueue(url);
const ids = [await noop.submit(queue, { n: 1 }), await noop.submit(queue, { n: 2 })];
const worker = new Worker(url, { tasks: [noop] });
await worker.processOne();
worker.close();
const pool = new WorkerPool(url, { tasks: ["${REPO}/tests/_tasks.ts"], workers: 1, pollInterval: 0.05 });
const started = pool.start();
while ((await queue.getStatus(ids[1]))?.status !== "completed") {
  await new Promise((r) => setTimeout(r, 20));
}
await pool.stop();
await started;
console.log(JSON.stringify(await Promise.all(ids.map((id) => queue.getResult(id)))));
queue.close();
`;

async function runWith(env: string, target: string, dir: string) {
  await Deno.writeTextFile(`${dir}/script.ts`, SCRIPT);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-net",
      `--allow-env=${env}`,
      `--allow-read=${REPO},${dir}`,
      `${dir}/script.ts`,
      target,
    ],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

postgresTest(
  "the README's --allow-env list is what a queue, a worker and a pool on PostgreSQL need",
  async ({ target, dir }) => {
    assert.ok(LIST, "the README gives the list on a line of its own");
    const ok = await runWith(LIST, target, dir);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "[1,2]");
    // Without the last variable the client reads, the run stops and names it.
    const names = LIST.split(",");
    const short = await runWith(names.slice(0, -1).join(","), target, dir);
    assert.notEqual(short.code, 0);
    assert.match(short.stderr, new RegExp(names.at(-1)!));
  },
);
