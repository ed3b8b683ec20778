/**
 * The dashboard's defences: the token (a bearer header or a login cookie),
 * sessions and their CSRF tokens, the same-origin check of every POST, the
 * allowed `Host` names, the body size limit and the security headers.
 *
 * Sessions are stateless: a cookie holds a random id, its issue time and an
 * HMAC of both under a secret (derived from the token, so sessions survive a
 * restart; random per process without a token). A session's CSRF token is
 * another HMAC of its id, so nothing is stored on the server.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";

/** The most a request body may hold, in bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** How long a session lasts, in milliseconds. */
const SESSION_MS = 12 * 3_600_000;

/** The session cookie's name. */
export const SESSION_COOKIE = "gigq_session";

/** Host names a dashboard without a token answers to (a DNS-rebinding defence). */
export const LOOPBACK_HOSTS: readonly string[] = ["127.0.0.1", "localhost", "[::1]", "::1"];

/** An HTTP error the handler turns into a page or a JSON error. */
export class HttpError extends Error {
  /** The status code. */
  readonly status: number;
  /** A short machine-readable code. */
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
  }
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Whether two strings are equal, in time that does not depend on where they differ. */
export async function sameSecret(a: string, b: string): Promise<boolean> {
  // Digests have one length, so the comparison does not leak the token's either.
  return timingSafeEqual(await sha256(a), await sha256(b));
}

/** Whether the request was made over HTTPS (directly, or as a proxy says). */
function isHttps(req: Request): boolean {
  return new URL(req.url).protocol === "https:" ||
    req.headers.get("x-forwarded-proto") === "https";
}

