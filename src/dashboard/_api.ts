/**
 * The HTTP JSON API under `/api/`: the routes, their checks and their
 * answers. Errors are `{ "error": { "code", "message" } }` with the status
 * that fits (400 bad input, 401 no valid token, 403 refused, 404 unknown,
 * 405 wrong method, 409 conflict).
 *
 * @module
 */
import { Job, JOB_KEYS, type JobInit, withJobId } from "../job.ts";
import { TASK_OPTION_KEYS } from "../task.ts";
import type { JobQueue } from "../queue.ts";
import { why } from "../why.ts";
import { JobNotFoundError } from "../errors.ts";
import { HttpError, readBody } from "./_security.ts";
import { intParam, jobsQuery, knownParams, pathParts, textParam } from "./_params.ts";
import { jobsPage } from "./_data.ts";

/** What a route needs. */
export interface ApiContext {
  queue: JobQueue;
  readOnly: boolean;
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(body), { status, headers: h });
}

/** A JSON error response. */
export function jsonError(e: HttpError): Response {
  const headers: HeadersInit = e.status === 401
    ? { "www-authenticate": 'Bearer realm="gigq"' }
    : {};
  return json({ error: { code: e.code, message: e.message } }, e.status, headers);
}

/** The keys a submission may hold: a job's, its id, and its options grouped. */
const SUBMIT_KEYS: readonly string[] = ["id", ...JOB_KEYS, "options"];

/** The keys of a submission's `options`. */
const OPTION_KEYS: readonly string[] = TASK_OPTION_KEYS;

/** The most jobs one `POST /api/jobs` may submit. */
export const MAX_SUBMIT_BATCH = 10_000;

function badBody(message: string): HttpError {
  return new HttpError(400, "bad_request", message);
}

/** A submission (one element of the body) as a Job. */
export function toJob(value: unknown, where: string): Job {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw badBody(`${where} must be an object with at least a task name`);
  }
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (!SUBMIT_KEYS.includes(k)) {
      throw badBody(
        `${where}: unknown field ${JSON.stringify(k)}; allowed are ${SUBMIT_KEYS.join(", ")}`,
      );
    }
  }
  if (typeof v.task !== "string") {
    throw badBody(
      `${where}.task must be a task name (a string), got ${
        v.task === undefined ? "nothing" : typeof v.task
      }`,
    );
  }
  const options = v.options ?? {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw badBody(`${where}.options must be an object of job options`);
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.includes(k)) {
      throw badBody(
        `${where}.options: unknown option ${JSON.stringify(k)}; allowed are ${
          OPTION_KEYS.join(", ")
        }`,
      );
    }
  }
  const { id, options: _o, ...rest } = v;
  const init = { ...options, ...rest } as unknown as JobInit;
  try {
    return id === undefined ? new Job(init) : withJobId(id, init);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw badBody(`${where}: ${e.message}`);
    throw e;
  }
}

/** Parses a JSON body. */
async function jsonBody(req: Request): Promise<unknown> {
  const type = req.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    // A cross-site form cannot send this type without a preflight we never answer.
    throw new HttpError(
      415,
      "unsupported_media_type",
      `The request body must be JSON (Content-Type: application/json), got ${JSON.stringify(type)}`,
    );
  }
  const text = await readBody(req);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badBody(`The request body is not valid JSON: ${(e as Error).message}`);
  }
}

function notFound(what: string): HttpError {
  return new HttpError(404, "not_found", what);
}

function readOnly(): HttpError {
  return new HttpError(
    403,
    "read_only",
    "This dashboard is read-only: it takes no actions (started with --read-only)",
  );
}

/** Turns a validation error of the queue into a 400. */
async function checked<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof JobNotFoundError) throw notFound(e.message);
    if (e instanceof TypeError || e instanceof RangeError) throw badBody(e.message);
    throw e;
  }
}

