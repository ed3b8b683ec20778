/** Calls a dashboard handler in process, as a browser or a script would over HTTP. */
import { dashboard, type DashboardOptions } from "../../dashboard.ts";
import type { JobQueue } from "../../mod.ts";

/** A browser-like client: keeps cookies, sends Origin on POSTs. */
export class Client {
  readonly handler: (req: Request) => Promise<Response>;
  readonly origin: string;
  readonly cookies = new Map<string, string>();
  readonly headers: Record<string, string>;

  constructor(
    queue: JobQueue,
    options: DashboardOptions = {},
    init: { origin?: string; headers?: Record<string, string> } = {},
  ) {
    this.handler = dashboard(queue, options);
    this.origin = init.origin ?? "http://127.0.0.1:8080";
    this.headers = init.headers ?? {};
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("host", new URL(this.origin).host);
    for (const [k, v] of Object.entries(this.headers)) if (!headers.has(k)) headers.set(k, v);
    if (this.cookies.size > 0 && !headers.has("cookie")) {
      headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    }
    const res = await this.handler(new Request(`${this.origin}${path}`, { ...init, headers }));
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq), value = pair.slice(eq + 1);
      if (/Max-Age=0/.test(c) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return await this.request(path, { headers });
  }

  /** GETs a page and returns its text and the CSRF token of its first form. */
  async page(path: string): Promise<{ res: Response; text: string; csrf: string | undefined }> {
    const res = await this.get(path);
    const text = await res.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(text)?.[1];
    return { res, text, csrf };
  }

  /** POSTs a form, as a page of the dashboard's origin does. */
  async form(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return await this.request(path, {
      method: "POST",
      headers: {
        origin: this.origin,
        "sec-fetch-site": "same-origin",
        "content-type": "application/x-www-form-urlencoded",
        ...headers,
      },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /** POSTs JSON to the API, as a script does (no Origin). */
  async post(
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return await this.request(path, {
      method: "POST",
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}