/** A cookie's value from the request, if present. */
function cookie(req: Request, name: string): string | undefined {
  const header = req.headers.get("cookie");
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** What a request proved about itself. */
export interface Caller {
  /** The session id (a login, or an anonymous session without a token), if a valid cookie came. */
  session: string | undefined;
  /** Whether an `Authorization: Bearer` header with the token came. */
  bearer: boolean;
  /** Whether the request may read (and, unless read-only, act). */
  allowed: boolean;
}

/** Sessions, tokens and checks for one dashboard. */
export class Guard {
  readonly #token: string | undefined;
  readonly #key: Promise<CryptoKey>;
  readonly #cookiePath: string;
  readonly #hosts: readonly string[] | undefined;

  constructor(token: string | undefined, cookiePath: string, hosts: readonly string[] | undefined) {
    this.#token = token;
    this.#cookiePath = cookiePath === "" ? "/" : cookiePath;
    this.#hosts = hosts?.map((h) => h.toLowerCase());
    const secret = token === undefined
      ? crypto.getRandomValues(new Uint8Array(32))
      : encoder.encode(`gigq-dashboard-session:${token}`);
    this.#key = crypto.subtle.importKey(
      "raw",
      secret,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
  }

  /** Whether a token protects the dashboard. */
  get protected(): boolean {
    return this.#token !== undefined;
  }

  async #mac(text: string): Promise<string> {
    const sig = await crypto.subtle.sign("HMAC", await this.#key, encoder.encode(text));
    return base64url(new Uint8Array(sig));
  }

  /** Refuses a request whose `Host` the dashboard does not answer to. */
  checkHost(req: Request): void {
    if (this.#hosts === undefined) return;
    const host = (req.headers.get("host") ?? new URL(req.url).host).toLowerCase();
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
    if (!this.#hosts.includes(name)) {
      throw new HttpError(
        403,
        "host_not_allowed",
        `Host ${JSON.stringify(host)} is not allowed: without a token the dashboard answers only ` +
          `to ${this.#hosts.join(", ")} (give a token, or list the host in allowedHosts)`,
      );
    }
  }

  /** Who is calling: a bearer token, a valid session cookie, or neither. */
  async caller(req: Request, now: number): Promise<Caller> {
    const session = await this.#session(req, now);
    let bearer = false;
    const auth = req.headers.get("authorization");
    if (auth !== null && this.#token !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
      bearer = m !== null && await sameSecret(m[1].trim(), this.#token);
    }
    return {
      session,
      bearer,
      allowed: this.#token === undefined || bearer || session !== undefined,
    };
  }

  async #session(req: Request, now: number): Promise<string | undefined> {
    const value = cookie(req, SESSION_COOKIE);
    if (value === undefined) return undefined;
    const [id, issued, mac] = value.split(".");
    if (id === undefined || issued === undefined || mac === undefined) return undefined;
    const at = Number(issued);
    if (!Number.isSafeInteger(at) || now - at > SESSION_MS || at - now > 60_000) return undefined;
    if (!(await sameSecret(mac, await this.#mac(`${id}.${issued}`)))) return undefined;
    return `${id}.${issued}`;
  }

  /** Whether `given` is the dashboard's token. */
  async isToken(given: string): Promise<boolean> {
    return this.#token !== undefined && await sameSecret(given, this.#token);
  }

  /** A new session and the `Set-Cookie` header value that holds it. */
  async newSession(req: Request, now: number): Promise<{ session: string; cookie: string }> {
    const id = base64url(crypto.getRandomValues(new Uint8Array(18)));
    const session = `${id}.${now}`;
    const value = `${session}.${await this.#mac(session)}`;
    return { session, cookie: this.#cookie(req, value, SESSION_MS / 1000) };
  }

  /** The `Set-Cookie` header value that ends the session. */
  endSession(req: Request): string {
    return this.#cookie(req, "", 0);
  }

  #cookie(req: Request, value: string, maxAge: number): string {
    return `${SESSION_COOKIE}=${value}; Path=${this.#cookiePath}; Max-Age=${maxAge}; HttpOnly; ` +
      `SameSite=Strict${isHttps(req) ? "; Secure" : ""}`;
  }

  /** The CSRF token of a session. */
  async csrf(session: string): Promise<string> {
    return await this.#mac(`csrf:${session}`);
  }

  /** Refuses a POST that a page of another origin sent. */
  checkOrigin(req: Request): void {
    const site = req.headers.get("sec-fetch-site");
    if (site !== null && site !== "same-origin" && site !== "none") {
      throw new HttpError(
        403,
        "cross_origin",
        `Cross-site request refused (Sec-Fetch-Site: ${site})`,
      );
    }
    const origin = req.headers.get("origin");
    if (origin === null) return;
    const host = req.headers.get("host") ?? new URL(req.url).host;
    let originHost: string | undefined;
    try {
      originHost = origin === "null" ? undefined : new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (originHost === undefined || originHost.toLowerCase() !== host.toLowerCase()) {
      throw new HttpError(
        403,
        "cross_origin",
        `Cross-origin request refused: Origin ${JSON.stringify(origin)} is not ${host}`,
      );
    }
  }

  /** Refuses a form POST whose CSRF token is not its session's. */
  async checkCsrf(session: string | undefined, given: string | null): Promise<void> {
    if (
      session === undefined || given === null ||
      !(await sameSecret(given, await this.csrf(session)))
    ) {
      throw new HttpError(
        403,
        "csrf",
        "The form's CSRF token is missing or does not match this session: reload the page and try again",
      );
    }
  }
}

/** Reads a request body, refusing one over {@linkcode MAX_BODY_BYTES}. */
export async function readBody(req: Request): Promise<string> {
  const length = req.headers.get("content-length");
  if (length !== null && Number(length) > MAX_BODY_BYTES) {
    await req.body?.cancel();
    throw tooLarge(Number(length));
  }
  if (req.body === null) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge(size);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new HttpError(400, "bad_body", "The request body is not valid UTF-8");
  }
}

function tooLarge(size: number): HttpError {
  return new HttpError(
    400,
    "body_too_large",
    `The request body (${size} bytes${
      size > MAX_BODY_BYTES ? " or more" : ""
    }) is over the limit ` +
      `of 1 MiB (${MAX_BODY_BYTES} bytes)`,
  );
}

/** The Content-Security-Policy of every response: our own scripts and styles only, no framing. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Adds the security headers every response carries. */
export function secure(headers: Headers): Headers {
  headers.set("content-security-policy", CSP);
  headers.set("x-content-type-options", "nosniff");
  headers.set("x-frame-options", "DENY");
  headers.set("referrer-policy", "same-origin");
  headers.set("cross-origin-opener-policy", "same-origin");
  headers.set("cross-origin-resource-policy", "same-origin");
  if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
  return headers;
}
