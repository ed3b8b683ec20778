/**
 * The dashboard in a real browser (headless Chromium): what a user sees and
 * does. Ignored without Chromium (see `_browser.ts`).
 */
import assert from "node:assert/strict";
import { type JobQueue, task } from "../../mod.ts";
import { browserTest, eventually } from "./_browser.ts";

const echo = task("echo", (p: unknown) => p);
const boom = task("boom", () => {
  throw new Error("boom: the mail server said no");
});
const flakyOnce = task("flaky-once", (p: { n: number }, ctx) => {
  if (ctx.attempt === 1) throw new Error(`first attempt fails (n=${p.n})`);
  return { sent: p.n };
});

async function statusOf(queue: JobQueue, id: string): Promise<string | undefined> {
  return (await queue.getStatus(id))?.status;
}

async function allEnded(queue: JobQueue, ids: readonly string[]): Promise<boolean> {
  for (const id of ids) {
    const s = await statusOf(queue, id);
    if (s === "pending" || s === "running") return false;
  }
  return true;
}

browserTest("open the overview", async ({ queue, origin, page, worker, stopWorker }) => {
  const done: string[] = [];
  for (let i = 0; i < 3; i++) done.push(await echo.submit(queue, { i }, { queue: "mail" }));
  done.push(await boom.submit(queue, {}, { queue: "mail", maxAttempts: 1 }));
  const w = worker([echo, boom]);
  await eventually(() => allEnded(queue, done), "the first four jobs to end");
  await stopWorker(w);
  await echo.submit(queue, { later: 1 }, { queue: "reports" });
  await echo.submit(queue, { later: 2 }, { queue: "reports" });

  const res = await page.goto(`${origin}/`);
  assert.equal(res?.status(), 200);
  assert.equal(await page.title(), "Overview · GigQ");
  const count = async (s: string) =>
    (await page.locator(`[data-testid=count-${s}] .n`).textContent())?.trim();
  assert.equal(await count("pending"), "2");
  assert.equal(await count("running"), "0");
  assert.equal(await count("completed"), "3");
  assert.equal(await count("failed"), "1");
  // A card links to the jobs of its status.
  assert.equal(
    await page.locator("[data-testid=count-failed]").getAttribute("href"),
    "/jobs/?status=failed",
  );

  const rows = page.locator("[data-testid=queue-row]");
  assert.equal(await rows.count(), 2);
  const mail = page.locator("[data-testid=queue-row][data-queue=mail]");
  const reports = page.locator("[data-testid=queue-row][data-queue=reports]");
  // Queue, then pending, running, completed, failed, timeout, cancelled.
  const cells = async (row: typeof mail) =>
    (await row.locator("td").allTextContents()).slice(0, 7).map((t) => t.trim());
  assert.deepEqual(await cells(mail), ["mail", "0", "0", "3", "1", "0", "0"]);
  assert.deepEqual(await cells(reports), ["reports", "2", "0", "0", "0", "0", "0"]);
  assert.equal(await mail.locator("[data-testid=pause]").count(), 1);

  // The activity chart counts the four ended jobs, in bars of real height.
  const chart = page.locator("svg[data-testid=activity-chart]");
  assert.match((await chart.getAttribute("aria-label"))!, /: 4 in all$/);
  const heights = await chart.locator("rect.bar-completed, rect.bar-failed").evaluateAll((rs) =>
    rs.map((r) => r.getBoundingClientRect().height)
  );
  assert.ok(heights.length >= 60, `one bar pair a minute, got ${heights.length} bars`);
  assert.ok(heights.some((h) => h > 0), "some bar has a height");
  assert.equal(await page.locator("[data-testid=no-workers]").count(), 1);

  // The queue's name leads to its jobs.
  await mail.locator("a", { hasText: "mail" }).first().click();
  await page.waitForURL(`${origin}/jobs/?queue=mail`);
  assert.equal(await page.locator("[data-testid=job-row]").count(), 4);
}, { postgres: true });

