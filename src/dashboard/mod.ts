/**
 * The web dashboard and the HTTP JSON API, as one request handler to serve
 * with `Deno.serve` or to mount in an app.
 *
 * @module
 */
import type { JobQueue, RequeueManyFilter } from "../queue.ts";
import { api, jsonError } from "./_api.ts";
import { CSS, JS } from "./_assets.ts";
import { counts, COUNTS_TTL_MS, jobsPage, jobView, overview, Snapshot } from "./_data.ts";
import type { Html } from "./_html.ts";
import { intParam, jobsQuery, knownParams, pathParts, statusParam, textParam } from "./_params.ts";
import {
  errorPage,
  jobPage,
  jobsListPage,
  loginPage,
  overviewPage,
  type PageContext,
  schedulesPage,
  workersPage,
} from "./_pages.ts";
import { Guard, HttpError, LOOPBACK_HOSTS, readBody, secure } from "./_security.ts";

/** Options for {@linkcode dashboard}. */
export interface DashboardOptions {
  /**
   * A secret every request must carry: `Authorization: Bearer <token>`, or
   * the cookie the login page sets. Compared in constant time.
   *
   * @default {none: anyone who can reach the handler may use it}
   */
  token?: string;
  /**
   * The path the dashboard is mounted at, like `"/jobs"`: its pages are
   * `/jobs/`, `/jobs/jobs/:id`, its API `/jobs/api/…`. Starts with `/`, does not
   * end with one.
   *
   * @default {"" (the root)}
   */
  basePath?: string;
  /**
   * Shows everything and changes nothing: no action buttons, and every
   * POST (action or API) is refused with 403.
   *
   * @default {false}
   */
  readOnly?: boolean;
  /**
   * The host names (without port) the handler answers to, as the `Host`
   * header gives them; others get 403 (a defence against DNS rebinding).
   *
   * @default {loopback names (127.0.0.1, localhost, [::1]) without a token; any host with one}
   */
  allowedHosts?: readonly string[];
  /**
   * Where unexpected errors are reported (their details are not shown to the caller).
   *
   * @default {console.error}
   */
  onError?: (error: unknown) => void;
}

const FLASH_COOKIE = "gigq_flash";

