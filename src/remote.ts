/**
 * {@linkcode RemoteQueue}: the queue's submit and read API over HTTPS, for
 * apps that cannot open the database (Deno Deploy-style hosts). Built on
 * `fetch` only: it needs `--allow-net` and nothing else.
 *
 * @module
 */
import { Job, type JobInit } from "./job.ts";
import { JobNotFoundError } from "./errors.ts";
import type { JsonValue } from "./_json.ts";
import type { JobDetails, JobInfo, QueueInfo, QueueStats } from "./job_info.ts";
import type { JobStatus } from "./job_status.ts";

/** Options for {@linkcode RemoteQueue}. */
export interface RemoteQueueOptions {
  /**
   * The dashboard's token, sent as `Authorization: Bearer`.
   *
   * @default {none}
   */
  token?: string;
  /**
   * Seconds one request may take before it is aborted.
   *
   * @default {30}
   */
  timeout?: number;
  /**
   * How many times a request is tried again after a network error or a 502,
   * 503 or 504. A submit is retried with the same job ids, so a submit whose
   * answer was lost is not added twice.
   *
   * @default {2}
   */
  retries?: number;
  /**
   * The `fetch` to use (tests, proxies).
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
}

/** Filters of {@linkcode RemoteQueue.listJobs}, as `JobQueue.listJobs` takes them. */
export interface RemoteListOptions {
  /** Only jobs with this status. */
  status?: JobStatus;
  /** Only jobs of this named queue. */
  queue?: string;
  /** Only jobs of this task. */
  task?: string;
  /** A job id, or text the params contain. */
  search?: string;
  /** Only jobs submitted before this one (a job id): the next page's cursor. */
  before?: string;
  /**
   * At most this many jobs.
   *
   * @default {100}
   */
  limit?: number;
}

/** What the server answered with an error status. */
export class RemoteError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The API's error code (`bad_request`, `unauthorized`, `not_found`, …). */
  readonly code: string;
  /**
   * Creates the error.
   *
   * @param status the HTTP status
   * @param code the API's error code
   * @param message the API's message
   */
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "RemoteError";
    this.status = status;
    this.code = code;
  }
}

/** The most jobs the API lists in one call. */
const API_PAGE = 500;

/** The most jobs one submit request carries. */
const SUBMIT_BATCH = 1000;

function body(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    task: job.task,
    name: job.name,
    params: job.params,
    dependencies: job.dependencies,
    priority: job.priority,
    maxAttempts: job.maxAttempts,
    timeout: job.timeout,
    retryDelay: job.retryDelay,
    backoff: job.backoff,
    maxRetryDelay: job.maxRetryDelay,
    description: job.description,
    queue: job.queue,
    ...(job.runAt === undefined ? {} : { runAt: job.runAt }),
    ...(job.module === undefined ? {} : { module: job.module }),
    ...(job.uniqueKey === undefined ? {} : { uniqueKey: job.uniqueKey }),
    ...(job.concurrencyKey === undefined ? {} : { concurrencyKey: job.concurrencyKey }),
  };
}

/**
 * A queue on the other side of a GigQ dashboard's HTTP API
 * (`gigq dashboard`, or `dashboard()` mounted in an app), with the shapes of
 * {@linkcode JobQueue}'s submit and read methods. Jobs are validated here
 * (a bad job throws before any request) and get their ids here, so a submit
 * retried after a lost answer is not added twice.
 *
 * @example Submit from an edge app
 * ```ts ignore
 * import { Job, RemoteQueue } from "@gigq/gigq/remote";
 *
 * const queue = new RemoteQueue("https://jobs.example.com", { token: Deno.env.get("GIGQ_TOKEN") });
 * const id = await queue.submit(new Job({ task: "send-email", params: { to: "ada@example.com" } }));
 * console.log((await queue.getStatus(id))?.status); // "pending"
 * ```
 */
export class RemoteQueue {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #fetch: typeof fetch;