browserTest("filter jobs", async ({ queue, origin, page }) => {
  const ids: string[] = [];
  for (let i = 0; i < 55; i++) {
    ids.push(await echo.submit(queue, { to: `user-${i}@example.com` }, { queue: "mail" }));
  }
  for (let i = 0; i < 3; i++) {
    await task("report", () => null).submit(queue, { week: i }, { queue: "reports" });
  }
  assert.ok(await queue.cancel(ids[3]));
  assert.ok(await queue.cancel(ids[40]));

  await page.goto(`${origin}/jobs/`);
  const rows = page.locator("[data-testid=job-row]");
  const count = page.locator("[data-testid=jobs-count]");
  assert.equal((await count.textContent())?.trim(), "58 jobs");
  assert.equal(await rows.count(), 50);
  const first = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-id")!));
  const shown = await rows.locator("td:first-child").allTextContents();
  assert.equal(new Set(shown).size, 50, "each row's short id differs");

  // The pager: the older page holds the other 8, none of the first 50.
  await page.locator("[data-testid=older]").click();
  await page.waitForURL(/before=/);
  assert.equal(await rows.count(), 8);
  const older = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-id")!));
  assert.equal(new Set([...first, ...older]).size, 58);
  assert.equal(await page.locator("[data-testid=older]").count(), 0);

  // Status.
  await page.goto(`${origin}/jobs/`);
  await page.locator("[data-testid=filter-status]").selectOption("cancelled");
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(/status=cancelled/);
  assert.equal((await count.textContent())?.trim(), "2 jobs");
  assert.deepEqual(
    (await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-status")))).sort(),
    ["cancelled", "cancelled"],
  );
  assert.deepEqual(
    (await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute("data-id")))).sort(),
    [ids[3], ids[40]].sort(),
  );
  // The form keeps what was chosen.
  assert.equal(await page.locator("[data-testid=filter-status]").inputValue(), "cancelled");

  // Queue and task, together.
  await page.goto(`${origin}/jobs/`);
  await page.locator("[data-testid=filter-queue]").selectOption("reports");
  await page.locator("[data-testid=filter-task]").fill("report");
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(/queue=reports/);
  assert.equal((await count.textContent())?.trim(), "3 jobs");
  await page.locator("[data-testid=filter-task]").fill("echo");
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(/task=echo/);
  assert.equal(await rows.count(), 0);
  assert.equal((await count.textContent())?.trim(), "0 jobs");

  // Search in params (and by id).
  await page.goto(`${origin}/jobs/`);
  await page.locator("[data-testid=filter-search]").fill("user-7@");
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(/search=/);
  assert.equal(await rows.count(), 1);
  assert.equal(await rows.first().getAttribute("data-id"), ids[7]);
  await page.locator("[data-testid=filter-search]").fill(ids[12]);
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(new RegExp(`search=${ids[12]}`));
  assert.equal(await rows.count(), 1);
  assert.equal(await rows.first().getAttribute("data-id"), ids[12]);
});

