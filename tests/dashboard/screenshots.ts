/**
 * Makes the dashboard's screenshots for the docs: `docs/dashboard-overview.png`
 * and `docs/dashboard-job.png`, at 1280×900, from a queue filled by real
 * workers (an hour of history, a workflow whose middle job failed once, a job
 * running now). Run on demand (needs Chromium, see `_browser.ts`):
 *
 * ```sh
 * deno run -A tests/dashboard/screenshots.ts
 * ```
 */
import { type Clock, closeConnections, type Job, JobQueue, task, Worker } from "../../mod.ts";
import { dashboard } from "../../dashboard.ts";
import { CHROMIUM, launch, serveLocal } from "./_browser.ts";

if (CHROMIUM === undefined) {
  console.error("No Chromium: install it (apt-get install chromium) or set GIGQ_TEST_CHROMIUM");
  Deno.exit(1);
}

const docs = new URL("../../docs/", import.meta.url).pathname;
const dir = await Deno.makeTempDir({ prefix: "gigq-shots-" });
const db = `${dir}/jobs.db`;

/** A clock `shift` milliseconds behind the real one: history made by real workers. */
let shift = 0;
const past: Clock = {
  now: () => Date.now() - shift,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

const sendEmail = task("send-email", (p: { to: string }) => ({ delivered: p.to }));
const renderReport = task("render-report", (p: { week: number }) => {
  if (p.week % 7 === 3) throw new Error(`render-report: no data for week ${p.week}`);
  return { pages: 4 + (p.week % 5) };
});
const chargeCard = task("charge-card", (p: { amount: number }) => ({ charged: p.amount }));
const fetchInvoices = task("fetch-invoices", (p: { month: string }) => ({
  month: p.month,
  invoices: 42,
}));
const sendInvoices = task(
  "send-invoices",
  (p: { month: string; via: string; batch: unknown }, ctx) => {
    if (ctx.attempt === 1) {
      const e = new Error("SMTP 421 4.7.0 mail.example.com: too many connections, try again later");
      // The stack of an app's task, not of this script.
      e.stack = `Error: ${e.message}\n    at deliver (tasks/invoices.ts:48:11)\n` +
        "    at sendInvoices (tasks/invoices.ts:21:5)";
      throw e;
    }
    return { month: p.month, sent: 42, via: p.via };
  },
);
const archive = task("archive-invoices", (p: { month: string }) => ({ archived: p.month }));
const notify = task("notify-accounting", (p: { month: string }) => ({ notified: p.month }));
let release!: () => void;
const gate = new Promise<void>((r) => release = r);
const longImport = task("import-catalog", async () => {
  await gate;
  return null;
});
const tasks = [
  sendEmail,
  renderReport,
  chargeCard,
  fetchInvoices,
  sendInvoices,
  archive,
  notify,
  longImport,
];

async function runUntilIdle(queue: JobQueue, clock?: Clock): Promise<void> {
  const worker = new Worker(db, {
    tasks,
    logger: () => {},
    pollInterval: 0.02,
    concurrency: 4,
    ...(clock ? { clock } : {}),
  });
  const done = worker.start();
  for (;;) {
    const s = await queue.stats();
    if (s.pending === 0 && s.running === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  worker.stop();
  await done;
  worker.close();
}

// An hour of history: a batch every five minutes, by a worker whose clock reads that time.
const history = new JobQueue(db, { clock: past });
for (let m = 55; m >= 5; m -= 5) {
  shift = m * 60_000;
  const n = 6 + ((m * 7) % 11);
  const jobs: Job[] = [];
  for (let i = 0; i < n; i++) {
    jobs.push(sendEmail.toJob({ to: `user${m * 10 + i}@example.com` }, { queue: "emails" }));
  }
  for (let i = 0; i < 3; i++) {
    jobs.push(renderReport.toJob({ week: m + i }, { queue: "reports", maxAttempts: 1 }));
  }
  jobs.push(chargeCard.toJob({ amount: 1200 + m }, { queue: "billing" }));
  await history.submitMany(jobs);
  await runUntilIdle(history, past);
}
history.close();

// Now: the workflow of the job page, and a few more jobs.
const queue = new JobQueue(db);
const month = "2026-11";
const fetch = fetchInvoices.toJob({ month }, { name: "fetch invoices", queue: "billing" });
const send = sendInvoices.toJob({ month, via: "smtp", batch: { size: 50, throttle: "2/s" } }, {
  name: "send invoices",
  queue: "billing",
  dependencies: [fetch],
  maxAttempts: 3,
  retryDelay: 0,
  description: "Emails November's invoices to every customer",
});
const children = [
  archive.toJob({ month }, { name: "archive invoices", queue: "billing", dependencies: [send] }),
  notify.toJob({ month }, { name: "notify accounting", queue: "billing", dependencies: [send] }),
];
await queue.submitMany([fetch, send, ...children]);
await runUntilIdle(queue);
// Pending work: a paused queue's, and a running job on a live worker.
for (let i = 0; i < 4; i++) {
  await renderReport.submit(queue, { week: 60 + i }, { queue: "exports" });
}
await queue.pause("exports");
await longImport.submit(queue, {}, { name: "import catalog", queue: "imports" });
const live = new Worker(db, { tasks, logger: () => {}, pollInterval: 0.05, queues: ["imports"] });
const liveDone = live.start();
while ((await queue.stats()).running === 0) await new Promise((r) => setTimeout(r, 20));

const { server, origin } = serveLocal(dashboard(queue));
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${origin}/`);
  await page.screenshot({ path: `${docs}dashboard-overview.png` });
  await page.goto(`${origin}/jobs/${send.id}`);
  // The whole page: the attempts and the graph are below the first 900 pixels.
  await page.screenshot({ path: `${docs}dashboard-job.png`, fullPage: true });
  // More pages, to look at (not for the docs): GIGQ_SHOTS_MORE=/some/dir.
  const more = Deno.env.get("GIGQ_SHOTS_MORE");
  if (more !== undefined) {
    for (const p of ["jobs/", "jobs/?status=failed", "workers/", "schedules/"]) {
      await page.goto(`${origin}/${p}`);
      await page.screenshot({ path: `${more}/${p.replace(/\W+/g, "-")}.png`, fullPage: true });
    }
  }
  console.log(`Wrote ${docs}dashboard-overview.png and ${docs}dashboard-job.png`);
} finally {
  await browser.close();
  await server.shutdown();
  release();
  live.stop();
  await liveDone;
  live.close();
  queue.close();
  closeConnections();
  await Deno.remove(dir, { recursive: true });
}
