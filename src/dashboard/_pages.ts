/**
 * The dashboard's pages, rendered on the server from templates that escape
 * every value (see `_html.ts`).
 *
 * @module
 */
import type { ExecutionInfo, JobInfo, QueueInfo } from "../job_info.ts";
import type { ScheduleInfo } from "../schedule.ts";
import type { ActivityMinute, WorkerInfo } from "../../mod.ts";
import { JOB_STATUSES } from "../job_status.ts";
import { type Html, html, query } from "./_html.ts";
import { isLive, type JobsPage, type JobView, type Overview, type Relative } from "./_data.ts";
import type { JobsQuery } from "./_params.ts";

/** What every page needs to link and to post. */
export interface PageContext {
  /** The prefix of every path ("" or "/jobs"-like). */
  base: string;
  /** The session's CSRF token (forms carry it). */
  csrf: string;
  /** No actions. */
  readOnly: boolean;
  /** A token protects the dashboard (a logout button shows). */
  protected: boolean;
  /** A message to show once (after an action). */
  flash?: { text: string; bad: boolean };
}

const STATUSES = ["pending", "running", "completed", "failed", "timeout", "cancelled"] as const;

/** A time for people, in UTC, to the second. */
export function when(iso: string | null): string {
  if (iso === null) return "—";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace("Z", " UTC");
}

function num(n: number): string {
  return n.toLocaleString("en-US");
}

function badge(status: string): Html {
  return html`<span class="badge s-${status}">${status}</span>`;
}

/**
 * A job id, shortened for a table or a graph: its last group. Ids are UUIDv7,
 * whose first groups are the creation time (the same for a whole batch); the
 * last group is random, so it tells jobs apart.
 */
export function shortId(id: string): string {
  return id.length > 13 ? `…${id.slice(-12)}` : id;
}

function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "null";
}

/** A POST form with the CSRF token, a button, and an optional confirmation. */
function action(
  ctx: PageContext,
  path: string,
  label: string,
  opts: {
    confirm?: string;
    fields?: Record<string, string | undefined>;
    cls?: string;
    testid?: string;
  } = {},
): Html {
  if (ctx.readOnly) return html``;
  const fields = Object.entries(opts.fields ?? {}).filter(([, v]) => v !== undefined);
  return html`
    <form class="inline" method="post" action="${ctx.base}${path}"
      ${opts.confirm === undefined ? "" : html`
        data-confirm="${opts.confirm}"
      `}><input type="hidden" name="csrf" value="${ctx.csrf}">${fields.map(([k, v]) =>
        html`<input type="hidden" name="${k}" value="${v}">`
      )}<button type="submit" class="${opts.cls ?? ""}" data-testid="${opts.testid ??
        ""}">${label}</button></form>
  `;
}