  /**
   * Points at a dashboard: `url` is where it is mounted (its API is `url/api/…`).
   *
   * @param url the dashboard's URL, like `https://jobs.example.com` or `http://127.0.0.1:8080/jobs`
   * @param options the token, the timeout, the retries
   */
  constructor(url: string | URL, options: RemoteQueueOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(
        `Cannot create RemoteQueue: url must be an http(s) URL, got ${JSON.stringify(String(url))}`,
      );
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(
        `Cannot create RemoteQueue: url must be an http(s) URL, got ${JSON.stringify(String(url))}`,
      );
    }
    this.#base = parsed.href.replace(/\/+$/, "");
    const timeout = options.timeout ?? 30;
    if (typeof timeout !== "number" || !(timeout > 0) || !Number.isFinite(timeout)) {
      throw new RangeError(
        `Cannot create RemoteQueue: timeout must be a number of seconds > 0, got ${timeout}`,
      );
    }
    const retries = options.retries ?? 2;
    if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
      throw new RangeError(
        `Cannot create RemoteQueue: retries must be a whole number from 0 to 10, got ${retries}`,
      );
    }
    if (options.token !== undefined && typeof options.token !== "string") {
      throw new TypeError("Cannot create RemoteQueue: token must be a string");
    }
    this.#token = options.token;
    this.#timeoutMs = timeout * 1000;
    this.#retries = retries;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async #request(
    method: "GET" | "POST",
    path: string,
    payload?: unknown,
  ): Promise<{ status: number; data: unknown }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (payload !== undefined) headers["content-type"] = "application/json";
    const init = {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
    };
    for (let attempt = 0;; attempt++) {
      let res: Response;
      try {
        res = await this.#fetch(`${this.#base}/api/${path}`, {
          ...init,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (e) {
        if (attempt < this.#retries) {
          await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          continue;
        }
        throw new Error(
          `RemoteQueue: ${method} ${this.#base}/api/${path} failed: ${(e as Error).message}`,
          { cause: e },
        );
      }
      if (
        (res.status === 502 || res.status === 503 || res.status === 504) && attempt < this.#retries
      ) {
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
        continue;
      }
      const text = await res.text();
      let data: unknown = undefined;
      try {
        data = text === "" ? undefined : JSON.parse(text);
      } catch {
        data = undefined;
      }
      if (res.status >= 400) {
        const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
        const e = new RemoteError(
          res.status,
          err?.code ?? "http_error",
          err?.message ?? `${method} /api/${path}: HTTP ${res.status} ${text.slice(0, 200)}`,
        );
        // A retried submit whose first try landed: the ids are ours.
        if (attempt > 0 && e.code === "duplicate_id") return { status: 409, data: undefined };
        throw e;
      }
      return { status: res.status, data };
    }
  }

  /**
   * Submits a job; resolves to its id. A job whose `uniqueKey` is held
   * resolves to the holder's id, as `JobQueue.submit` does.
   *
   * @example
   * ```ts ignore
   * const id = await remote.submit(new Job({ task: "resize", params: { image: "a.png" } }));
   * ```
   *
   * @param job the job (a Job, or what `new Job()` takes)
   */
  async submit(job: Job | JobInit): Promise<string> {
    return (await this.trySubmit(job)).id;
  }

  /**
   * Submits a job and says whether it was added (false: its unique key was held).
   *
   * @example
   * ```ts ignore
   * const { id, inserted } = await remote.trySubmit(new Job({ task: "sync", uniqueKey: "user-1" }));
   * ```
   *
   * @param job the job (a Job, or what `new Job()` takes)
   */
  async trySubmit(job: Job | JobInit): Promise<{ id: string; inserted: boolean }> {
    const j = job instanceof Job ? job : new Job(job);
    const { status, data } = await this.#request("POST", "jobs", body(j));
    if (status === 409) return { id: j.id, inserted: true };
    return data as { id: string; inserted: boolean };
  }

  /**
   * Submits jobs together (in one transaction per request of up to 1,000);
   * resolves to their ids, in order.
   *
   * @example
   * ```ts ignore
   * const ids = await remote.submitMany(users.map((u) => new Job({ task: "welcome", params: u })));
   * ```
   *
   * @param jobs the jobs (Jobs, or what `new Job()` takes)
   */
  async submitMany(jobs: Iterable<Job | JobInit>): Promise<string[]> {
    const all = [...jobs].map((j) => j instanceof Job ? j : new Job(j));
    const ids: string[] = [];
    for (let i = 0; i < all.length; i += SUBMIT_BATCH) {
      const batch = all.slice(i, i + SUBMIT_BATCH);
      const { status, data } = await this.#request("POST", "jobs", { jobs: batch.map(body) });
      if (status === 409) ids.push(...batch.map((j) => j.id));
      else ids.push(...(data as { jobs: { id: string }[] }).jobs.map((r) => r.id));
    }
    return ids;
  }

  /**
   * The job's details and attempts, or `undefined` for an unknown id.
   *
   * @example
   * ```ts ignore
   * const job = await remote.getStatus(id);
   * ```
   *
   * @param id the job id
   */
  async getStatus(id: string): Promise<JobDetails | undefined> {
    try {
      return (await this.#request("GET", `jobs/${encodeURIComponent(id)}`)).data as JobDetails;
    } catch (e) {
      if (e instanceof RemoteError && e.status === 404) return undefined;
      throw e;
    }
  }

  /**
   * The job's result once it has completed, `undefined` before; throws
   * `JobNotFoundError` for an unknown id.
   *
   * @example
   * ```ts ignore
   * const result = await remote.getResult(id);
   * ```
   *
   * @param id the job id
   */
  async getResult(id: string): Promise<JsonValue | undefined> {
    const job = await this.getStatus(id);
    if (job === undefined) throw new JobNotFoundError(id);
    return job.status === "completed" ? job.result : undefined;
  }

  /**
   * Jobs, newest first, filtered as the dashboard filters them.
   *
   * @example
   * ```ts ignore
   * const failed = await remote.listJobs({ status: "failed", limit: 20 });
   * ```
   *
   * @param options the filters and the limit
   */
  async listJobs(options: RemoteListOptions = {}): Promise<JobInfo[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`Cannot list jobs: limit must be a whole number >= 0, got ${limit}`);
    }
    const out: JobInfo[] = [];
    let before = options.before;
    while (out.length < limit) {
      const q = new URLSearchParams();
      for (const k of ["status", "queue", "task", "search"] as const) {
        const v = options[k];
        if (v !== undefined) q.set(k, v);
      }
      if (before !== undefined) q.set("before", before);
      q.set("limit", String(Math.min(API_PAGE, limit - out.length)));
      const page = (await this.#request("GET", `jobs?${q}`)).data as {
        jobs: JobInfo[];
        next: string | null;
      };
      out.push(...page.jobs);
      if (page.next === null) break;
      before = page.next;
    }
    return out;
  }

  /**
   * Counts per status, of one queue or of all.
   *
   * @example
   * ```ts ignore
   * const { pending, failed } = await remote.stats();
   * ```
   *
   * @param options the queue, if one
   */
  async stats(options: { queue?: string } = {}): Promise<QueueStats> {
    const q = options.queue === undefined ? "" : `?queue=${encodeURIComponent(options.queue)}`;
    return (await this.#request("GET", `stats${q}`)).data as QueueStats;
  }

  /**
   * Every named queue with its counts, paused state and settings.
   *
   * @example
   * ```ts ignore
   * for (const q of await remote.queues()) console.log(q.name, q.pending);
   * ```
   */
  async queues(): Promise<QueueInfo[]> {
    return ((await this.#request("GET", "queues")).data as { queues: QueueInfo[] }).queues;
  }

  /**
   * Cancels a pending or running job; resolves to whether it did. Throws
   * `JobNotFoundError` for an unknown id.
   *
   * @example
   * ```ts ignore
   * await remote.cancel(id);
   * ```
   *
   * @param id the job id
   */
  async cancel(id: string): Promise<boolean> {
    return ((await this.#act(`jobs/${encodeURIComponent(id)}/cancel`, id)) as {
      cancelled: boolean;
    }).cancelled;
  }

  /**
   * Puts a failed, timed-out or cancelled job back to pending; resolves to
   * whether it did. Throws `JobNotFoundError` for an unknown id.
   *
   * @example
   * ```ts ignore
   * await remote.requeue(id);
   * ```
   *
   * @param id the job id
   */
  async requeue(id: string): Promise<boolean> {
    return ((await this.#act(`jobs/${encodeURIComponent(id)}/requeue`, id)) as {
      requeued: boolean;
    }).requeued;
  }

  async #act(path: string, id: string): Promise<unknown> {
    try {
      return (await this.#request("POST", path)).data;
    } catch (e) {
      if (e instanceof RemoteError && e.status === 404) throw new JobNotFoundError(id);
      throw e;
    }
  }
}
