/** The dashboard's defences, each shown to hold (and to be needed). */
import assert from "node:assert/strict";
import { Job, JobQueue, task } from "../../mod.ts";
import { main } from "../../src/cli/main.ts";
import { backendTest } from "../_backends.ts";
import { tempDb } from "../_helpers.ts";
import { Client } from "./_client.ts";

const TOKEN = "s3cret-token-for-tests";
const echo = task("echo", (p: unknown) => p);

const XSS_SCRIPT = "<script>alert('xss')</script>";
const XSS_ATTR = `"><img src=x onerror=alert(1)>`;

backendTest(
  "the API answers 401 without a valid token when one is set, and 200 with it",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    await echo.submit(queue, { n: 1 });
    const c = new Client(queue, { token: TOKEN });
    const none = await c.get("/api/stats");
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="gigq"');
    assert.equal((await none.json()).error.code, "unauthorized");
    const wrong = await c.get("/api/stats", { authorization: `Bearer ${TOKEN}x` });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const right = await c.get("/api/stats", { authorization: `Bearer ${TOKEN}` });
    assert.equal(right.status, 200);
    assert.equal((await right.json()).pending, 1);
    // Pages send a browser without a session to the login form.
    const pageRes = await c.get("/jobs/");
    assert.equal(pageRes.status, 303);
    assert.equal(pageRes.headers.get("location"), "/login");
    queue.close();
  },
);

backendTest(
  "the login form sets an HttpOnly SameSite=Strict session cookie only for the right token",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue, { token: TOKEN });
    const bad = await c.form("/login", { token: "not-the-token" });
    assert.equal(bad.status, 401);
    assert.match(await bad.text(), /That is not the token/);
    assert.equal(c.cookies.size, 0);
    const good = await c.form("/login", { token: TOKEN });
    assert.equal(good.status, 303);
    const cookie = good.headers.getSetCookie().find((v) => v.startsWith("gigq_session="))!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const overview = await c.get("/");
    assert.equal(overview.status, 200);
    assert.match(await overview.text(), /<h1>Overview<\/h1>/);
    // A forged cookie (a valid shape, a wrong MAC) is no session.
    const forged = new Client(queue, { token: TOKEN });
    const [id, at] = c.cookies.get("gigq_session")!.split(".");
    forged.cookies.set("gigq_session", `${id}.${at}.AAAA`);
    assert.equal((await forged.get("/")).status, 303);
    // Logging out ends it.
    const { csrf } = await c.page("/");
    await c.form("/logout", { csrf: csrf! });
    assert.equal((await c.get("/")).status, 303);
    queue.close();
  },
);

backendTest(
  "a cross-origin POST is refused with 403 and changes nothing",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const id = await echo.submit(queue, {});
    const c = new Client(queue);
    const { csrf } = await c.page("/");
    assert.ok(csrf);
    // A page of another site posting the dashboard's own form, with a stolen-looking token.
    const forged = await c.form(`/jobs/${id}/cancel`, { csrf: csrf! }, {
      origin: "http://evil.example",
      "sec-fetch-site": "cross-site",
    });
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /Cross-site request refused|Cross-origin request refused/);
    // The API likewise, for a cross-origin fetch without Sec-Fetch-Site.
    const api = await c.post(`/api/jobs/${id}/cancel`, undefined, {
      origin: "http://evil.example",
    });
    assert.equal(api.status, 403);
    assert.equal((await api.json()).error.code, "cross_origin");
    assert.equal((await queue.getStatus(id))?.status, "pending");
    // A same-origin form without the session's CSRF token is refused too.
    const noToken = await c.form(`/jobs/${id}/cancel`, {});
    assert.equal(noToken.status, 403);
    await noToken.body?.cancel();
    const wrongToken = await c.form(`/jobs/${id}/cancel`, { csrf: "x" + csrf });
    assert.equal(wrongToken.status, 403);
    await wrongToken.body?.cancel();
    assert.equal((await queue.getStatus(id))?.status, "pending");
    // The real form, from the dashboard's origin with its token, works.
    const ok = await c.form(`/jobs/${id}/cancel`, { csrf: csrf! });
    assert.equal(ok.status, 303);
    assert.equal((await queue.getStatus(id))?.status, "cancelled");
    queue.close();
  },
);

backendTest(
  "script and attribute payloads in a job's name, params and error render as inert text",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const id = await queue.submit(
      new Job({
        task: "echo",
        name: XSS_SCRIPT,
        params: { html: XSS_SCRIPT, attr: XSS_ATTR, [XSS_ATTR]: 1 },
        queue: `q${XSS_ATTR}`.slice(0, 100),
      }),
    );
    const c = new Client(queue);
    for (
      const path of [`/jobs/${id}`, "/jobs/", "/", `/jobs/?search=${encodeURIComponent(XSS_ATTR)}`]
    ) {
      const res = await c.get(path);
      assert.equal(res.status, 200, path);
      const text = await res.text();
      assert.ok(!text.includes("<script>alert"), `${path} holds a live script tag`);
      assert.ok(!text.includes("<img src=x"), `${path} holds a live img tag`);
      assert.ok(!/onerror=alert\(1\)>/.test(text.replace(/&gt;/g, "")), path);
      const csp = res.headers.get("content-security-policy")!;
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    }
    const page = await (await c.get(`/jobs/${id}`)).text();
    assert.match(page, /&lt;script&gt;alert\(&#39;xss&#39;\)&lt;\/script&gt;/);
    assert.match(page, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
    queue.close();
  },
);

backendTest("a body over 1 MiB is a 400 and submits nothing", async ({ target, options }) => {
  const queue = new JobQueue(target, options);
  const c = new Client(queue);
  const big = { task: "echo", params: { blob: "x".repeat(1024 * 1024) } };
  const res = await c.post("/api/jobs", big);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error.code, "body_too_large");
  assert.match(body.error.message, /1 MiB/);
  // Without a Content-Length (a stream), the limit holds as the bytes arrive.
  const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (sent > 2 * 1024 * 1024) ctrl.close();
      else {
        sent += chunk.byteLength;
        ctrl.enqueue(chunk);
      }
    },
  });
  const streamed = await c.request("/api/jobs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
  });
  assert.equal(streamed.status, 400);
  assert.equal((await streamed.json()).error.code, "body_too_large");
  assert.equal((await queue.stats()).total, 0);
  queue.close();
});