/** The frame of every page. */
export function layout(ctx: PageContext, title: string, on: string, body: Html): Html {
  const nav = [["", "Overview"], ["/jobs", "Jobs"], ["/workers", "Workers"], [
    "/schedules",
    "Schedules",
  ]];
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${title} · GigQ</title>
        <link rel="stylesheet" href="${ctx.base}/assets/app.css">
        <script src="${ctx.base}/assets/app.js" defer></script>
      </head>
      <body data-refresh="3000">
        <header><a class="brand" href="${ctx.base}/">GigQ</a><nav>${nav.map(([p, label]) =>
          html`<a href="${ctx.base}${p}/" class="${on === label ? "on" : ""}">${label}</a>`
        )}</nav><div class="right"><span id="live-note" class="live-note"></span>${ctx.readOnly
          ? html`<span class="badge" data-testid="read-only">read-only</span>`
          : ""}${ctx.protected
          ? html`
            <form method="post"
              action="${ctx.base}/logout"><input type="hidden" name="csrf" value="${ctx
                .csrf}"><button type="submit">Log out</button></form>
          `
          : ""}</div></header>
        <main>${ctx.flash === undefined
          ? ""
          : html`<div class="flash${
            ctx.flash.bad ? " bad" : ""
          }" role="status" data-testid="flash">${ctx.flash.text}</div>`}${body}</main>
      </body>
    </html>
  `;
}

/** The chart of the last hour: completed and failed jobs per minute, as stacked bars. */
export function activityChart(minutes: readonly ActivityMinute[]): Html {
  const w = 900, h = 150, left = 40, bottom = 20, top = 8;
  const max = Math.max(1, ...minutes.map((m) => m.completed + m.failed));
  const step = (w - left) / Math.max(1, minutes.length);
  const scale = (n: number) => (n / max) * (h - bottom - top);
  const bars = minutes.map((m, i) => {
    const x = left + i * step + 1;
    const bw = Math.max(1, step - 2);
    const hc = scale(m.completed), hf = scale(m.failed);
    const base = h - bottom;
    const label = `${m.minute.slice(11, 16)} UTC: ${m.completed} completed, ${m.failed} failed`;
    return html`
      <g>
        <title>${label}</title>
        <rect class="bar-completed" x="${x.toFixed(1)}" y="${(base - hc).toFixed(1)}" width="${bw
          .toFixed(1)}"
          height="${hc.toFixed(1)}"></rect>
        <rect class="bar-failed" x="${x.toFixed(1)}" y="${(base - hc - hf).toFixed(1)}" width="${bw
          .toFixed(1)}"
          height="${hf.toFixed(1)}"></rect>
      </g>
    `;
  });
  const first = minutes[0]?.minute.slice(11, 16) ?? "";
  const last = minutes[minutes.length - 1]?.minute.slice(11, 16) ?? "";
  const total = minutes.reduce((s, m) => s + m.completed + m.failed, 0);
  return html`
    <svg class="chart" viewBox="0 0 ${w} ${h}" width="100%" height="${h}"
      role="img"
      aria-label="Jobs ended per minute over the last hour: ${total} in all"
      data-testid="activity-chart">
    <line class="axis" x1="${left}" y1="${h - bottom}" x2="${w}" y2="${h - bottom}"></line>
    <text x="${left - 6}" y="${top + 10}" text-anchor="end">${num(max)}</text><text x="${left -
      6}" y="${h - bottom}" text-anchor="end">0</text>
    ${bars}<text x="${left}" y="${h - 4}">${first} UTC</text><text x="${w}" y="${h -
      4}" text-anchor="end">${last} UTC</text></svg>
  `;
}

function limitsText(q: QueueInfo): string {
  const s = q.settings;
  const parts: string[] = [];
  if (s.concurrency !== null) parts.push(`${s.concurrency} at a time`);
  if (s.keyConcurrency !== null) parts.push(`${s.keyConcurrency} per key`);
  if (s.rateLimit !== null) parts.push(`${s.rateLimit.max} per ${s.rateLimit.perSeconds} s`);
  return parts.length === 0 ? "—" : parts.join(", ");
}

/** The overview page. */
export function overviewPage(ctx: PageContext, o: Overview): Html {
  const b = ctx.base;
  const cards = STATUSES.map((s) =>
    html`
      <a class="stat ${s}" href="${b}/jobs/${query({ status: s })}"
        data-testid="count-${s}"><div class="n">${num(
          o.stats[s],
        )}</div><div class="l">${s}</div></a>
    `
  );
  const rows = o.queues.map((q) =>
    html`
      <tr data-testid="queue-row"
        data-queue="${q.name}"><td><a href="${b}/jobs/${query({ queue: q.name })}">${q
          .name}</a> ${q.paused
          ? html`<span class="badge paused" data-testid="paused">paused</span>`
          : ""}</td>${STATUSES.map((s) =>
            html`<td class="num">${
              q[s] === 0
                ? html`<span class="muted">0</span>`
                : html`<a href="${b}/jobs/${query({ queue: q.name, status: s })}">${num(q[s])}</a>`
            }</td>`
          )}<td>${limitsText(q)}</td><td>${q.paused
          ? action(ctx, `/queues/${encodeURIComponent(q.name)}/resume`, "Resume", {
            testid: "resume",
          })
          : action(ctx, `/queues/${encodeURIComponent(q.name)}/pause`, "Pause", {
            confirm: `Pause queue ${q.name}? Workers stop claiming its jobs.`,
            testid: "pause",
          })}</td></tr>
    `
  );
  return layout(
    ctx,
    "Overview",
    "Overview",
    html`
      <h1>Overview</h1>
      <div id="overview-live" data-live><div class="cards">${cards}</div>
      <div class="card"><h2>Jobs ended per minute, last hour</h2>${activityChart(o.activity)}</div>
      <h2>Queues</h2><div class="tablewrap"><table data-testid="queues"><thead><tr><th>Queue</th>${STATUSES
        .map((s) =>
          html`<th class="num">${s}</th>`
        )}<th>Limits</th><th></th></tr></thead><tbody>${rows.length === 0
        ? html`
          <tr>
            <td colspan="9" class="muted">No queues yet: submit a job.</td>
          </tr>
        `
        : rows}</tbody></table></div>
      <h2>Live workers (${o.workers.length})</h2>${workersTable(ctx, o.workers)}</div>
    `,
  );
}

function workersTable(ctx: PageContext, workers: readonly WorkerInfo[]): Html {
  if (workers.length === 0) {
    return html`
      <p class="muted"
        data-testid="no-workers">No live worker: pending jobs wait until one starts (<code>deno task worker</code>).</p>
    `;
  }
  return html`
    <div class="tablewrap">
      <table data-testid="workers">
        <thead>
          <tr>
            <th>Worker</th>
            <th>Host</th>
            <th class="num">PID</th>
            <th>Queues</th>
            <th>Tasks</th>
            <th class="num">Slots</th>
            <th>Last seen</th>
            <th>Running</th>
          </tr>
        </thead>
        <tbody>${workers.map((w) =>
          html`
            <tr data-testid="worker-row">
              <td class="mono">${w.id}</td>
              <td>${w.host}</td>
              <td class="num">${w.pid}</td>
              <td>${w.queues === null
                ? html`<span class="muted">all</span>`
                : w.queues.join(", ")}</td>
              <td>${w.tasks.join(", ")}</td>
              <td class="num">${w.concurrency}</td>
              <td>${when(w.lastSeenAt)}${w.stoppedAt === null ? "" : html`
                <span class="muted">(stopped ${when(w.stoppedAt)})</span>
              `}</td>
              <td>${w.running.length === 0
                ? html`<span class="muted">idle</span>`
                : w.running.map((id, i) =>
                  html`${i > 0 ? ", " : ""}<a class="mono" href="${ctx.base}/jobs/${
                    encodeURIComponent(id)
                  }">${shortId(id)}</a>`
                )}</td>
            </tr>
          `
        )}</tbody>
      </table>
    </div>
  `;
}