browserTest(
  "open a job and see its attempts and graph",
  async ({ queue, origin, page, worker }) => {
    const parent = echo.toJob({ step: "fetch" }, { name: "fetch invoices" });
    const job = flakyOnce.toJob({ n: 7 }, {
      name: "send invoices",
      dependencies: [parent],
      maxAttempts: 2,
      retryDelay: 0,
    });
    const child1 = echo.toJob({ step: "archive" }, { name: "archive", dependencies: [job] });
    const child2 = echo.toJob({ step: "notify" }, { name: "notify", dependencies: [job] });
    await queue.submitMany([parent, job, child1, child2]);
    worker([echo, flakyOnce]);
    const all = [parent.id, job.id, child1.id, child2.id];
    await eventually(() => allEnded(queue, all), "the workflow to end");

    await page.goto(`${origin}/jobs/${job.id}`);
    assert.equal(
      await page.locator("[data-testid=job-title]").getAttribute("data-status"),
      "completed",
    );
    assert.equal(await page.locator("[data-testid=job-id]").textContent(), job.id);
    const attempts = page.locator("[data-testid=attempts] [data-testid=attempt]");
    assert.equal(await attempts.count(), 2);
    assert.equal(await attempts.nth(0).getAttribute("data-status"), "failed");
    assert.match(
      (await attempts.nth(0).locator("pre.error").textContent())!,
      /first attempt fails \(n=7\)/,
    );
    assert.equal(await attempts.nth(1).getAttribute("data-status"), "completed");
    assert.equal(await attempts.nth(1).locator("pre.error").count(), 0);
    assert.deepEqual(JSON.parse((await page.locator("[data-testid=params]").textContent())!), {
      n: 7,
    });
    assert.deepEqual(JSON.parse((await page.locator("[data-testid=result]").textContent())!), {
      sent: 7,
    });
    assert.match((await page.locator("[data-testid=why]").textContent())!, /Why:\s*completed at/);

    // The graph: the job, its parent and its two children, each with its status.
    const nodes = page.locator("[data-testid=graph] [data-testid=graph-node]");
    assert.equal(await nodes.count(), 4);
    const seen = await nodes.evaluateAll((ns) =>
      ns.map((n) => `${n.getAttribute("data-id")} ${n.getAttribute("data-status")}`)
    );
    assert.deepEqual(seen.sort(), all.map((id) => `${id} completed`).sort());
    // Each node's short id tells it from the others (ids made in one minute share their start).
    const labels = await nodes.locator("text.st").allTextContents();
    assert.equal(new Set(labels).size, 4, `distinct labels, got ${labels.join(" | ")}`);
    // Parent on the left, children on the right of the job.
    const x = async (id: string) =>
      await page.locator(`[data-testid=graph-node][data-id="${id}"]`).evaluate((n) =>
        n.getBoundingClientRect().x
      );
    assert.ok(await x(parent.id) < await x(job.id));
    assert.ok(await x(job.id) < await x(child1.id));
    assert.equal(await x(child1.id), await x(child2.id));

    // A node leads to its job, whose graph shows this one as its parent.
    await page.locator(`[data-testid=graph-node][data-id="${child2.id}"]`).click();
    await page.waitForURL(`${origin}/jobs/${child2.id}`);
    assert.equal(await nodes.count(), 2);
    assert.match(
      (await page.locator("h2", { hasText: "Workflow" }).textContent())!,
      /1 parent, 0 children/,
    );
  },
);

browserTest(
  "requeue a failed job and watch it complete",
  async ({ queue, origin, page, worker }) => {
    let fail = true;
    let release!: () => void;
    const gate = new Promise<void>((r) => release = r);
    const gated = task("gated", async () => {
      if (fail) throw new Error("the first run fails");
      await gate;
      return "done";
    });
    const id = await gated.submit(queue, {}, { maxAttempts: 1 });
    worker([gated]);
    await eventually(async () => (await statusOf(queue, id)) === "failed", "the job to fail");
    fail = false;

    await page.goto(`${origin}/jobs/${id}`);
    const title = page.locator("[data-testid=job-title]");
    assert.equal(await title.getAttribute("data-status"), "failed");
    await page.locator("[data-testid=requeue]").click();
    await page.waitForURL(`${origin}/jobs/${id}`);
    await page.locator("[data-testid=flash]", { hasText: "Requeued the job" }).waitFor();
    // Held at the gate: not completed yet, whatever the worker has done.
    assert.notEqual(await title.getAttribute("data-status"), "completed");
    assert.equal(await page.locator("[data-testid=requeue]").count(), 0);

    // From here on the page must not reload: the live refresh alone shows the change.
    // (Code that runs in the page is given as text: these tests type-check without the DOM types.)
    await page.evaluate(`window.__stay = true; window.__refreshes = 0;
      document.addEventListener("gigq:refreshed", () => window.__refreshes++);`);
    release();
    await eventually(
      async () => (await statusOf(queue, id)) === "completed",
      "the job to complete",
    );
    await page.locator("[data-testid=job-title][data-status=completed]").waitFor({
      timeout: 15_000,
    });
    const state = await page.evaluate(
      "({ stay: window.__stay, refreshes: window.__refreshes })",
    ) as { stay?: boolean; refreshes?: number };
    assert.equal(state.stay, true, "the page reloaded");
    assert.ok(state.refreshes! >= 1);
    assert.equal(await page.locator("[data-testid=attempts] [data-testid=attempt]").count(), 2);
    assert.equal(await page.locator("[data-testid=result]").textContent(), '"done"');
    assert.match((await page.locator("#live-note").textContent())!, /^Updated /);
  },
);