/** Answers a request for `/api/<rest>`. */
export async function api(
  ctx: ApiContext,
  req: Request,
  url: URL,
  rest: string,
): Promise<Response> {
  const parts = pathParts(rest);
  const method = req.method;
  const route = (m: string, ...shape: string[]): boolean =>
    method === m && parts.length === shape.length &&
    shape.every((s, i) => s === "*" || s === parts[i]);
  const { queue } = ctx;
  const act = () => {
    if (ctx.readOnly) throw readOnly();
  };

  if (route("GET", "stats")) {
    knownParams(url, ["queue"]);
    const q = textParam(url, "queue", 128);
    return json(await checked(() => queue.stats(q === undefined ? {} : { queue: q })));
  }
  if (route("GET", "jobs")) {
    const filter = jobsQuery(url);
    return json(await checked(() => jobsPage(queue, filter)));
  }
  if (route("POST", "jobs")) {
    act();
    const body = await jsonBody(req);
    if (body !== null && typeof body === "object" && !Array.isArray(body) && "jobs" in body) {
      const list = (body as { jobs: unknown }).jobs;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_SUBMIT_BATCH) {
        throw badBody(`jobs must be an array of 1 to ${MAX_SUBMIT_BATCH} submissions`);
      }
      if (Object.keys(body).length !== 1) throw badBody("a batch body holds only jobs");
      const jobs = list.map((j, i) => toJob(j, `jobs[${i}]`));
      const results = await submitting(queue, jobs, () => queue.trySubmitMany(jobs));
      return json({ jobs: results }, 201);
    }
    const job = toJob(body, "the job");
    const [result] = await submitting(queue, [job], async () => [await queue.trySubmit(job)]);
    return json(result, result.inserted ? 201 : 200);
  }
  if (route("POST", "jobs", "requeue")) {
    act();
    const body = await jsonBody(req);
    return json({ requeued: await checked(() => queue.requeueMany(body as never)) });
  }
  if (route("GET", "jobs", "*")) {
    knownParams(url, ["why"]);
    const job = await queue.getStatus(parts[1]);
    if (job === undefined) throw notFound(`Job ${JSON.stringify(parts[1])} not found`);
    if (url.searchParams.get("why") === "1") return json({ ...job, why: await why(queue, job.id) });
    return json(job);
  }
  if (route("POST", "jobs", "*", "cancel") || route("POST", "jobs", "*", "requeue")) {
    act();
    knownParams(url, []);
    const id = parts[1];
    if ((await queue.getStatus(id)) === undefined) {
      throw notFound(`Job ${JSON.stringify(id)} not found`);
    }
    if (parts[2] === "cancel") return json({ id, cancelled: await queue.cancel(id) });
    return json({ id, requeued: await queue.requeue(id) });
  }
  if (route("GET", "queues")) {
    knownParams(url, []);
    return json({ queues: await queue.queues() });
  }
  if (route("POST", "queues", "*", "pause") || route("POST", "queues", "*", "resume")) {
    act();
    knownParams(url, []);
    const name = parts[1];
    await checked(() => parts[2] === "pause" ? queue.pause(name) : queue.resume(name));
    return json({ name, paused: parts[2] === "pause" });
  }
  if (route("GET", "workers")) {
    knownParams(url, ["stopped"]);
    const stopped = url.searchParams.get("stopped");
    if (stopped !== null && stopped !== "1" && stopped !== "0") {
      throw new HttpError(
        400,
        "bad_parameter",
        `Query parameter stopped: must be 0 or 1, got ${JSON.stringify(stopped.slice(0, 50))}`,
      );
    }
    return json({ workers: await queue.workers({ stopped: stopped === "1" }) });
  }
  if (route("GET", "activity")) {
    knownParams(url, ["minutes", "queue"]);
    const minutes = intParam(url, "minutes", 60, 1, 1440);
    const q = textParam(url, "queue", 128);
    return json({ activity: await checked(() => queue.activity({ minutes, queue: q })) });
  }
  if (route("GET", "schedules")) {
    knownParams(url, []);
    return json({ schedules: await queue.schedules() });
  }
  if (route("POST", "schedules", "*", "run")) {
    act();
    knownParams(url, []);
    const name = parts[1];
    if (!(await queue.schedules()).some((s) => s.name === name)) {
      throw notFound(`Schedule ${JSON.stringify(name)} not found`);
    }
    return json({ schedule: name, id: await queue.runSchedule(name) }, 201);
  }
  const known = ["stats", "jobs", "queues", "workers", "schedules", "activity"];
  if (parts.length > 0 && known.includes(parts[0])) {
    throw new HttpError(
      405,
      "method_not_allowed",
      `${method} /api/${parts.join("/")} is not a route of this API`,
    );
  }
  throw notFound(`No API route ${method} /api/${parts.join("/")}`);
}

/**
 * Submits, turning bad input into a 400 and a job id already taken into a
 * 409 `duplicate_id` (the submit a client retried after a lost answer).
 */
async function submitting<T>(
  queue: JobQueue,
  jobs: readonly Job[],
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof RangeError && /was already submitted/.test(e.message)) {
      for (const j of jobs) {
        if ((await queue.getStatus(j.id)) !== undefined) {
          throw new HttpError(409, "duplicate_id", `A job with id ${j.id} was already submitted`);
        }
      }
    }
    // A dependency that does not exist is bad input here, not an unknown route.
    if (e instanceof TypeError || e instanceof RangeError || e instanceof JobNotFoundError) {
      throw badBody(e.message);
    }
    throw e;
  }
}