/** The workers page: the live ones, the silent ones (probably gone), and stopped ones if asked. */
export function workersPage(
  ctx: PageContext,
  workers: readonly WorkerInfo[],
  stopped: boolean,
): Html {
  const now = Date.now();
  const live = workers.filter((w) => isLive(w, now));
  const silent = workers.filter((w) => w.stoppedAt === null && !isLive(w, now));
  const ended = workers.filter((w) => w.stoppedAt !== null);
  return layout(
    ctx,
    "Workers",
    "Workers",
    html`
      <h1>Workers</h1>
      <p>${stopped
        ? html`Live, silent and recently stopped workers. <a href="${ctx.base}/workers/">Hide stopped ones</a>`
        : html`Live and silent workers. <a href="${ctx.base}/workers/?stopped=1">Include stopped ones</a>`}</p>
      <div id="workers-live" data-live><h2>Live (${live.length})</h2>${workersTable(
        ctx,
        live,
      )}${silent
          .length === 0
        ? ""
        : html`
          <h2>Silent for over a minute (${silent.length})</h2><p class="muted"
            data-testid="silent-note">Not stopped, but no sign of life for over a minute: probably killed. Their running jobs go back to pending when their leases expire.</p>${workersTable(
              ctx,
              silent,
            )}
        `}${stopped
        ? html`<h2>Stopped (${ended.length})</h2>${
          ended.length === 0 ? html`<p class="muted">None.</p>` : workersTable(ctx, ended)
        }`
        : ""}</div>
    `,
  );
}

/** A select's options, `selected` marked. */
function choices(values: readonly string[], selected: string | undefined): Html[] {
  return values.map((v) =>
    v === selected
      ? html`<option value="${v}" selected>${v}</option>`
      : html`<option value="${v}">${v}</option>`
  );
}

