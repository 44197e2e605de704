// unspin web page: no framework, no network beyond this server.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), textarea = $("text"), statusEl = $("status"), go = $("go");
  const results = $("results"), doc = $("doc"), detail = $("detail");
  let state = null; // {text, report, u16: offset map, view}
  let traceEnabled = false;

  fetch("/health").then((r) => r.json()).then((h) => {
    traceEnabled = !!h.trace;
    $("version").textContent = h.version || "";
  }).catch(() => {});

  // ------------------------------------------------------------------ helpers
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "style") e.setAttribute("style", v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  const pct = (p) => (Math.round(p * 1000) / 10).toFixed(p >= 0.995 || p < 0.005 ? 0 : 1) + "%";

  function setStatus(msg, isError) {
    statusEl.textContent = msg;
    statusEl.classList.toggle("error", !!isError);
    statusEl.setAttribute("role", isError ? "alert" : "status");
  }

  // The server's offsets are Unicode code points (Python str); JavaScript strings are UTF-16.
  function codePointMap(text) {
    if (!/[\uD800-\uDFFF]/.test(text)) return null;
    const map = [];
    let i = 0;
    for (const ch of text) { map.push(i); i += ch.length; }
    map.push(i);
    return map;
  }
  const at = (map, cp) => (map ? map[cp] : cp);

  // Edits in input order: swaps win over scars they overlap.
  function edits(text, report, map) {
    const ev = [];
    report.swaps.forEach((s, i) => ev.push({ kind: "swap", i, a: at(map, s.start), b: at(map, s.end), rep: s.original, item: s }));
    report.scars.forEach((s, i) => ev.push({ kind: "scar", i, a: at(map, s.start), b: at(map, s.end), rep: s.repaired, item: s }));
    ev.sort((x, y) => x.a - y.a || (x.kind === "swap" ? -1 : 1));
    const out = [];
    let cur = 0;
    for (const e of ev) { if (e.a < cur) continue; out.push(e); cur = e.b; }
    return out;
  }

  // ------------------------------------------------------------------ rendering
  function swapLabel(s, view) {
    return view === "spun"
      ? `Swap: “${s.spun}”, probably “${s.original}” (${pct(s.probability)}). Show alternatives.`
      : `Restored: “${s.original}” (${pct(s.probability)}), was “${s.spun}”. Show alternatives.`;
  }

  function renderDoc() {
    const { text, report, map, view } = state;
    closeDetail(false);
    doc.closest(".text-card").dataset.view = view;
    doc.textContent = "";
    const evs = edits(text, report, map);
    let cur = 0;
    const frag = document.createDocumentFragment();
    let rebuilt = "";
    for (const e of evs) {
      const before = text.slice(cur, e.a);
      frag.append(before); rebuilt += before;
      const found = text.slice(e.a, e.b);
      if (e.kind === "swap") {
        const s = e.item;
        const btn = el("button", {
          type: "button", class: view === "spun" ? "swap" : "fix", "data-i": e.i,
          "data-spun": s.spun, "data-original": s.original, style: `--p:${s.probability}`,
          "aria-label": swapLabel(s, view), "aria-expanded": "false", "aria-controls": "detail",
        }, view === "spun" ? found : s.original);
        frag.append(view === "spun" ? btn : el("ins", { "aria-hidden": "false" }, btn));
      } else {
        const s = e.item;
        const title = `${s.kind}: “${s.found}” → “${s.repaired}”`;
        if (view === "spun") frag.append(el("span", { class: "scar", title }, found));
        else if (s.repaired.trim() === "" && s.repaired.length === 0) frag.append(el("span", { class: "gap", title }));
        else frag.append(el("span", { class: "scarfix", title }, s.repaired));
      }
      rebuilt += e.rep;
      cur = e.b;
    }
    frag.append(text.slice(cur)); rebuilt += text.slice(cur);
    if (view === "restored" && rebuilt !== report.restored) {
      // could not align the edits with the engine's restored text: show it plainly rather than wrongly
      doc.textContent = report.restored;
      setStatus("Note: changes could not be marked in this text; showing the restored text plainly.");
      return;
    }
    doc.append(frag);
  }

  function positionDetail(anchor) {
    const wrap = doc.parentElement.getBoundingClientRect();
    const r = anchor.getBoundingClientRect();
    let left = r.left - wrap.left;
    const width = detail.offsetWidth;
    if (left + width > wrap.width) left = Math.max(0, wrap.width - width);
    detail.style.left = left + "px";
    detail.style.top = (r.bottom - wrap.top + 6) + "px";
  }

  let openBtn = null;
  function showDetail(btn) {
    const s = state.report.swaps[+btn.dataset.i];
    if (!s) return;
    if (openBtn && openBtn !== btn) openBtn.setAttribute("aria-expanded", "false");
    openBtn = btn;
    btn.setAttribute("aria-expanded", "true");
    detail.textContent = "";
    const ranked = [{ text: s.original, probability: s.probability }, ...s.alternatives];
    const max = Math.max(...ranked.map((a) => a.probability), 1e-9);
    detail.append(
      el("button", { type: "button", class: "close", "aria-label": "Close details", onclick: () => closeDetail(true) }, "×"),
      el("h4", {}, "“", el("del", {}, s.spun), "” was probably"),
      el("ol", { "aria-label": "Ranked originals" }, ...ranked.map((a, k) =>
        el("li", {}, k === 0 ? el("ins", {}, a.text) : a.text, " ",
          el("span", { class: "muted" }, pct(a.probability)),
          el("span", { class: "bar", style: `width:${Math.max(2, Math.round(80 * a.probability / max))}px`, "aria-hidden": "true" })))),
      el("p", { class: "meta" }, s.thesaurus ? `Likely from the ${s.thesaurus} thesaurus.` : "Thesaurus unknown.",
        ` Characters ${s.start}–${s.end}.`),
    );
    detail.hidden = false;
    positionDetail(btn);
  }

  function closeDetail(refocus) {
    if (openBtn) {
      openBtn.setAttribute("aria-expanded", "false");
      if (refocus) openBtn.focus();
    }
    openBtn = null;
    detail.hidden = true;
  }

  doc.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.swap, button.fix");
    if (b) showDetail(b);
  });
  doc.addEventListener("focusin", (ev) => {
    const b = ev.target.closest("button.swap, button.fix");
    if (b) showDetail(b);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !detail.hidden) closeDetail(true);
  });
  document.addEventListener("click", (ev) => {
    if (!detail.hidden && !detail.contains(ev.target) && !ev.target.closest("button.swap, button.fix")) closeDetail(false);
  });
  window.addEventListener("resize", () => { if (openBtn && !detail.hidden) positionDetail(openBtn); });

  function renderVerdict(report) {
    const badge = $("verdict-badge");
    badge.textContent = report.verdict;
    badge.className = "badge " + report.verdict;
    $("verdict-prob").textContent = `spun probability ${pct(report.spun_probability)}`;
    $("verdict-meter").value = report.spun_probability;
    $("verdict-meter").textContent = pct(report.spun_probability);
    const words = (state.text.match(/\S+/g) || []).length;
    $("verdict-counts").textContent =
      `${report.swaps.length} swap${report.swaps.length === 1 ? "" : "s"}, ${report.scars.length} scar${report.scars.length === 1 ? "" : "s"} in ${words} words.`;
  }

  function renderEvidence(det, err) {
    const tb = $("evidence").tBodies[0];
    tb.textContent = "";
    if (err) { tb.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, err))); return; }
    if (!det.evidence.length) { tb.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no signals reported"))); return; }
    for (const e of det.evidence) {
      tb.append(el("tr", {}, el("th", { scope: "row" }, e.signal.replace(/_/g, " ")),
        el("td", {}, String(+e.value.toFixed(3))), el("td", {}, (e.contribution >= 0 ? "+" : "") + e.contribution.toFixed(2))));
    }
  }

  function focusSwap(i) {
    if (state.view !== "spun") { $("view-spun").checked = true; state.view = "spun"; renderDoc(); }
    const b = doc.querySelector(`button[data-i="${i}"]`);
    if (b) { b.scrollIntoView({ block: "center" }); b.focus(); }
  }

  // spaces are the whole point of most scars: show them as ␣ (screen readers get the words)
  function visible(str) {
    const spoken = str.replace(/ /g, " space ").trim() || "nothing";
    return el("code", { "aria-label": spoken }, str.replace(/ /g, "\u2423") || "\u2205");
  }

  function renderTables(report) {
    const sb = $("swaps").tBodies[0];
    sb.textContent = "";
    if (!report.swaps.length) sb.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No swaps found.")));
    report.swaps.forEach((s, i) => {
      sb.append(el("tr", {},
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => focusSwap(i), "aria-label": `Show “${s.spun}” in the text` }, el("del", {}, s.spun))),
        el("td", {}, el("ins", {}, s.original)),
        el("td", { class: "num" }, pct(s.probability)),
        el("td", {}, s.alternatives.map((a) => `${a.text} (${pct(a.probability)})`).join(", ") || "—"),
        el("td", {}, s.thesaurus || "—")));
    });
    const cb = $("scars").tBodies[0];
    cb.textContent = "";
    if (!report.scars.length) cb.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No scars found.")));
    for (const s of report.scars) {
      cb.append(el("tr", {}, el("td", {}, visible(s.found)), el("td", {}, visible(s.repaired)),
        el("td", {}, s.kind.replace(/-/g, " "))));
    }
  }

  // A trace result's shape belongs to unspin.trace: show the common fields, the rest as JSON.
  function renderTrace(res, err) {
    const box = $("trace"), body = $("trace-body");
    box.hidden = false;
    body.textContent = "";
    if (err) { body.append(el("p", { class: "muted" }, err)); return; }
    const matches = Array.isArray(res) ? res : (res.matches || res.sources || (res.source ? [res] : []));
    if (!matches.length) { body.append(el("p", { class: "muted" }, "No indexed source matches this text.")); return; }
    for (const m of matches.slice(0, 5)) {
      const src = m.source && typeof m.source === "object" ? { ...m.source, ...m } : m;
      const dl = el("dl");
      for (const k of ["source_id", "title", "id", "url", "score", "coverage", "similarity"]) {
        if (src[k] !== undefined && typeof src[k] !== "object")
          dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, typeof src[k] === "number" ? String(+src[k].toFixed(4)) : String(src[k])));
      }
      const aligned = m.aligned || m.alignment || m.alignments || m.swaps || [];
      const part = el("div", { class: "trace-match" }, dl);
      if (Array.isArray(aligned) && aligned.length) {
        const tb = el("tbody");
        for (const a of aligned) {
          const spun = a.spun ?? a.found ?? a[0] ?? "";
          const orig = a.source ?? a.original ?? a[1] ?? "";
          tb.append(el("tr", {}, el("td", {}, el("del", {}, String(spun))), el("td", {}, el("ins", {}, String(orig)))));
        }
        part.append(el("div", { class: "tablewrap" }, el("table", { class: "list" },
          el("caption", { class: "visually-hidden" }, "Swaps aligned with the source"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "In this text"), el("th", { scope: "col" }, "In the source"))), tb)));
      } else {
        part.append(el("pre", {}, JSON.stringify(m, null, 2).slice(0, 4000)));
      }
      body.append(part);
    }
  }

  // ------------------------------------------------------------------ requests
  async function post(path, text, fast) {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(fast === undefined ? { text } : { text, fast }),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) {
      const msg = (data && data.error) || `HTTP ${r.status}`;
      const retry = r.headers.get("Retry-After");
      throw new Error(msg + (retry ? ` (retry in ${retry} s)` : ""));
    }
    return data;
  }

  let busy = false;
  async function run() {
    if (busy) return;
    const text = textarea.value;
    if (!text.trim()) { setStatus("Paste an article first.", true); textarea.focus(); return; }
    busy = true; go.disabled = true; go.setAttribute("aria-busy", "true");
    setStatus("Checking…");
    const detP = post("/v1/detect", text).then((d) => [d, null], (e) => [null, e.message]);
    const traceP = traceEnabled ? post("/v1/trace", text).then((d) => [d, null], (e) => [null, e.message]) : null;
    try {
      const report = await post("/v1/check", text, $("fast").checked);
      state = { text, report, map: codePointMap(text), view: document.querySelector('input[name="view"]:checked').value };
      results.hidden = false;
      renderVerdict(report);
      renderEvidence(null, "loading…");
      renderTables(report);
      renderDoc();
      $("trace").hidden = true;
      setStatus(`Done: ${report.verdict}, ${report.swaps.length} swap${report.swaps.length === 1 ? "" : "s"} and ${report.scars.length} scar${report.scars.length === 1 ? "" : "s"}.`);
      detP.then(([d, err]) => renderEvidence(d, err));
      if (traceP) traceP.then(([d, err]) => renderTrace(d, err));
    } catch (e) {
      setStatus(e.message, true);
    } finally {
      busy = false; go.disabled = false; go.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
  textarea.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run(); }
  });
  for (const r of document.querySelectorAll('input[name="view"]')) {
    r.addEventListener("change", () => { if (state) { state.view = r.value; renderDoc(); } });
  }

  // ------------------------------------------------------------------ files
  function htmlToText(html) {
    const d = new DOMParser().parseFromString(html, "text/html");
    d.querySelectorAll("script,style,noscript,template,nav,header,footer,aside").forEach((n) => n.remove());
    const root = d.querySelector("article") || d.body || d.documentElement;
    root.querySelectorAll("br").forEach((n) => n.replaceWith("\n"));
    root.querySelectorAll("p,div,li,h1,h2,h3,h4,h5,h6,blockquote,tr,section,article,pre").forEach((n) => n.append("\n\n"));
    return root.textContent.replace(/[ \t\u00a0]+/g, " ").replace(/ *\n */g, "\n").replace(/\n{3,}/g, "\n\n").trim();
  }

  function loadFile(file) {
    if (!file) return;
    if (file.size > 5 * 1024 * 1024) { setStatus(`${file.name} is too large (over 5 MB).`, true); return; }
    const reader = new FileReader();
    reader.onload = () => {
      const raw = String(reader.result);
      const isHtml = /\.html?$/i.test(file.name) || file.type === "text/html" || /^\s*<(!doctype|html)/i.test(raw);
      textarea.value = isHtml ? htmlToText(raw) : raw;
      setStatus(`Loaded ${file.name}.`);
      textarea.focus();
    };
    reader.onerror = () => setStatus(`Could not read ${file.name}.`, true);
    reader.readAsText(file, "utf-8");
  }
  $("file").addEventListener("change", (ev) => loadFile(ev.target.files[0]));
  const drop = $("drop");
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer.files.length) loadFile(ev.dataTransfer.files[0]);
  });
})();