function checkBasePath(base: unknown): string {
  if (base === undefined || base === "") return "";
  if (
    typeof base !== "string" || !base.startsWith("/") || base.endsWith("/") || /[?#\s]/.test(base)
  ) {
    throw new TypeError(
      `Cannot create dashboard: basePath must be a path like "/jobs" (starting with "/", not ` +
        `ending with one, without ?, # or spaces), got ${JSON.stringify(base)}`,
    );
  }
  return base;
}

function page(body: Html, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", "text/html; charset=utf-8");
  return new Response(body.text, { status, headers: h });
}

function redirect(to: string, headers: [string, string][] = []): Response {
  const h = new Headers(headers);
  h.set("location", to);
  return new Response(null, { status: 303, headers: h });
}

function flashCookie(base: string, text: string, bad: boolean): string {
  return `${FLASH_COOKIE}=${encodeURIComponent(`${bad ? "!" : ""}${text}`)}; Path=${
    base === "" ? "/" : base
  }; Max-Age=30; HttpOnly; SameSite=Strict`;
}

function readFlash(req: Request): { text: string; bad: boolean } | undefined {
  const raw = req.headers.get("cookie")?.split(";").map((c) => c.trim()).find((c) =>
    c.startsWith(`${FLASH_COOKIE}=`)
  );
  if (raw === undefined) return undefined;
  let text: string;
  try {
    text = decodeURIComponent(raw.slice(FLASH_COOKIE.length + 1));
  } catch {
    return undefined;
  }
  if (text === "") return undefined;
  return text.startsWith("!") ? { text: text.slice(1), bad: true } : { text, bad: false };
}

/**
 * The dashboard of `queue`: its pages (overview, jobs, a job, workers,
 * schedules), their actions, and the HTTP JSON API under `api/`, as a
 * handler for `Deno.serve`. Every asset is served by the handler itself (it
 * works offline). Pages escape every value from the database; POSTs must
 * come from the dashboard's own origin (and forms carry a per-session CSRF
 * token); with a `token`, every request needs it.
 *
 * @example Mount it in an app, behind a token
 * ```ts ignore
 * import { JobQueue } from "@gigq/gigq";
 * import { dashboard } from "@gigq/gigq/dashboard";
 *
 * const queue = new JobQueue("jobs.db");
 * const jobs = dashboard(queue, { token: Deno.env.get("GIGQ_TOKEN"), basePath: "/jobs" });
 * Deno.serve((req) => new URL(req.url).pathname.startsWith("/jobs") ? jobs(req) : app(req));
 * ```
 *
 * @param queue the queue to show and act on
 * @param options the token, the base path, read-only, the allowed hosts
 */
export function dashboard(
  queue: JobQueue,
  options: DashboardOptions = {},
): (req: Request) => Promise<Response> {
  const base = checkBasePath(options.basePath);
  const token = options.token;
  if (token !== undefined && (typeof token !== "string" || token.length < 8)) {
    throw new TypeError(
      `Cannot create dashboard: token must be a string of at least 8 characters, got ${
        typeof token === "string" ? `${token.length} characters` : typeof token
      }`,
    );
  }
  const readOnly = options.readOnly === true;
  const hosts = options.allowedHosts ?? (token === undefined ? LOOPBACK_HOSTS : undefined);
  const guard = new Guard(token, base, hosts);
  const onError = options.onError ?? ((e: unknown) => console.error("gigq dashboard:", e));
  const snapshot = new Snapshot(() => counts(queue), COUNTS_TTL_MS);

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const isApi = url.pathname.startsWith(`${base}/api/`) || url.pathname === `${base}/api`;
    const ctx: PageContext = { base, csrf: "", readOnly, protected: guard.protected };
    let response: Response;
    try {
      response = await handle(req, url, ctx);
    } catch (e) {
      const err = e instanceof HttpError ? e : internal(e);
      response = isApi ? jsonError(err) : page(errorPage(ctx, err.status, err.message), err.status);
    }
    secure(response.headers);
    return response;
  };

  function internal(e: unknown): HttpError {
    onError(e);
    return new HttpError(500, "internal", "The dashboard failed to answer (see its log)");
  }

  async function handle(req: Request, url: URL, ctx: PageContext): Promise<Response> {
    const path = url.pathname;
    if (path !== base && !path.startsWith(`${base}/`)) {
      throw new HttpError(404, "not_found", `${path} is not a page of this dashboard`);
    }
    const rest = path.slice(base.length) || "/";
    const method = req.method;
    if (method === "GET" && (rest === "/assets/app.css" || rest === "/assets/app.js")) {
      const css = rest.endsWith(".css");
      return new Response(css ? CSS : JS, {
        headers: {
          "content-type": css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
          "cache-control": "public, max-age=3600",
        },
      });
    }
    guard.checkHost(req);
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      throw new HttpError(405, "method_not_allowed", `${method} is not allowed (GET and POST are)`);
    }
    if (method === "POST") guard.checkOrigin(req);
    const now = Date.now();
    const caller = await guard.caller(req, now);

    if (rest === "/login") {
      if (method === "GET") return page(loginPage(base, false));
      const form = new URLSearchParams(await readBody(req));
      if (!(await guard.isToken(form.get("token") ?? ""))) {
        return page(loginPage(base, true), 401);
      }
      const { cookie } = await guard.newSession(req, now);
      return redirect(`${base}/`, [["set-cookie", cookie]]);
    }
    if (rest === "/logout" && method === "POST") {
      return redirect(`${base}/login`, [["set-cookie", guard.endSession(req)]]);
    }

    if (rest === "/api" || rest.startsWith("/api/")) {
      if (!caller.allowed) {
        throw new HttpError(
          401,
          "unauthorized",
          "A valid token is needed: send Authorization: Bearer <token>",
        );
      }
      const res = await api({ queue, readOnly }, req, url, rest.slice(5));
      if (method === "POST") snapshot.invalidate();
      return res;
    }

    if (!caller.allowed) {
      if (method === "GET") return redirect(`${base}/login`);
      throw new HttpError(401, "unauthorized", "Log in first");
    }
    // Pages: every browser gets a session (a login's, or an anonymous one without a token), whose
    // CSRF token the forms carry.
    let session = caller.session;
    const setCookies: [string, string][] = [];
    if (session === undefined) {
      const fresh = await guard.newSession(req, now);
      session = fresh.session;
      setCookies.push(["set-cookie", fresh.cookie]);
    }
    ctx.csrf = await guard.csrf(session);

    if (method === "POST") {
      if (readOnly) {
        throw new HttpError(403, "read_only", "This dashboard is read-only: it takes no actions");
      }
      const form = new URLSearchParams(await readBody(req));
      await guard.checkCsrf(caller.session, form.get("csrf"));
      const { to, text, bad } = await act(rest, form);
      snapshot.invalidate();
      return redirect(to, [...setCookies, ["set-cookie", flashCookie(base, text, bad)]]);
    }

    const flash = readFlash(req);
    if (flash !== undefined) {
      ctx.flash = flash;
      setCookies.push([
        "set-cookie",
        `${FLASH_COOKIE}=; Path=${base === "" ? "/" : base}; Max-Age=0; HttpOnly; SameSite=Strict`,
      ]);
    }
    const parts = pathParts(rest);
    let body: Html;
    let status = 200;
    if (parts.length === 0) {
      knownParams(url, []);
      body = overviewPage(ctx, await overview(queue, snapshot));
    } else if (parts[0] === "jobs" && parts.length === 1) {
      const f = jobsQuery(url);
      const [pageData, known] = await Promise.all([jobsPage(queue, f), snapshot.get()]);
      body = jobsListPage(ctx, f, pageData, known.data.queues.map((q) => q.name));
    } else if (parts[0] === "jobs" && parts.length === 2) {
      knownParams(url, []);
      const id = parts[1];
      const view = await jobView(queue, id);
      if (view === undefined) {
        body = errorPage(
          ctx,
          404,
          `No job has the id ${
            JSON.stringify(id)
          }: it may have been removed by retention or clear.`,
        );
        status = 404;
      } else {
        body = jobPage(ctx, view);
      }
    } else if (parts[0] === "workers" && parts.length === 1) {
      knownParams(url, ["stopped"]);
      const stopped = intParam(url, "stopped", 0, 0, 1) === 1;
      body = workersPage(ctx, await queue.workers({ stopped }), stopped);
    } else if (parts[0] === "schedules" && parts.length === 1) {
      knownParams(url, []);
      body = schedulesPage(ctx, await queue.schedules());
    } else {
      throw new HttpError(404, "not_found", `${rest} is not a page of this dashboard`);
    }
    return page(body, status, setCookies);
  }

  /** Runs a form's action; says where to go next and what happened. */
  async function act(
    rest: string,
    form: URLSearchParams,
  ): Promise<{ to: string; text: string; bad: boolean }> {
    const parts = pathParts(rest);
    if (parts[0] === "jobs" && parts.length === 2 && parts[1] === "requeue") {
      const filter: RequeueManyFilter = {};
      const u = new URL("http://x/");
      for (const k of ["status", "queue", "task"]) {
        const v = form.get(k);
        if (v !== null && v !== "") u.searchParams.set(k, v);
      }
      const status = statusParam(u);
      if (status !== undefined) {
        if (status !== "failed" && status !== "timeout" && status !== "cancelled") {
          throw new HttpError(
            400,
            "bad_parameter",
            `status: only failed, timeout or cancelled jobs can be requeued, got ${
              JSON.stringify(status)
            }`,
          );
        }
        filter.status = status;
      }
      const q = textParam(u, "queue", 128);
      if (q !== undefined) filter.queue = q;
      const task = textParam(u, "task");
      const n = await queue.requeueMany({ ...filter, task }).catch((e) => {
        if (e instanceof TypeError || e instanceof RangeError) {
          throw new HttpError(400, "bad_request", e.message);
        }
        throw e;
      });
      const back = new URLSearchParams();
      for (const k of ["status", "queue", "task"]) {
        if (u.searchParams.has(k)) back.set(k, u.searchParams.get(k)!);
      }
      const qs = back.toString();
      return {
        to: `${base}/jobs/${qs === "" ? "" : `?${qs}`}`,
        text: `Requeued ${n} ${n === 1 ? "job" : "jobs"}`,
        bad: false,
      };
    }
    if (
      parts[0] === "jobs" && parts.length === 3 && (parts[2] === "cancel" || parts[2] === "requeue")
    ) {
      const id = parts[1];
      const to = `${base}/jobs/${encodeURIComponent(id)}`;
      if ((await queue.getStatus(id)) === undefined) {
        throw new HttpError(404, "not_found", `No job has the id ${JSON.stringify(id)}`);
      }
      if (parts[2] === "cancel") {
        const ok = await queue.cancel(id);
        return {
          to,
          text: ok ? "Cancelled the job" : "The job had already ended: nothing to cancel",
          bad: !ok,
        };
      }
      const ok = await queue.requeue(id);
      return {
        to,
        text: ok
          ? "Requeued the job: it is pending again"
          : "Only a failed, timed-out or cancelled job can be requeued",
        bad: !ok,
      };
    }
    if (
      parts[0] === "queues" && parts.length === 3 && (parts[2] === "pause" || parts[2] === "resume")
    ) {
      const name = parts[1];
      try {
        if (parts[2] === "pause") await queue.pause(name);
        else await queue.resume(name);
      } catch (e) {
        if (e instanceof TypeError || e instanceof RangeError) {
          throw new HttpError(400, "bad_request", e.message);
        }
        throw e;
      }
      return {
        to: `${base}/`,
        text: `${parts[2] === "pause" ? "Paused" : "Resumed"} queue ${name}`,
        bad: false,
      };
    }
    if (parts[0] === "schedules" && parts.length === 3 && parts[2] === "run") {
      const name = parts[1];
      if (!(await queue.schedules()).some((s) => s.name === name)) {
        throw new HttpError(404, "not_found", `No schedule is named ${JSON.stringify(name)}`);
      }
      const id = await queue.runSchedule(name);
      return {
        to: `${base}/jobs/${encodeURIComponent(id)}`,
        text: `Ran schedule ${name} now`,
        bad: false,
      };
    }
    throw new HttpError(404, "not_found", `POST ${rest} is not an action of this dashboard`);
  }
}