browserTest(
  "pause a queue and see claims stop",
  async ({ queue, origin, page, worker, dialogs }) => {
    // A job of each queue, so both show on the overview, and a worker for both.
    const first = await echo.submit(queue, { n: 0 }, { queue: "mail" });
    const firstOther = await echo.submit(queue, { n: 0 }, { queue: "other" });
    worker([echo]);
    await eventually(() => allEnded(queue, [first, firstOther]), "the first jobs to run");

    await page.goto(`${origin}/`);
    const mail = page.locator("[data-testid=queue-row][data-queue=mail]");
    await mail.locator("[data-testid=pause]").click();
    await page.locator("[data-testid=flash]", { hasText: "Paused queue mail" }).waitFor();
    assert.deepEqual(dialogs, ["Pause queue mail? Workers stop claiming its jobs."]);
    assert.equal(await mail.locator("[data-testid=paused]").count(), 1);
    assert.equal(await mail.locator("[data-testid=resume]").count(), 1);
    assert.equal(
      await page.locator("[data-testid=queue-row][data-queue=other] [data-testid=paused]").count(),
      0,
    );

    // Submitted after the pause: the worker goes on claiming the other queue's jobs (each one
    // submitted after the mail job, so a claim that ignored the pause would take the mail job
    // first), and never the mail job.
    const held = await echo.submit(queue, { n: 1 }, { queue: "mail" });
    for (let i = 0; i < 5; i++) {
      const marker = await echo.submit(queue, { n: i }, { queue: "other" });
      await eventually(async () => (await statusOf(queue, marker)) === "completed", `marker ${i}`);
      assert.equal(await statusOf(queue, held), "pending");
    }
    await page.goto(`${origin}/jobs/${held}`);
    assert.match(
      (await page.locator("[data-testid=why]").textContent())!,
      /queue "mail" is paused/,
    );

    // Resumed: it runs.
    await page.goto(`${origin}/`);
    await mail.locator("[data-testid=resume]").click();
    await page.locator("[data-testid=flash]", { hasText: "Resumed queue mail" }).waitFor();
    assert.equal(await mail.locator("[data-testid=paused]").count(), 0);
    await eventually(async () => (await statusOf(queue, held)) === "completed", "the held job");
    assert.equal((await queue.queues()).find((q) => q.name === "mail")?.paused, false);
  },
);

