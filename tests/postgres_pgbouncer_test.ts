/**
 * Through PgBouncer in transaction mode (the README's PgBouncer notes):
 * with `prepare=false` in the URL, a queue and workers work as they do on
 * the server — workflows, retries, leases — and an idle worker still finds
 * a new job (by its poll, as LISTEN cannot hold a server connection there).
 * Runs where `pgbouncer` is installed and a server answers; else one line.
 */
import assert from "node:assert/strict";
import { JobQueue, Worker, Workflow } from "../mod.ts";
import { POSTGRES_URL, postgresTest } from "./_backends.ts";
import { until } from "./_helpers.ts";
import { noop, sum } from "./_tasks.ts";

function findPgbouncer(): string | undefined {
  for (
    const dir of [
      "/usr/sbin",
      "/usr/bin",
      "/usr/local/bin",
      ...(Deno.env.get("PATH") ?? "").split(":"),
    ]
  ) {
    try {
      if (Deno.statSync(`${dir}/pgbouncer`).isFile) return `${dir}/pgbouncer`;
    } catch { /* not here */ }
  }
  return undefined;
}

const PGBOUNCER = findPgbouncer();
if (PGBOUNCER === undefined && POSTGRES_URL !== undefined) {
  console.log("PgBouncer test ignored: pgbouncer is not installed (apt-get install pgbouncer)");
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A PgBouncer in transaction mode in front of the test server, until `stop`. */
async function startPgbouncer(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new URL(POSTGRES_URL!.replace(/^postgres(ql)?:/, "http:"));
  const port = freePort();
  const root = Deno.uid?.() === 0;
  // Its own temp directory, which the postgres user can enter when this runs as root.
  const work = await Deno.makeTempDir({ prefix: "gigq-pgbouncer-" });
  await Deno.writeTextFile(`${work}/users.txt`, `"${server.username || "postgres"}" ""\n`);
  await Deno.writeTextFile(
    `${work}/pgbouncer.ini`,
    `[databases]
* = host=${server.hostname} port=${server.port || 5432}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${work}/users.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
logfile = ${work}/pgbouncer.log
pidfile = ${work}/pgbouncer.pid
`,
  );
  if (root) await new Deno.Command("chown", { args: ["-R", "postgres", work] }).output();
  const child = new Deno.Command(PGBOUNCER!, {
    args: [...(root ? ["-u", "postgres"] : []), `${work}/pgbouncer.ini`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      const ended = await Promise.race([child.status, new Promise((r) => setTimeout(r, 50))]);
      if (ended !== undefined || Date.now() > deadline) {
        if (ended === undefined) child.kill("SIGKILL");
        const log = await Deno.readTextFile(`${work}/pgbouncer.log`).catch(() => "");
        await Deno.remove(work, { recursive: true });
        throw new Error(`pgbouncer did not listen on ${port}: ${log}`);
      }
    }
  }
  return {
    port,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* ended */ }
      await child.stderr.cancel();
      await child.status;
      await Deno.remove(work, { recursive: true });
    },
  };
}

postgresTest(
  "through PgBouncer in transaction mode (prepare=false): workflows, retries and an idle worker's poll work",
  async ({ target }) => {
    if (PGBOUNCER === undefined) return;
    const bouncer = await startPgbouncer();
    const schema = new URLSearchParams(target.slice(target.indexOf("?") + 1)).get("schema")!;
    const server = new URL(POSTGRES_URL!.replace(/^postgres(ql)?:/, "http:"));
    const url = `postgres://${server.username || "postgres"}@127.0.0.1:${bouncer.port}` +
      `${server.pathname}?schema=${schema}&prepare=false`;
    const queue = new JobQueue(url);
    const worker = new Worker(url, { tasks: [noop, sum], concurrency: 4, pollInterval: 0.2 });
    try {
      const flow = new Workflow("flow");
      const a = flow.addTask(noop, { params: { n: 2 } });
      const b = flow.addTask(noop, { params: { n: 3 } });
      const total = flow.addTask(sum, { dependsOn: [a, b] });
      await queue.submitMany(flow.jobs);
      const running = worker.start();
      await until(async () => (await queue.getStatus(total.id))?.status === "completed", 15_000);
      assert.equal(await queue.getResult(total.id), 5);
      // The worker is idle now; a new job is found (by the poll, at worst).
      const later = await noop.submit(queue, { n: 9 });
      await until(async () => (await queue.getStatus(later))?.status === "completed", 15_000);
      const many = await queue.submitMany(Array.from({ length: 50 }, (_, n) => noop.toJob({ n })));
      await until(async () => (await queue.stats()).completed === 54, 20_000);
      for (const [n, id] of many.entries()) assert.equal(await queue.getResult(id), n);
      worker.stop();
      await running;
    } finally {
      worker.close();
      queue.close();
      await bouncer.stop();
    }
  },
);
