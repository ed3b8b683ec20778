/**
 * Query parameters of the dashboard's pages and API, checked: an unknown
 * parameter or a bad value is a 400 naming it and saying what is allowed.
 *
 * @module
 */
import { JOB_STATUSES, type JobStatus } from "../job_status.ts";
import { HttpError } from "./_security.ts";

/** A path's parts, decoded; a malformed escape (`%ZZ`) is a 400. */
export function pathParts(path: string): string[] {
  return path.split("/").filter((p) => p !== "").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      throw new HttpError(
        400,
        "bad_path",
        `The path holds a malformed %-escape: ${JSON.stringify(p.slice(0, 100))}`,
      );
    }
  });
}

/** The jobs filter of `/jobs` and `GET /api/jobs`. */
export interface JobsQuery {
  status: JobStatus | undefined;
  queue: string | undefined;
  task: string | undefined;
  search: string | undefined;
  before: string | undefined;
  limit: number;
}

/** The most jobs one page or API call lists. */
export const MAX_PAGE = 500;

/** The jobs one page lists unless told. */
export const DEFAULT_PAGE = 50;

function bad(name: string, message: string): HttpError {
  return new HttpError(400, "bad_parameter", `Query parameter ${name}: ${message}`);
}

/** Refuses any query parameter not in `known`, and any given twice. */
export function knownParams(url: URL, known: readonly string[]): void {
  const seen = new Set<string>();
  for (const key of url.searchParams.keys()) {
    if (!known.includes(key)) {
      throw bad(
        JSON.stringify(key),
        `unknown; allowed are ${known.length === 0 ? "none" : known.join(", ")}`,
      );
    }
    if (seen.has(key)) throw bad(key, "given more than once");
    seen.add(key);
  }
}

/** A text parameter: absent or empty is undefined; otherwise 1 to `max` characters without NUL. */
export function textParam(url: URL, name: string, max = 1000): string | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (v.length > max || v.includes("\0")) {
    throw bad(name, `must be at most ${max} characters without a NUL, got ${v.length} characters`);
  }
  return v;
}

/** An integer parameter within [min, max]. */
export function intParam(
  url: URL,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw bad(
      name,
      `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v.slice(0, 50))}`,
    );
  }
  return Number(v);
}

/** The status parameter. */
export function statusParam(url: URL, name = "status"): JobStatus | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (!(JOB_STATUSES as readonly string[]).includes(v)) {
    throw bad(
      name,
      `must be one of ${JOB_STATUSES.join(", ")}, got ${JSON.stringify(v.slice(0, 50))}`,
    );
  }
  return v as JobStatus;
}

/** The parameters of a jobs list (the page's and the API's). */
export const JOBS_PARAMS = ["status", "queue", "task", "search", "before", "limit"] as const;

/** Reads a jobs list's filter from the URL (`extra`: other parameters the caller reads itself). */
export function jobsQuery(url: URL, extra: readonly string[] = []): JobsQuery {
  knownParams(url, [...JOBS_PARAMS, ...extra]);
  return {
    status: statusParam(url),
    queue: textParam(url, "queue", 128),
    task: textParam(url, "task"),
    search: textParam(url, "search"),
    before: textParam(url, "before", 200),
    limit: intParam(url, "limit", DEFAULT_PAGE, 1, MAX_PAGE),
  };
}
