/**
 * Browser tests of the dashboard: headless Chromium (the system's, never one
 * downloaded), driven by `playwright-core`, against a dashboard served by the
 * test process on a port of its own. Without Chromium (at `/usr/bin/chromium`,
 * or `GIGQ_TEST_CHROMIUM`; `GIGQ_TEST_CHROMIUM=none` turns them off) the
 * tests are ignored, and one line says how to enable them.
 */
import { type Browser, chromium, type Page } from "npm:playwright-core@1";
import { closeConnections, JobQueue, type Task, Worker, type WorkerOptions } from "../../mod.ts";
import { dashboard, type DashboardOptions } from "../../dashboard.ts";
import { closing } from "../../src/_closers.ts";
import { POSTGRES_URL, postgresSchema } from "../_backends.ts";
import { tempDb } from "../_helpers.ts";

/** The flags Chromium runs with: headless, and quiet on a machine without a network. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function findChromium(): string | undefined {
  const given = Deno.env.get("GIGQ_TEST_CHROMIUM");
  if (given === "none") return undefined;
  const path = given !== undefined && given !== "" ? given : "/usr/bin/chromium";
  try {
    return Deno.statSync(path).isFile ? path : undefined;
  } catch {
    if (given !== undefined && given !== "") {
      throw new Error(`GIGQ_TEST_CHROMIUM=${given}: no such file (give Chromium's path, or none)`);
    }
    return undefined;
  }
}

/** Chromium's path, or undefined: the browser tests are ignored. */
export const CHROMIUM: string | undefined = findChromium();

if (CHROMIUM === undefined && Deno.env.get("GIGQ_TEST_CHROMIUM_NOTED") === undefined) {
  // Said once per run: every test file of the run shares the process environment.
  Deno.env.set("GIGQ_TEST_CHROMIUM_NOTED", "1");
  console.log(
    (Deno.env.get("GIGQ_TEST_CHROMIUM") === "none"
      ? "Browser tests ignored (GIGQ_TEST_CHROMIUM=none); "
      : "Browser tests ignored: no Chromium at /usr/bin/chromium; ") +
      "install it (apt-get install chromium) or set GIGQ_TEST_CHROMIUM=/path/to/chromium",
  );
}

/** Starts headless Chromium. */
export async function launch(): Promise<Browser> {
  return await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}

/** What a browser test gets. */
export interface BrowserContext {
  /** `node` (SQLite) or `postgres`. */
  backend: "node" | "postgres";
  /** The database file or PostgreSQL URL. */
  target: string;
  /** The queue the dashboard shows. */
  queue: JobQueue;
  /** The dashboard's origin, like `http://127.0.0.1:41234`. */
  origin: string;
  /** A page (1280×900) of a fresh browser; dialogs (confirmations) are accepted. */
  page: Page;
  /** The browser. */
  browser: Browser;
  /** The messages of the confirmation dialogs the page showed. */
  dialogs: string[];
  /** Every request the dashboard got: its method, path and query, and headers. */
  requests: { method: string; path: string; headers: Headers }[];
  /** The console errors the page logged. */
  consoleErrors: string[];
  /** Starts a worker on the queue's database (stopped and closed after the test). */
  worker(tasks: Task[], options?: Partial<WorkerOptions>): Worker;
  /** Stops a worker `worker()` started, waits for it and closes it. */
  stopWorker(worker: Worker): Promise<void>;
  /** Serves `handler` on another port of 127.0.0.1 (another origin); stopped after the test. */
  serve(handler: (req: Request) => Response | Promise<Response>): string;
}

/** Serves `handler` on a free port of 127.0.0.1; returns the server and its origin. */
export function serveLocal(
  handler: (req: Request) => Response | Promise<Response>,
): { server: Deno.HttpServer<Deno.NetAddr>; origin: string } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { server, origin: `http://127.0.0.1:${server.addr.port}` };
}

/**
 * Defines a browser test on SQLite (the node driver), and with
 * `postgres: true` on PostgreSQL too. The page's uncaught errors fail it.
 */
export function browserTest(
  name: string,
  fn: (ctx: BrowserContext) => Promise<void>,
  opts: { postgres?: boolean; dashboard?: DashboardOptions } = {},
): void {
  const backends: ("node" | "postgres")[] = opts.postgres ? ["node", "postgres"] : ["node"];
  for (const backend of backends) {
    Deno.test({
      name: `[browser${backend === "postgres" ? ", postgres" : ""}] ${name}`,
      ignore: CHROMIUM === undefined || (backend === "postgres" && POSTGRES_URL === undefined),
      fn: () => run(backend, fn, opts.dashboard ?? {}),
    });
  }
}

async function run(
  backend: "node" | "postgres",
  fn: (ctx: BrowserContext) => Promise<void>,
  dashboardOptions: DashboardOptions,
): Promise<void> {
  const db = await tempDb();
  const pg = backend === "postgres" ? postgresSchema()! : undefined;
  const target = pg?.target ?? db.path;
  const options = backend === "node" ? { driver: "node" as const } : {};
  const queue = new JobQueue(target, options);
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  const workers: { worker: Worker; done: Promise<void> }[] = [];
  let browser: Browser | undefined;
  const pageErrors: Error[] = [];
  try {
    const requests: BrowserContext["requests"] = [];
    const handler = dashboard(queue, dashboardOptions);
    const main = serveLocal((req) => {
      const url = new URL(req.url);
      requests.push({ method: req.method, path: url.pathname + url.search, headers: req.headers });
      return handler(req);
    });
    servers.push(main.server);
    browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(15_000);
    const dialogs: string[] = [];
    const consoleErrors: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      d.accept().catch(() => {});
    });
    page.on("pageerror", (e) => pageErrors.push(e));
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    await fn({
      backend,
      target,
      queue,
      origin: main.origin,
      page,
      browser,
      dialogs,
      requests,
      consoleErrors,
      worker(tasks, workerOptions = {}) {
        const worker = new Worker(target, {
          ...options,
          tasks,
          logger: () => {},
          pollInterval: 0.05,
          ...workerOptions,
        });
        workers.push({ worker, done: worker.start() });
        return worker;
      },
      async stopWorker(worker) {
        const i = workers.findIndex((w) => w.worker === worker);
        if (i < 0) throw new Error("stopWorker: not a worker of this test");
        const [w] = workers.splice(i, 1);
        w.worker.stop();
        await w.done;
        w.worker.close();
      },
      serve(handler) {
        const other = serveLocal(handler);
        servers.push(other.server);
        return other.origin;
      },
    });
    if (pageErrors.length > 0) {
      throw new Error(`The page threw: ${pageErrors.map((e) => e.message).join("; ")}`);
    }
  } finally {
    await browser?.close();
    for (const { worker } of workers) worker.stop();
    for (const { worker, done } of workers) {
      await done;
      worker.close();
    }
    for (const server of servers) await server.shutdown();
    queue.close();
    closeConnections();
    await closing();
    await pg?.drop();
    await db.cleanup();
  }
}

/**
 * Waits until `cond()` holds, checking every few milliseconds of real time
 * (a browser test waits on another process; this yields the CPU to it).
 */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Gave up waiting (${limitMs} ms) for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