backendTest(
  "bad query values are 400s naming the parameter; an unknown job is a 404 page",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue);
    const cases: [string, RegExp][] = [
      ["/api/jobs?status=done", /status: must be one of pending, running/],
      ["/api/jobs?limit=0", /limit: must be a whole number from 1 to 500, got "0"/],
      ["/api/jobs?limit=ten", /limit: must be a whole number/],
      ["/api/jobs?colour=red", /"colour": unknown; allowed are status, queue/],
      ["/api/jobs?status=failed&status=pending", /status: given more than once/],
      ["/api/jobs?before=0190aaaa-0000-7000-8000-000000000000", /before: no job has the id/],
      ["/api/workers?stopped=yes", /stopped: must be 0 or 1/],
    ];
    for (const [path, message] of cases) {
      const res = await c.get(path);
      assert.equal(res.status, 400, path);
      const body = await res.json();
      assert.equal(body.error.code, "bad_parameter", path);
      assert.match(body.error.message, message, path);
    }
    const pageBad = await c.get("/jobs/?status=done");
    assert.equal(pageBad.status, 400);
    assert.match(await pageBad.text(), /Query parameter status: must be one of/);
    const missing = await c.get("/jobs/0190aaaa-0000-7000-8000-000000000000");
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /No job has the id/);
    for (const path of ["/jobs/%ZZ", "/api/jobs/%ZZ", "/api/queues/%E0%A4%A/pause"]) {
      const res = path.includes("pause") ? await c.post(path) : await c.get(path);
      assert.equal(res.status, 400, path);
      assert.match(await res.text(), /malformed %-escape/, path);
    }
    const apiMissing = await c.get("/api/jobs/0190aaaa-0000-7000-8000-000000000000");
    assert.equal(apiMissing.status, 404);
    assert.equal((await apiMissing.json()).error.code, "not_found");
    queue.close();
  },
);

backendTest(
  "without a token, a Host other than loopback is refused (DNS rebinding)",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const c = new Client(queue, {}, { origin: "http://rebind.example:8080" });
    const res = await c.get("/api/stats");
    assert.equal(res.status, 403);
    assert.equal((await res.json()).error.code, "host_not_allowed");
    const withToken = new Client(queue, { token: TOKEN }, { origin: "http://jobs.example.com" });
    const ok = await withToken.get("/api/stats", { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    queue.close();
  },
);

backendTest(
  "a read-only dashboard shows no action and refuses every POST",
  async ({ target, options }) => {
    const queue = new JobQueue(target, options);
    const id = await echo.submit(queue, {});
    const c = new Client(queue, { readOnly: true });
    const { text, csrf } = await c.page(`/jobs/${id}`);
    assert.doesNotMatch(text, /data-testid="cancel"/);
    assert.equal(csrf, undefined);
    const api = await c.post(`/api/jobs/${id}/cancel`);
    assert.equal(api.status, 403);
    assert.equal((await api.json()).error.code, "read_only");
    const submit = await c.post("/api/jobs", { task: "echo" });
    assert.equal(submit.status, 403);
    await submit.body?.cancel();
    assert.equal((await queue.getStatus(id))?.status, "pending");
    assert.equal((await queue.stats()).total, 1);
    queue.close();
  },
);

Deno.test("gigq dashboard refuses to listen beyond loopback without a token (exit 2)", async () => {
  const db = await tempDb();
  try {
    new JobQueue(db.path).close();
    let stderr = "";
    const code = await main(["--db", db.path, "dashboard", "--host", "0.0.0.0", "--port", "0"], {
      stdout: () => {},
      stderr: (t) => stderr += t,
      env: () => undefined,
    });
    assert.equal(code, 2);
    assert.match(stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
    const short = await main(["--db", db.path, "dashboard", "--token", "abc"], {
      stdout: () => {},
      stderr: (t) => stderr += t,
      env: () => undefined,
    });
    assert.equal(short.valueOf(), 2);
    assert.match(stderr, /--token must be at least 8 characters/);
  } finally {
    await db.cleanup();
  }
});

Deno.test("tokens are compared in constant time (equal-length digests)", async () => {
  const { sameSecret } = await import("../../src/dashboard/_security.ts");
  assert.equal(await sameSecret("abc", "abc"), true);
  assert.equal(await sameSecret("abc", "abd"), false);
  assert.equal(await sameSecret("abc", "abcdef"), false);
  assert.equal(await sameSecret("", "x"), false);
});
