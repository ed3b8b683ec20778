/**
 * The dashboard's stylesheet and script, served by the module itself (no
 * CDN, no build step): `/assets/app.css` and `/assets/app.js`.
 *
 * The script is progressive: every page works without it. With it, the
 * regions marked `data-live` refresh every few seconds while the tab is
 * visible (paused while it is hidden), and action buttons ask to confirm.
 *
 * @module
 */

/** The stylesheet. */
export const CSS = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1c2430; --muted:#5d6b7e; --line:#dfe3e8; --accent:#2357c6;
  --pending:#8a6d00; --running:#2357c6; --completed:#19794a; --failed:#b42318; --timeout:#b54708;
  --cancelled:#5d6b7e; --missing:#5d6b7e; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
header { background:#172033; color:#fff; display:flex; align-items:center; gap:24px; padding:0 24px; height:52px; }
header .brand { font-weight:700; letter-spacing:.02em; color:#fff; text-decoration:none; font-size:16px; }
header nav a { color:#c9d3e5; text-decoration:none; margin-right:18px; padding:15px 0; border-bottom:2px solid transparent; }
header nav a.on, header nav a:hover { color:#fff; border-bottom-color:#7aa2ff; }
header .right { margin-left:auto; display:flex; gap:12px; align-items:center; color:#c9d3e5; font-size:13px; }
header .right form { margin:0; }
header .right button { background:transparent; color:#c9d3e5; border:1px solid #3b4a66; }
main { max-width:1200px; margin:0 auto; padding:20px 24px 48px; }
h1 { font-size:20px; margin:8px 0 16px; display:flex; align-items:center; gap:10px; flex-wrap:wrap; }
h2 { font-size:15px; margin:24px 0 10px; color:#2b3648; }
a { color:var(--accent); }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px; margin-bottom:16px; }
.card > h2:first-child { margin-top:0; }
svg.chart { height:auto; display:block; }
.cards { display:grid; grid-template-columns:repeat(6,1fr); gap:12px; margin-bottom:16px; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; text-decoration:none; color:var(--ink); display:block; }
.stat .n { font-size:24px; font-weight:650; font-variant-numeric:tabular-nums; }
.stat .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.05em; }
.stat.failed .n { color:var(--failed); } .stat.running .n { color:var(--running); }
.stat.completed .n { color:var(--completed); } .stat.pending .n { color:var(--pending); }
.stat.timeout .n { color:var(--timeout); }
table { width:100%; border-collapse:collapse; background:var(--card); }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; color:var(--muted); font-weight:600; text-transform:uppercase; letter-spacing:.04em; background:#fafbfc; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.tablewrap { border:1px solid var(--line); border-radius:8px; overflow:auto; margin-bottom:16px; }
.tablewrap table { border:0; }
.tablewrap tr:last-child td { border-bottom:0; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; border:1px solid currentColor; white-space:nowrap; }
.s-pending { color:var(--pending); } .s-running { color:var(--running); } .s-completed { color:var(--completed); }
.s-failed { color:var(--failed); } .s-timeout { color:var(--timeout); } .s-cancelled { color:var(--cancelled); }
.s-missing { color:var(--missing); } .paused { color:var(--timeout); }
.muted { color:var(--muted); }
a.mono { white-space:nowrap; }
.mono, code, pre { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
pre { background:#f3f5f8; border:1px solid var(--line); border-radius:6px; padding:10px; overflow:auto; max-height:360px; white-space:pre-wrap; word-break:break-word; margin:0; }
pre.error { background:#fff5f4; border-color:#f3c7c2; color:#7a1b12; }
form.filters { display:flex; gap:8px; flex-wrap:wrap; align-items:end; margin-bottom:12px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:3px; }
input, select { font:inherit; padding:6px 8px; border:1px solid #c7ced8; border-radius:6px; background:#fff; color:var(--ink); }
button { font:inherit; padding:6px 12px; border-radius:6px; border:1px solid #c7ced8; background:#fff; cursor:pointer; color:var(--ink); }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { color:var(--failed); border-color:#e6b3ad; }
form.inline { display:inline; margin:0; }
.actions { display:flex; gap:8px; flex-wrap:wrap; margin:0 0 16px; }
.why { background:#eef3ff; border:1px solid #cfdcff; border-radius:8px; padding:10px 14px; margin-bottom:16px; }
.why.r-failed, .why.r-timeout { background:#fff5f4; border-color:#f3c7c2; }
dl.facts { display:grid; grid-template-columns:160px 1fr; gap:6px 16px; margin:0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; word-break:break-all; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
ol.timeline { list-style:none; margin:0; padding:0 0 0 18px; border-left:2px solid var(--line); }
ol.timeline li { position:relative; padding:0 0 14px 14px; }
ol.timeline li::before { content:""; position:absolute; left:-25px; top:4px; width:12px; height:12px; border-radius:50%; background:var(--card); border:3px solid currentColor; }
ol.timeline li .head { font-weight:600; }
ol.timeline li pre { margin-top:6px; }
.pager { display:flex; gap:12px; align-items:center; margin:8px 0; }
.flash { padding:10px 14px; border-radius:8px; margin-bottom:16px; background:#ecfdf3; border:1px solid #abefc6; }
.flash.bad { background:#fff5f4; border-color:#f3c7c2; }
svg .bar-completed { fill:#3aa76d; } svg .bar-failed { fill:#d9534f; }
svg .axis { stroke:#c7ced8; } svg text { fill:#5d6b7e; font-size:11px; font-family:system-ui,sans-serif; }
svg.graph rect { fill:#fff; stroke-width:2; } svg.graph text { fill:#1c2430; font-size:12px; }
svg.graph .edge { stroke:#9aa6b8; stroke-width:1.5; fill:none; }
svg.graph .n-pending rect { stroke:var(--pending); } svg.graph .n-running rect { stroke:var(--running); }
svg.graph .n-completed rect { stroke:var(--completed); } svg.graph .n-failed rect { stroke:var(--failed); }
svg.graph .n-timeout rect { stroke:var(--timeout); } svg.graph .n-cancelled rect, svg.graph .n-missing rect { stroke:var(--cancelled); }
svg.graph .self rect { fill:#eef3ff; }
svg.graph .st { fill:#5d6b7e; font-size:11px; }
.login { max-width:380px; margin:80px auto; }
.login input { width:100%; margin:8px 0 12px; }
.live-note { font-size:12px; color:var(--muted); }
@media (max-width: 900px) { .cards { grid-template-columns:repeat(3,1fr); } .grid2 { grid-template-columns:1fr; } }
`;

/** The script: live regions, confirmations. */
export const JS = `"use strict";
(() => {
  const every = Number(document.body.dataset.refresh || "3000");
  let timer = 0;
  let busy = false;
  const note = document.getElementById("live-note");
  async function refresh() {
    if (busy || document.hidden || !document.querySelector("[data-live]")) return;
    if (document.activeElement && document.activeElement.closest("[data-live]") &&
        /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) return;
    busy = true;
    try {
      const res = await fetch(location.href, { headers: { "x-gigq-live": "1" }, credentials: "same-origin" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const el of document.querySelectorAll("[data-live]")) {
        const fresh = doc.getElementById(el.id);
        if (fresh) el.replaceWith(document.importNode(fresh, true));
      }
      if (note) note.textContent = "Updated " + new Date().toLocaleTimeString();
      document.dispatchEvent(new CustomEvent("gigq:refreshed"));
    } catch (_) {
      if (note) note.textContent = "Not updated: the server did not answer";
    } finally {
      busy = false;
    }
  }
  function schedule() {
    clearInterval(timer);
    if (!document.hidden) timer = setInterval(refresh, every);
  }
  document.addEventListener("visibilitychange", () => {
    schedule();
    if (!document.hidden) refresh();
  });
  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !confirm(f.dataset.confirm)) e.preventDefault();
  });
  schedule();
  window.gigqRefresh = refresh;
})();
`;