browserTest("a script in params does not run", async ({ queue, origin, page }) => {
  const script = "<script>window.__xss=1</script>";
  const attr = `"><img src=x onerror="window.__xss=2">`;
  const id = await echo.submit(queue, { note: script, html: attr }, { name: `${script}${attr}` });
  const hasXss = () => page.evaluate<boolean>('"__xss" in window');

  await page.goto(`${origin}/jobs/${id}`);
  assert.equal(await page.locator("[data-testid=job-id]").textContent(), id);
  assert.equal(await hasXss(), false);
  assert.equal(await page.locator("main img").count(), 0);
  assert.equal(await page.locator("main script").count(), 0);
  // Shown as text, as it was given.
  assert.match(
    (await page.locator("[data-testid=job-title]").textContent())!,
    /<script>window\.__xss=1<\/script>"><img src=x onerror="window\.__xss=2">/,
  );
  assert.deepEqual(JSON.parse((await page.locator("[data-testid=params]").textContent())!), {
    note: script,
    html: attr,
  });
  assert.equal(await page.title(), `Job ${script}${attr} · GigQ`);

  await page.goto(`${origin}/jobs/`);
  const row = page.locator(`[data-testid=job-row][data-id="${id}"]`);
  assert.equal((await row.locator("td").nth(1).textContent())?.trim(), `${script}${attr}`);
  assert.equal(await hasXss(), false);
  assert.equal(await page.locator("main img").count(), 0);

  // Typed into the search box, and sent back in the page.
  await page.locator("[data-testid=filter-search]").fill(attr);
  await page.locator("[data-testid=apply]").click();
  await page.waitForURL(/search=/);
  assert.equal(await page.locator("[data-testid=filter-search]").inputValue(), attr);
  assert.equal(await hasXss(), false);
  assert.equal(await page.locator("main img").count(), 0);
});

browserTest(
  "a cross-origin POST is refused",
  async ({ queue, origin, page, serve, requests }) => {
    const id = await echo.submit(queue, {}, { name: "victim" });
    // The user has the dashboard open: a session cookie, and the job page's CSRF token.
    await page.goto(`${origin}/jobs/${id}`);
    const csrf = await page.locator("form[action$='/cancel'] input[name=csrf]").inputValue();
    assert.ok(csrf.length > 10);
    const [session] = (await page.context().cookies(origin)).filter((c) =>
      c.name === "gigq_session"
    );
    assert.ok(session);

    // Another origin (same host, another port: the same site, so the SameSite=Strict cookie is
    // sent) posts the dashboard's own form, with the right token, and fetches it no-cors.
    const target = `${origin}/jobs/${id}/cancel`;
    const evil = serve(() =>
      new Response(
        `<!doctype html><title>evil</title>
<form id="f" method="post" action="${target}"><input type="hidden" name="csrf" value="${csrf}"></form>
<script>
fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", credentials: "include",
  body: new URLSearchParams({ csrf: ${JSON.stringify(csrf)} }) })
  // Its answer is opaque, or blocked (Cross-Origin-Resource-Policy): only the request matters.
  .catch(() => {}).finally(() => document.getElementById("f").submit());
</script>`,
        { headers: { "content-type": "text/html" } },
      )
    );
    const formAnswer = page.waitForResponse((r) => r.url() === target);
    await page.goto(`${evil}/`);
    assert.equal((await formAnswer).status(), 403);
    await page.waitForURL(target);
    const path = `/jobs/${id}/cancel`;
    const posts = () => requests.filter((r) => r.method === "POST" && r.path === path);
    await eventually(() => posts().length === 2, "both posts to arrive");
    for (const r of posts()) {
      assert.equal(r.headers.get("origin"), evil);
      assert.match(r.headers.get("cookie") ?? "", /gigq_session=/);
    }
    assert.match((await page.locator("[data-testid=error-message]").textContent())!, /refused/);
    assert.equal(await statusOf(queue, id), "pending");

    // Directly: that Origin gets 403 with the same cookie and token; the dashboard's own gets in.
    const post = (from: string) =>
      fetch(target, {
        method: "POST",
        redirect: "manual",
        headers: {
          origin: from,
          cookie: `gigq_session=${session.value}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: new URLSearchParams({ csrf }),
      });
    const refused = await post(evil);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /Cross-origin request refused/);
    assert.equal(await statusOf(queue, id), "pending");
    const allowed = await post(origin);
    await allowed.body?.cancel();
    assert.equal(allowed.status, 303);
    assert.equal(await statusOf(queue, id), "cancelled");
  },
);
