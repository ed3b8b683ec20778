/**
 * HTML built from templates whose every interpolated value is escaped,
 * unless it is already {@linkcode Html} (the result of another template).
 * Values from the database never reach a page any other way.
 *
 * @module
 */

/** Markup that is safe to insert as it is. */
export class Html {
  /** The markup. */
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

/** Text made safe for an element's content and for a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** A value's markup: Html as it is, arrays joined, null and undefined as nothing, the rest escaped. */
function part(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (value === undefined || value === null || value === false) return "";
  if (Array.isArray(value)) return value.map(part).join("");
  return escapeHtml(String(value));
}

/**
 * The template tag: `html\`<p>${text}</p>\`` escapes `text`.
 *
 * @example
 * ```ts ignore
 * html`<td>${job.name}</td>`.text; // "<td>&lt;script&gt;</td>" for a name "<script>"
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Html(out);
}

/** Markup given as a literal by this module's own code (never a value from outside). */
export function trusted(text: string): Html {
  return new Html(text);
}

/** A query string from parameters, leaving out empty ones. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}