/** The jobs page: the filter, the bulk requeue, a page of jobs. */
export function jobsListPage(
  ctx: PageContext,
  f: JobsQuery,
  page: JobsPage,
  queues: readonly string[],
): Html {
  const b = ctx.base;
  const filter = { status: f.status, queue: f.queue, task: f.task, search: f.search };
  const count = page.count.exact ? num(page.count.count) : `${num(page.count.count)}+`;
  const canRequeue = f.status === undefined || f.status === "failed" || f.status === "timeout" ||
    f.status === "cancelled";
  const bulk = !ctx.readOnly && canRequeue &&
      (f.status !== undefined || f.queue !== undefined || f.task !== undefined) &&
      f.search === undefined
    ? action(
      ctx,
      "/jobs/requeue",
      `Requeue ${f.status ?? "failed and timed-out"} jobs matching this filter`,
      {
        confirm: "Requeue every job matching this filter?",
        fields: { status: f.status, queue: f.queue, task: f.task },
        testid: "bulk-requeue",
      },
    )
    : html``;
  const rows = page.jobs.map((j) => jobRow(b, j));
  return layout(
    ctx,
    "Jobs",
    "Jobs",
    html`
      <h1>Jobs</h1>
      <form class="filters" method="get" action="${b}/jobs/" data-testid="filters">
      <label>Status<select name="status" data-testid="filter-status"><option value="">any</option>${choices(
        JOB_STATUSES,
        f.status,
      )}</select></label>
      <label>Queue<select name="queue" data-testid="filter-queue"><option value="">any</option>${choices(
        [...new Set([...queues, ...(f.queue === undefined ? [] : [f.queue])])],
        f.queue,
      )}</select></label>
      <label>Task<input name="task" value="${f.task ??
        ""}" placeholder="exact task name" data-testid="filter-task"></label>
      <label>Search<input name="search" value="${f.search ??
        ""}" placeholder="job id, or text in params" size="28" data-testid="filter-search"></label>
      <button type="submit" class="primary" data-testid="apply">Filter</button> <a href="${b}/jobs/">Clear</a>
      </form>
      <div class="actions">${bulk}</div>
      <div id="jobs-live" data-live>
        <p data-testid="jobs-count">${count} ${page.count.count === 1
          ? "job"
          : "jobs"}${f.before === undefined ? "" : " (this page and older)"}</p>
        <div class="tablewrap">
          <table data-testid="jobs">
            <thead>
              <tr>
                <th>Job</th>
                <th>Name</th>
                <th>Task</th>
                <th>Queue</th>
                <th>Status</th>
                <th class="num">Attempts</th>
                <th>Created</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>${rows.length === 0
              ? html`
                <tr>
                  <td colspan="8" class="muted">No job matches.</td>
                </tr>
              `
              : rows}</tbody>
          </table>
        </div>
        <div class="pager">${f.before === undefined
          ? ""
          : html`<a href="${b}/jobs/${
            query({ ...filter, limit: f.limit === 50 ? undefined : f.limit })
          }">« Newest</a>`}${page.next === null
          ? ""
          : html`<a href="${b}/jobs/${
            query({ ...filter, before: page.next, limit: f.limit === 50 ? undefined : f.limit })
          }" data-testid="older">Older »</a>`}</div>
      </div>
    `,
  );
}

function jobRow(b: string, j: JobInfo): Html {
  return html`
    <tr data-testid="job-row" data-id="${j.id}" data-status="${j.status}">
      <td><a class="mono" href="${b}/jobs/${encodeURIComponent(j.id)}">${shortId(j.id)}</a></td>
      <td>${j.name}</td>
      <td class="mono">${j.task}</td>
      <td>${j.queue}</td>
      <td>${badge(j.status)}</td>
      <td class="num">${j.attempts}/${j.maxAttempts}</td>
      <td>${when(j.createdAt)}</td>
      <td>${when(j.updatedAt)}</td>
    </tr>
  `;
}

/** The graph of a job's parents (left) and children (right). */
export function jobGraph(b: string, v: JobView): Html {
  const boxW = 220, boxH = 44, gapY = 12, colX = [0, 290, 580];
  const n = Math.max(1, v.parents.length, v.children.length);
  const height = n * (boxH + gapY);
  const y = (i: number, count: number) =>
    (height - count * (boxH + gapY)) / 2 + i * (boxH + gapY) + gapY / 2;
  const node = (r: Relative, x: number, yy: number, self: boolean) => {
    const label = r.name ?? "(no longer exists)";
    const inner = html`
      <g class="n-${r.status}${self ? " self" : ""}" data-testid="graph-node" data-id="${r.id}"
        data-status="${r.status}">
        <rect x="${x}" y="${yy}" width="${boxW}" height="${boxH}" rx="6"></rect>
        <text x="${x + 10}" y="${yy + 18}">${label.length > 28
          ? label.slice(0, 27) + "…"
          : label}</text>
        <text class="st" x="${x + 10}" y="${yy + 34}">${r.status} · ${shortId(r.id)}</text>
      </g>
    `;
    return self || r.status === "missing"
      ? inner
      : html`<a href="${b}/jobs/${encodeURIComponent(r.id)}">${inner}</a>`;
  };
  const selfY = y(0, 1);
  const self: Relative = { id: v.job.id, name: v.job.name, status: v.job.status };
  const edges: Html[] = [];
  const nodes: Html[] = [node(self, colX[1], selfY, true)];
  v.parents.forEach((p, i) => {
    const py = y(i, v.parents.length);
    edges.push(html`
      <path class="edge"
        d="M${colX[0] + boxW} ${py + boxH / 2} C${colX[0] + boxW + 35} ${py + boxH / 2} ${colX[1] -
          35} ${selfY + boxH / 2} ${colX[1]} ${selfY + boxH / 2}"></path>
    `);
    nodes.push(node(p, colX[0], py, false));
  });
  v.children.forEach((c, i) => {
    const cy = y(i, v.children.length);
    edges.push(html`
      <path class="edge"
        d="M${colX[1] + boxW} ${selfY + boxH / 2} C${colX[1] + boxW + 35} ${selfY +
          boxH / 2} ${colX[2] - 35} ${cy + boxH / 2} ${colX[2]} ${cy + boxH / 2}"></path>
    `);
    nodes.push(node(c, colX[2], cy, false));
  });
  return html`
    <svg class="graph" viewBox="-2 0 ${colX[2] + boxW + 4} ${height}" width="100%" height="${Math
      .min(height, 600)}"
      role="img" aria-label="Parents and children" data-testid="graph">${edges}${nodes}</svg>
  `;
}

function attemptItem(e: ExecutionInfo): Html {
  const ms = e.completedAt === null ? null : Date.parse(e.completedAt) - Date.parse(e.startedAt);
  return html`
    <li class="s-${e.status}" data-testid="attempt"
      data-status="${e.status}"><div class="head">Attempt ${e.attempt} ${badge(
        e.status,
      )} <span class="muted">run ${e.run}</span></div><div class="muted">${when(
        e.startedAt,
      )} → ${e.completedAt === null ? "running" : when(e.completedAt)}${ms === null
        ? ""
        : ` (${
          ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
        })`} · worker <span class="mono">${e.workerId}</span></div>${e.error === null
        ? ""
        : html`<pre class="error">${e.error}</pre>`}</li>
  `;
}

/** A job's page. */
export function jobPage(ctx: PageContext, v: JobView): Html {
  const j = v.job;
  const b = ctx.base;
  const path = `/jobs/${encodeURIComponent(j.id)}`;
  const canCancel = j.status === "pending" || j.status === "running";
  const canRequeue = j.status === "failed" || j.status === "timeout" || j.status === "cancelled";
  const facts: [string, unknown][] = [
    ["Id", html`<span class="mono" data-testid="job-id">${j.id}</span>`],
    ["Task", html`<span class="mono">${j.task}</span>`],
    ["Module", j.module ?? "—"],
    ["Queue", html`<a href="${b}/jobs/${query({ queue: j.queue })}">${j.queue}</a>`],
    ["Priority", j.priority],
    ["Attempts", `${j.attempts} of ${j.maxAttempts}`],
    ["Timeout", `${j.timeout} s`],
    [
      "Retry delay",
      `${j.retryDelay} s, ${j.backoff}${
        j.backoff === "exponential" ? ` (at most ${j.maxRetryDelay} s)` : ""
      }`,
    ],
    ["Unique key", j.uniqueKey ?? "—"],
    ["Concurrency key", j.concurrencyKey ?? "—"],
    ["Created", when(j.createdAt)],
    ["Run at", when(j.runAt)],
    ["Started", when(j.startedAt)],
    ["Ended", when(j.completedAt)],
    ["Worker", j.workerId ?? j.executions.at(-1)?.workerId ?? "—"],
    ["Lease until", when(j.leaseUntil)],
    ["Description", j.description === "" ? "—" : j.description],
  ];
  const executions = [...j.executions].sort((a, c) => a.run - c.run);
  return layout(
    ctx,
    `Job ${j.name}`,
    "Jobs",
    html`
      <div id="job-live" data-live>
        <h1 data-testid="job-title" data-status="${j.status}">${j.name} ${badge(j.status)}</h1>
        <div class="why r-${v.why.reason}" data-testid="why"><strong>Why:</strong> ${v.why
          .message}</div>
        <div class="actions">${canCancel
          ? action(ctx, `${path}/cancel`, "Cancel", {
            confirm: "Cancel this job?",
            cls: "danger",
            testid: "cancel",
          })
          : ""}${canRequeue
          ? action(ctx, `${path}/requeue`, "Requeue", { testid: "requeue" })
          : ""}</div>
        <div class="grid2">
          <div class="card">
            <h2>Details</h2>
            <dl class="facts">${facts.map(([k, v]) =>
              html`
                <dt>${k}</dt>
                <dd>${v}</dd>
              `
            )}</dl>
          </div>
          <div><div class="card"><h2>Params</h2><pre data-testid="params">${jsonText(
            j.params,
          )}</pre></div>${j.status === "completed"
            ? html`
              <div class="card">
                <h2>Result</h2>
                <pre data-testid="result">${jsonText(j.result)}</pre>
              </div>
            `
            : ""}${j.error === null ? "" : html`
            <div class="card">
              <h2>Error</h2>
              <pre class="error" data-testid="error">${j.error}</pre>
            </div>
          `}${j.progress === null ? "" : html`
            <div class="card">
              <h2>Progress</h2>
              <pre data-testid="progress">${jsonText(j.progress)}</pre>
            </div>
          `}</div>
        </div>
        <div class="card"><h2>Attempts (${executions.length})</h2>${executions.length === 0
          ? html`<p class="muted">Not started yet.</p>`
          : html`<ol class="timeline" data-testid="attempts">${
            executions.map(attemptItem)
          }</ol>`}</div>
        <div
          class="card"><h2>Workflow: ${v.parents.length} ${v.parents.length === 1
            ? "parent"
            : "parents"}, ${v.children.length} ${v.children.length === 1
            ? "child"
            : "children"}</h2>${jobGraph(b, v)}</div>
      </div>
    `,
  );
}

/** The schedules page. */
export function schedulesPage(ctx: PageContext, schedules: readonly ScheduleInfo[]): Html {
  return layout(
    ctx,
    "Schedules",
    "Schedules",
    html`
      <h1>Schedules</h1>
      <div id="schedules-live" data-live>${schedules.length === 0
        ? html`
          <p
            class="muted">No schedules: add one with <code>gigq schedules add</code> or <code>queue.schedule()</code>.</p>
        `
        : html`
          <div class="tablewrap">
            <table data-testid="schedules">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Cron</th>
                  <th>Task</th>
                  <th>Queue</th>
                  <th>Next run</th>
                  <th>Last run</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>${schedules.map((s) =>
                html`
                  <tr data-testid="schedule-row" data-name="${s.name}">
                    <td>${s.name} ${s.paused
                      ? html`<span class="badge paused">paused</span>`
                      : ""}</td>
                    <td class="mono">${s.cron} <span class="muted">${s.timezone}</span></td>
                    <td class="mono">${s.task}</td>
                    <td>${s.queue}</td>
                    <td>${when(s.nextRunAt)}</td>
                    <td>${s.lastRunAt === null
                      ? "—"
                      : html`<a href="${ctx.base}/jobs/${
                        query({ task: s.task, queue: s.queue })
                      }">${when(s.lastRunAt)}</a>`}</td>
                    <td>${action(ctx, `/schedules/${encodeURIComponent(s.name)}/run`, "Run now", {
                      testid: "run-now",
                    })}</td>
                  </tr>
                `
              )}</tbody>
            </table>
          </div>
        `}</div>
    `,
  );
}

/** The login page (with a token set, for a browser without a session). */
export function loginPage(base: string, wrong: boolean): Html {
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Log in · GigQ</title>
        <link rel="stylesheet" href="${base}/assets/app.css">
      </head>
      <body>
        <main>
          <div
            class="card login"><h1>GigQ dashboard</h1>${wrong
              ? html`<div class="flash bad" data-testid="login-error">That is not the token.</div>`
              : ""}<form method="post" action="${base}/login"><label for="token">Token</label><input id="token" name="token" type="password" autocomplete="current-password" autofocus required><button type="submit" class="primary">Log in</button></form><p class="muted">The token was given to <code>gigq dashboard --token</code> (or <code>GIGQ_DASHBOARD_TOKEN</code>).</p></div>
        </main>
      </body>
    </html>
  `;
}

/** An error page (404 and the like). */
export function errorPage(ctx: PageContext, status: number, message: string): Html {
  return layout(
    ctx,
    status === 404 ? "Not found" : "Error",
    "",
    html`
      <h1>${status === 404 ? "Not found" : `Error ${status}`}</h1>
      <div class="card">
        <p data-testid="error-message">${message}</p>
        <p><a href="${ctx.base}/">Back to the overview</a></p>
      </div>
    `,
  );
}
