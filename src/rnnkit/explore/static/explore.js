// rnnkit explore: the page. Our own code, no libraries, nothing fetched from the internet.
// Live mode talks to the JSON endpoints (docs/explore.md); report mode (one HTML file)
// answers the same calls from the precomputed data embedded in the page.
(function () {
  "use strict";

  const dataNode = document.getElementById("report-data");
  const REPORT = dataNode ? JSON.parse(dataNode.textContent) : null;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = { i: "#2e5aac", f: "#d92d20", o: "#12b76a", r: "#7a5af8", z: "#f79009", g: "#667085", n: "#667085" };
  const GATE_NAMES = { i: "input", f: "forget", o: "output", r: "reset", z: "update" };

  let MODELS = [];
  let PRESETS = {};
  let MODELS_LIMITS = {};
  const state = { trace: null, traceText: null, traceModel: null, cells: {}, cellRequest: 0, view: null, found: null };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Errors belong to the view that raised them: switching tabs shows that tab's own error
  // (or none), so a failure on one tab never lingers on another.
  const errors = {};
  function showError(message, view) {
    const where = view || state.view || "all";
    if (message) errors[where] = message; else delete errors[where];
    renderError();
  }

  function renderError() {
    const message = errors.all || errors[state.view] || "";
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  // -- talking to the server (or to the report) -----------------------------------------
  async function api(path, body) {
    if (REPORT) return reportAnswer(path, body || {});
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    return data;
  }

  function reportAnswer(path, body) {
    if (path === "/api/models") return REPORT.models;
    const entry = REPORT.answers[body.model];
    if (!entry) throw new Error("no such model in this report");
    if (path === "/api/gradients") return entry.gradients;
    if (path === "/api/classify") {
      const hit = entry.classify.find((c) => c.text === body.text);
      if (hit) return hit;
      throw new Error("this report holds only the example sentences listed below");
    }
    if (path === "/api/sentiment/states") {
      const hit = (entry.states || []).find((c) => c.text === body.text);
      if (hit) return hit;
      throw new Error("the states of this sentence are not in the report");
    }
    if (path === "/api/trace") {
      const cells = (body.cells || []).map((want) => {
        const hit = entry.trace.cells.find((c) => c.layer === want.layer && c.kind === want.kind && c.unit === want.unit);
        if (!hit) throw new Error("this cell's values are not in the report (pick one of the cells found below)");
        return hit;
      });
      return Object.assign({}, entry.trace, { cells });
    }
    if (path === "/api/cells") {
      const hit = entry.cells[body.preset];
      if (hit) return hit;
      throw new Error("this report holds only the searches listed under pattern");
    }
    throw new Error("not available in a report: " + path);
  }

  // -- models and tabs -------------------------------------------------------------------
  function modelsOf(kind) { return MODELS.filter((m) => m.kind === kind); }
  function current(kind) {
    const name = $(kind + "-model").value;
    return MODELS.find((m) => m.name === name);
  }

  function fillSelect(select, models) {
    select.replaceChildren(...models.map((m) => el("option", { value: m.name, text: `${m.name} (${m.cell}, ${m.num_layers}x${m.hidden_size})` })));
  }

  function showView(view) {
    state.view = view;
    renderError();
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
    for (const s of document.querySelectorAll(".view")) s.classList.toggle("active", s.id === "view-" + view);
    if (view === "gates") drawGates();
    if (view === "match" && !REPORT && matchState.plotText !== $("cells-text").value) loadMatch(false);
    if (view === "gradients" && !$("grad-output").hasChildNodes()) measureGradients();
  }

  async function start() {
    if (REPORT) $("report-note").hidden = false;
    try {
      const data = await api("/api/models");
      MODELS = data.models;
      PRESETS = data.presets || {};
      MODELS_LIMITS = data.limits || {};
    } catch (e) { showError(e.message, "all"); return; }
    const tg = modelsOf("textgen"), st = modelsOf("sentiment");
    fillSelect($("textgen-model"), tg);
    fillSelect($("sentiment-model"), st);
    fillSelect($("grad-model"), MODELS);
    $("tg-pick").hidden = tg.length === 0;
    $("st-pick").hidden = st.length === 0;
    for (const b of document.querySelectorAll("#tabs button")) {
      const needs = { generate: tg, cells: tg, match: tg, gates: tg, sentiment: st }[b.dataset.view];
      b.disabled = needs !== undefined && needs.length === 0;
      b.addEventListener("click", () => showView(b.dataset.view));
    }
    const preset = $("pattern-preset");
    let names = Object.keys(PRESETS);
    if (REPORT && tg.length) {  // only the searches the report holds (a preset absent from its text is not)
      const held = REPORT.answers[tg[0].name].cells || {};
      names = names.filter((n) => held[n]);
    }
    if (!REPORT) names.push("custom regex");
    preset.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
    preset.addEventListener("change", syncPreset);
    syncPreset();
    $("textgen-model").addEventListener("change", () => { resetText(); resetMatch(); markStale(); traceText(); });
    $("sentiment-model").addEventListener("change", resetSentiment);
    $("steer-btn").addEventListener("click", steer);
    $("match-btn").addEventListener("click", () => loadMatch(true));
    for (const id of ["match-layer", "match-kind", "match-from", "match-threshold"]) $(id).addEventListener("change", () => {
      if (matchState.selection && id !== "match-from") loadMatch(true); else loadMatch(false);
    });
    $("cells-text").addEventListener("input", () => { matchState.selection = null; matchState.matches = []; $("match-results").replaceChildren(); $("match-text").replaceChildren(); });
    $("sentcells-btn").addEventListener("click", findSentimentCells);
    $("ablate-btn").addEventListener("click", ablate);
    $("labelled-file").addEventListener("change", loadLabelledFile);
    $("generate-btn").addEventListener("click", generate);
    $("trace-btn").addEventListener("click", traceText);
    $("find-btn").addEventListener("click", findCells);
    $("classify-btn").addEventListener("click", classify);
    $("grad-btn").addEventListener("click", measureGradients);
    for (const id of ["cell-layer", "cell-kind", "cell-unit"]) $(id).addEventListener("change", () => colourCell());
    for (const id of ["colour-surprise", "show-strip"]) $(id).addEventListener("change", () => renderCell(null));
    $("cells-text").addEventListener("input", markStale);
    $("longrange-btn").addEventListener("click", drawLongRange);
    $("cell-slider").addEventListener("input", () => { $("cell-unit").value = $("cell-slider").value; colourCell(); });
    if (REPORT) {  // select and match, steering, the sentiment-cell search and ablation need the server
      for (const node of document.querySelectorAll(".live-only")) node.hidden = true;
      $("match-live").hidden = false;
      $("sent-live").hidden = false;
      $("cells-text").readOnly = true;
      $("trace-btn").hidden = true;
      $("pattern-regex").readOnly = true;
      $("sent-text").readOnly = true;
      // Generate cannot sample without the server: show the precomputed sample, no controls
      for (const c of $("view-generate").querySelectorAll(".controls label, #generate-btn")) c.hidden = true;
    }
    showView(tg.length ? "generate" : (st.length ? "sentiment" : "gradients"));
    if (st.length) resetSentiment();
    if (tg.length) { resetText(); resetMatch(); traceText(); if (REPORT) showReportSample(); }
    if (st.length && REPORT) showReportSentences();
  }

  function resetText() {
    const m = current("textgen");
    if (!m) return;
    const entry = REPORT ? REPORT.answers[m.name] : null;
    $("cells-text").value = entry ? entry.text : (m.sample || "def main():\n    print(\"hello\")\n");
    const layers = $("cell-layer");
    layers.replaceChildren(...Array.from({ length: m.num_layers }, (_, i) => el("option", { value: String(i), text: String(i) })));
    $("cell-unit").max = m.hidden_size - 1;
    $("cell-slider").max = m.hidden_size - 1;
    const cellState = m.states.includes("c");  // tanh(c) needs a cell state (the LSTM's)
    $("cell-kind").querySelector('[value="tanh_c"]').disabled = !cellState;
    if (!cellState) $("cell-kind").value = "h";
  }

  // -- Generate --------------------------------------------------------------------------
  function charSpan(ch, top, guessBox) {
    const span = el("span", { class: ch === "\n" ? "ch nl" : "ch", text: ch });  // a newline shows as \u21b5 and breaks
    if (top) {
      span.addEventListener("mouseenter", () => showGuesses(guessBox, ch, top));
      span.title = "next: " + top.map(([c, p]) => `${JSON.stringify(c)} ${(100 * p).toFixed(0)}%`).join("  ");
    }
    return span;
  }

  function showGuesses(box, ch, top) {
    box.replaceChildren(el("p", { class: "hint", text: `after ${JSON.stringify(ch)} the model expects:` }),
      ...top.map(([c, p]) => el("div", { class: "guess" },
        el("code", { text: c === "\n" ? "\u21b5" : (c === " " ? "\u2423" : c) }),
        el("span", { class: "bar", style: `width:${Math.max(2, 150 * p)}px; opacity:${0.35 + 0.65 * p}` }),
        el("span", { text: (100 * p).toFixed(1) + "%" }))));
  }

  function numberOrNull(id) {
    const v = $(id).value.trim();
    return v === "" ? null : Number(v);
  }

  async function generate() {
    showError("", "generate");
    const m = current("textgen");
    if (!m) return;
    const out = $("gen-output");
    if (REPORT) { showReportSample(); return; }
    const body = {
      model: m.name, prime: $("prime").value, length: numberOrNull("length"), temperature: numberOrNull("temperature"),
      top_k: numberOrNull("top-k"), top_p: numberOrNull("top-p"), seed: numberOrNull("seed"),
    };
    out.replaceChildren(el("span", { class: "prime", style: "color:#667085", text: body.prime }));
    $("gen-status").textContent = "generating...";
    $("generate-btn").disabled = true;
    try {
      const response = await fetch("/api/generate/stream", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error((await response.json()).error || response.statusText);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "", count = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n")) >= 0) {
          const event = JSON.parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 1);
          if (event.error) throw new Error(event.error);
          if (event.done) continue;
          out.append(charSpan(event.char, event.top, $("gen-guesses")));
          count += 1;
          $("gen-status").textContent = `${count} characters`;
        }
      }
      $("gen-status").textContent = `done: ${count} characters`;
    } catch (e) {
      showError(e.message, "generate");
      $("gen-status").textContent = "";
    } finally {
      $("generate-btn").disabled = false;
    }
  }

  function showReportSample() {
    const m = current("textgen");
    const g = REPORT.answers[m.name].generate;
    $("gen-output").replaceChildren(...g.chars.map((c) => charSpan(c.char, c.top, $("gen-guesses"))));
    $("gen-status").textContent = "a sample generated when the report was written (temperature 0.8, seed 0); generating needs the server (rnnkit explore RUN)";
    $("generate-btn").hidden = true;
  }

  // -- Cells -----------------------------------------------------------------------------
  function colour(v) {
    const a = Math.min(1, Math.abs(v));
    return v >= 0 ? `rgba(178, 24, 43, ${a.toFixed(3)})` : `rgba(33, 102, 172, ${a.toFixed(3)})`;
  }

  // surprise of character t: -log2 p(char t | the text before it); none for the first one
  function surprises(chars) {
    return chars.map((c, t) => (t === 0 || chars[t - 1].logprob_next === null ? null : -chars[t - 1].logprob_next / Math.LN2));
  }

  const SURPRISE_MAX = 8;  // bits at full colour
  function surpriseColour(bits) {
    if (bits === null) return "#eaecf0";
    const a = Math.min(1, bits / SURPRISE_MAX);
    return `rgba(247, 144, 9, ${a.toFixed(3)})`;
  }

  // one character coloured by a value (or by surprise); `mask` underlines what a pattern marks
  function paintSpan(span, value, surprise, marked) {
    if (surprise !== undefined) {
      span.style.background = surpriseColour(surprise);
      span.title = (surprise === null ? "first character: no surprise  " : `surprise ${surprise.toFixed(2)} bits  `) + span.title;
    } else {
      span.style.background = colour(value);
      if (Math.abs(value) > 0.6) span.style.color = "#fff";
      span.title = `${value.toFixed(3)}  ` + span.title;
    }
    if (marked) span.classList.add("match");
  }

  function colouredText(chars, values, mask, options) {
    const opts = options || {};
    const box = el("div", { class: "text-out" });
    const bits = opts.surprise ? surprises(chars) : null;
    chars.forEach((c, t) => {
      const span = charSpan(c.char, c.top, $("cells-guesses"));
      paintSpan(span, values ? values[t] : 0, bits ? bits[t] : undefined, mask && mask[t] > 0);
      if (opts.strip) {
        box.append(guessColumn(span, c));
        if (c.char === "\n") box.append(el("span", { class: "row-break" }));
      } else box.append(span);
    });
    return box;
  }

  // the paper's figure: the character, and under it the model's top guesses for the next one
  function guessColumn(span, c) {
    if (c.char === "\n") span.textContent = "";  // the \u21b5 alone: the row breaks after the column
    const col = el("span", { class: "col" }, span);
    for (const [g, p] of (c.top || []).slice(0, 5)) {
      col.append(el("span", { class: "g", style: `background: rgba(46, 90, 172, ${(0.08 + 0.92 * p).toFixed(3)}); color: ${p > 0.5 ? "#fff" : "#1d2430"}`,
        title: `${JSON.stringify(g)} ${(100 * p).toFixed(1)}%`, text: g === "\n" ? "\u21b5" : (g === " " ? "\u2423" : g) }));
    }
    return col;
  }

  function selectedCell() {
    return { layer: Number($("cell-layer").value || 0), kind: $("cell-kind").value, unit: Number($("cell-unit").value || 0) };
  }

  async function traceText() {
    showError("", "cells");
    const m = current("textgen");
    if (!m) return;
    $("trace-status").textContent = "tracing...";
    const ticket = ++state.cellRequest;  // answers can arrive out of order: only the latest shows
    try {
      const text = $("cells-text").value;
      const data = await api("/api/trace", { model: m.name, text, cells: [selectedCellOrFirst(m)] });
      if (text !== $("cells-text").value) return;  // the text changed meanwhile
      state.trace = data;
      state.traceText = text;
      state.traceModel = m.name;
      $("trace-status").textContent = data.loss === null ? "" : `${data.chars.length} characters, ${(data.loss / Math.LN2).toFixed(3)} bits/char`;
      if (ticket === state.cellRequest) renderCell(data.cells[0]);  // else a newer pick is on its way
      markStale();
      if ($("longrange-output").hasChildNodes()) drawLongRange();
      if (document.querySelector("#view-gates.active")) drawGates();
    } catch (e) { showError(e.message, "cells"); $("trace-status").textContent = ""; }
  }

  function selectedCellOrFirst(m) {
    if (REPORT) {
      const cells = REPORT.answers[m.name].trace.cells;
      const want = selectedCell();
      if (!cells.find((c) => c.layer === want.layer && c.kind === want.kind && c.unit === want.unit)) {
        setCell(cells[0]);
      }
    }
    return selectedCell();
  }

  function setCell(cell) {
    $("cell-layer").value = String(cell.layer);
    $("cell-kind").value = cell.kind;
    $("cell-unit").value = cell.unit;
    $("cell-slider").value = cell.unit;
  }

  // the text of the Cells view: coloured by the cell picked (or by surprise), the guesses
  // under every character when asked; `cell` null keeps the cell shown last
  function renderCell(cell) {
    if (cell) state.shownCell = cell;
    cell = state.shownCell;
    if (!cell || !state.trace || cell.values.length !== state.trace.chars.length) return;
    const out = $("cells-output");
    const surprise = $("colour-surprise").checked, strip = $("show-strip").checked;
    out.replaceChildren(...colouredText(state.trace.chars, cell.values, null, { surprise, strip }).childNodes);
    out.classList.toggle("strip", strip);
    out.dataset.cell = `${cell.layer}/${cell.kind}/${cell.unit}`;
    out.dataset.colour = surprise ? "surprise" : "cell";
    $("cells-legend").hidden = surprise;
    $("surprise-legend").hidden = !surprise;
  }

  async function colourCell() {
    showError("", "cells");
    $("cell-slider").value = $("cell-unit").value;
    const m = current("textgen");
    if (!m || !state.trace || state.traceText !== $("cells-text").value || state.traceModel !== m.name) { traceText(); return; }
    const ticket = ++state.cellRequest;
    try {
      const data = await api("/api/trace", { model: m.name, text: state.traceText, cells: [selectedCell()] });
      if (ticket !== state.cellRequest) return;  // a newer pick is on its way
      renderCell(data.cells[0]);
    } catch (e) { showError(e.message, "cells"); }
  }

  function syncPreset() {
    const name = $("pattern-preset").value;
    const spec = PRESETS[name];
    const box = $("pattern-regex");
    if (spec) {
      box.value = spec.regex || "";
      box.placeholder = spec.regex ? "" : "(a scanner, not a regex)";
      box.readOnly = true;
      $("pattern-about").textContent = spec.about || "";
    } else {  // custom regex: start from the preset shown last, if it was a regex
      box.readOnly = !!REPORT;
      box.placeholder = "a Python regex";
      $("pattern-about").textContent = "1 inside a match, 0 elsewhere (Python's re)";
    }
  }

  // Find-cells results belong to one text of one model: say so when the Cells view moved on
  function markStale() {
    const found = state.found;
    const m = current("textgen");
    const stale = !!found && (found.text !== $("cells-text").value || found.text !== state.traceText || !m || found.model !== m.name);
    $("cells-results").classList.toggle("stale", stale);
    $("stale-note").hidden = !stale;
  }

  function maskOf(data) {
    return data.mask && data.signal ? data.signal : null;
  }

  // a cell's activation over the whole text at one pixel column per character (or fewer),
  // with the pattern drawn under it: orange where it marks a character
  function activationStrip(values, signal, width) {
    const T = values.length, H = 14, P = 6;
    const canvas = el("canvas", { width: String(width), height: String(H + P + 1), class: "strip" });
    const ctx = canvas.getContext("2d");
    const peak = signal ? Math.max(1, ...signal) : 1;
    for (let px = 0; px < width; px++) {
      const a = Math.floor((px * T) / width), b = Math.max(a + 1, Math.floor(((px + 1) * T) / width));
      let v = 0, s = 0;
      for (let t = a; t < b; t++) { v += values[t]; if (signal) s += signal[t]; }
      ctx.fillStyle = colour(v / (b - a));
      ctx.fillRect(px, 0, 1, H);
      if (signal) {
        ctx.fillStyle = `rgba(247, 144, 9, ${Math.min(1, s / (b - a) / peak).toFixed(3)})`;
        ctx.fillRect(px, H + 1, 1, P);
      }
    }
    return canvas;
  }

  function verdictText(data) {
    const best = data.cells.length ? Math.abs(data.cells[0].correlation) : 0;
    const chance = `the chance level |r| = ${data.chance.toFixed(3)} (the best |r| of any cell against the pattern cut into ${data.blocks} blocks and shuffled, largest over ${data.shuffles} shuffles)`;
    if (data.verdict === "none") return `No cell tracks this pattern: the best |r| = ${best.toFixed(3)} is under ${chance}.`;
    if (data.verdict === "weak") return `No cell clearly tracks this pattern: the best |r| = ${best.toFixed(3)} is above ${chance}, but under ${data.clear_r}.`;
    const n = data.cells.filter((c) => c.above_chance && Math.abs(c.correlation) >= data.clear_r).length;
    return `${n} cell${n === 1 ? "" : "s"} of the ${data.cells.length} listed track${n === 1 ? "s" : ""} this pattern: |r| \u2265 ${data.clear_r} and above ${chance}.`;
  }

  async function findCells() {
    showError("", "cells");
    const m = current("textgen");
    if (!m) return;
    const preset = $("pattern-preset").value;
    const body = { model: m.name, text: $("cells-text").value, top: 10, shown: 10 };
    if (PRESETS[preset]) body.preset = preset; else body.regex = $("pattern-regex").value;
    $("find-status").textContent = "searching...";
    try {
      if (!state.trace || state.traceText !== body.text || state.traceModel !== m.name) await traceText();
      const data = await api("/api/cells", body);
      if (body.text !== state.traceText) return;  // the text changed meanwhile
      state.found = { text: body.text, model: m.name };
      $("find-status").textContent = !data.mask ? "" : `the pattern marks ${(100 * data.matched).toFixed(1)}% of the characters`;
      renderFound(data);
      markStale();
    } catch (e) { showError(e.message, "cells"); $("find-status").textContent = ""; }
  }

  function renderFound(data) {
    const mask = maskOf(data);
    const name = (c) => `layer ${c.layer}, ${c.kind === "tanh_c" ? "tanh(c)" : c.kind}, cell ${c.unit}`;
    const rows = data.cells.map((c) => el("tr", { class: "pick" + (c.above_chance ? "" : " chance"), onclick: () => pickFound(c) },
      el("td", { text: String(c.layer) }), el("td", { text: c.kind === "tanh_c" ? "tanh(c)" : c.kind }),
      el("td", { text: String(c.unit) }), el("td", { text: c.correlation.toFixed(3) }),
      el("td", { class: "above", text: c.above_chance ? (Math.abs(c.correlation) >= data.clear_r ? "yes" : "weak") : "no" }),
      el("td", {}, c.values ? activationStrip(c.values, data.signal, 560) : "")));
    const table = el("table", { class: "results" },
      el("tr", {}, el("th", { text: "layer" }), el("th", { text: "value" }), el("th", { text: "cell" }), el("th", { text: "r" }),
        el("th", { text: "above chance" }), el("th", { text: "activation over the text; the pattern in orange under it" })), ...rows);
    const shown = data.cells.slice(0, 3).filter((c) => c.values).map((c) => el("div", { class: "top-cell" },
      el("div", { class: "hint", text: `${name(c)}: r = ${c.correlation.toFixed(3)}` + (mask ? "; underlined: the characters the pattern marks" : "") }),
      colouredText(state.trace.chars, c.values, mask)));
    $("cells-results").replaceChildren(
      el("p", { id: "stale-note", class: "stale-note", hidden: "", text: "These results are for an earlier text or model: press Find cells to search the text shown above." }),
      el("p", { id: "cells-verdict", class: "verdict " + data.verdict, text: verdictText(data) }), table, ...shown);
  }

  function pickFound(c) {
    setCell(c);
    colourCell();
    $("cells-output").scrollIntoView({ block: "nearest" });
    $("view-cells").querySelector(".controls.cell-pick").scrollIntoView({ block: "nearest" });
  }

  // -- Long-range: accuracy on closing brackets and quotes against the distance to the opening
  const BINS = [[1, 5], [6, 10], [11, 20], [21, 40], [41, 80], [81, 160], [161, Infinity]];

  function drawLongRange() {
    const out = $("longrange-output");
    if (!state.trace) return;
    const chars = state.trace.chars;
    const bins = BINS.map(([lo, hi]) => ({ lo, hi, n: 0, hit: 0, p: 0 }));
    for (const [open, close] of state.trace.closings || []) {
      if (close < 1 || chars[close - 1].logprob_next === null) continue;
      const d = close - open, b = bins.find((x) => d >= x.lo && d <= x.hi);
      b.n += 1;
      if (chars[close - 1].top[0][0] === chars[close].char) b.hit += 1;
      b.p += Math.exp(chars[close - 1].logprob_next);
    }
    const used = bins.filter((b) => b.n > 0);
    if (!used.length) { out.replaceChildren(el("p", { class: "hint", text: "no bracket or double quote opens and closes in this text" })); return; }
    const W = 520, H = 200, padL = 60, padB = 56;
    const plot = svg("svg", { width: W + padL + 180, height: H + padB + 10, id: "longrange-chart" });
    const slot = W / bins.length;
    const x = (i) => padL + slot * i + slot / 2, y = (v) => 10 + (1 - v) * H;
    plot.append(svg("rect", { x: padL, y: 10, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    for (const v of [0, 0.5, 1]) plot.append(svg("text", { x: padL - 8, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(1)));
    plot.append(svg("text", { x: 14, y: 10 + H / 2, transform: `rotate(-90 14 ${10 + H / 2})`, "text-anchor": "middle" }, "fraction / probability"));
    bins.forEach((b, i) => {
      plot.append(svg("text", { x: x(i), y: H + 26, "text-anchor": "middle" }, b.hi === Infinity ? `${b.lo}+` : `${b.lo}-${b.hi}`));
      plot.append(svg("text", { x: x(i), y: H + 40, "text-anchor": "middle" }, `n=${b.n}`));
      if (!b.n) return;
      plot.append(svg("rect", { x: x(i) - 14, y: y(b.hit / b.n), width: 12, height: H + 10 - y(b.hit / b.n), fill: "#2e5aac", class: "acc" }));
      plot.append(svg("rect", { x: x(i) + 2, y: y(b.p / b.n), width: 12, height: H + 10 - y(b.p / b.n), fill: "#f79009", class: "prob" }));
    });
    plot.append(svg("text", { x: padL + W / 2, y: H + padB, "text-anchor": "middle" }, "distance from the opening bracket or quote (characters)"));
    plot.append(svg("rect", { x: padL + W + 14, y: 16, width: 12, height: 12, fill: "#2e5aac" }));
    plot.append(svg("text", { x: padL + W + 32, y: 26 }, "top guess was the closing"));
    plot.append(svg("rect", { x: padL + W + 14, y: 36, width: 12, height: 12, fill: "#f79009" }));
    plot.append(svg("text", { x: padL + W + 32, y: 46 }, "mean p(closing character)"));
    const total = used.reduce((s, b) => s + b.n, 0);
    out.replaceChildren(el("div", { class: "plot" }, el("div", { class: "title", text: `closing ( ) [ ] { } and " over this text: ${total} closings` }), plot));
  }

  // -- Gates -----------------------------------------------------------------------------
  // one panel per layer and gate, so no gate's dots hide another's
  function drawGates() {
    const out = $("gates-output");
    if (!state.trace) { out.replaceChildren(el("p", { class: "hint", text: "trace a text in the Cells view first" })); return; }
    const rows = state.trace.gates.map((layer) => {
      const plots = Object.entries(layer.gates).map(([name, g]) => {
        const size = 200, padL = 50, padB = 44;
        const plot = svg("svg", { width: size + padL + 12, height: size + padB + 10, class: "gate-plot", "data-gate": name });
        const x = (v) => padL + v * size, y = (v) => size + 6 - v * size;
        plot.append(svg("rect", { x: padL, y: 6, width: size, height: size, fill: "none", stroke: "#d0d5dd" }));
        plot.append(svg("line", { x1: x(0), y1: y(1), x2: x(1), y2: y(0), stroke: "#eaecf0" }));
        for (const t of [0, 0.5, 1]) {
          plot.append(svg("text", { x: x(t), y: size + 22, "text-anchor": "middle" }, String(t)));
          plot.append(svg("text", { x: padL - 6, y: y(t) + 4, "text-anchor": "end" }, String(t)));
        }
        plot.append(svg("text", { x: padL + size / 2, y: size + 38, "text-anchor": "middle", class: "x-label" }, "fraction of steps < 0.1"));
        plot.append(svg("text", { x: 14, y: 6 + size / 2, transform: `rotate(-90 14 ${6 + size / 2})`, "text-anchor": "middle", class: "y-label" }, "fraction of steps > 0.9"));
        g.left.forEach((l, u) => plot.append(svg("circle", { cx: x(l), cy: y(g.right[u]), r: 2.8, fill: COLORS[name], "fill-opacity": 0.55 })));
        const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
        return el("div", { class: "plot" },
          el("div", { class: "title" }, el("span", { style: `color:${COLORS[name]}`, text: "\u25cf " }), `layer ${layer.layer}, ${GATE_NAMES[name] || name} gate (${name})`),
          plot,
          el("div", { class: "hint", text: `mean over ${g.left.length} units: ${(100 * mean(g.left)).toFixed(1)}% of steps < 0.1, ${(100 * mean(g.right)).toFixed(1)}% > 0.9` }));
      });
      return el("div", { class: "plots" }, ...plots);
    });
    out.replaceChildren(...rows,
      el("p", { class: "hint", text: `over the ${state.trace.chars.length} characters of the Cells view; each dot is one unit` }));
  }

  // -- Sentiment -------------------------------------------------------------------------
  async function classify() {
    showError("", "sentiment");
    const m = current("sentiment");
    if (!m) return;
    try {
      const text = $("sent-text").value;
      renderClassification(await api("/api/classify", { model: m.name, text }));
      sentenceStates(text);
    } catch (e) { showError(e.message, "sentiment"); }
  }

  function renderClassification(data) {
    const names = data.label_names || data.labels;
    const nameOf = (k) => (data.labels_named ? names[k] : `label "${data.labels[k]}"`);
    const best = data.labels.indexOf(data.label);
    const scale = Math.max(1e-6, ...data.attribution.map(Math.abs));
    const words = data.tokens.map((w, t) => {
      const a = data.attribution[t] / scale;
      const bg = a >= 0 ? `rgba(18, 183, 106, ${Math.abs(a).toFixed(3)})` : `rgba(217, 45, 32, ${Math.abs(a).toFixed(3)})`;
      const prob = data.attribution_probability ? `, ${(100 * data.attribution_probability[t]).toFixed(2)} points of probability` : "";
      return el("span", { style: `background:${bg}`, title: `leave-one-out: ${data.attribution[t] >= 0 ? "+" : ""}${data.attribution[t].toFixed(3)} log-odds${prob}`, text: w });
    });
    const n = data.tokens.length;
    const longest = Math.max(...data.tokens.map((w) => w.length));
    const padL = 56, padR = Math.max(20, 4 * longest), slot = Math.max(60, 7 * longest + 10);
    const W = Math.max(320, slot * Math.max(1, n - 1)), H = 200, top = 10;
    const classes = data.labels.length === 2 ? [best] : data.labels.map((_, i) => i);
    const palette = ["#2e5aac", "#d92d20", "#12b76a", "#f79009", "#7a5af8"];
    const chart = svg("svg", { width: padL + W + padR, height: top + H + 64, id: "sent-chart" });
    const x = (t) => padL + (n === 1 ? W / 2 : (t * W) / (n - 1));
    const y = (p) => top + (1 - p) * H;
    chart.append(svg("rect", { x: padL, y: top, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    chart.append(svg("line", { x1: padL, y1: y(0.5), x2: padL + W, y2: y(0.5), stroke: "#eaecf0", "stroke-dasharray": "4 3" }));
    for (const p of [0, 0.5, 1]) chart.append(svg("text", { x: padL - 6, y: y(p) + 4, "text-anchor": "end" }, p.toFixed(1)));
    chart.append(svg("text", { x: 14, y: top + H / 2, transform: `rotate(-90 14 ${top + H / 2})`, "text-anchor": "middle", class: "y-label" }, "probability"));
    classes.forEach((k, j) => {
      const pts = data.trajectory.map((row, t) => `${x(t)},${y(row[k])}`).join(" ");
      chart.append(svg("polyline", { points: pts, fill: "none", stroke: palette[j % 5], "stroke-width": 2 }));
      data.trajectory.forEach((row, t) => chart.append(svg("circle", { cx: x(t), cy: y(row[k]), r: 3, fill: palette[j % 5] })));
    });
    data.tokens.forEach((w, t) => chart.append(svg("text", { x: x(t), y: top + H + 18, "text-anchor": "middle", class: "word" }, w)));
    chart.append(svg("text", { x: padL + W / 2, y: top + H + 44, "text-anchor": "middle", class: "x-label" }, "after each word (the sentence read up to it)"));
    const legend = el("div", { class: "chart-legend", id: "sent-legend" }, ...classes.map((k, j) =>
      el("span", {}, el("span", { class: "swatch", style: `background:${palette[j % 5]}` }), `P(${nameOf(k)})`)));
    const about = data.labels_named ? "" : `The run's labels are ${data.labels.map((l) => JSON.stringify(l)).join(" and ")}, as in its training data; the page cannot tell what they mean. Name them with rnnkit explore RUN --labels ${data.labels.length === 2 ? "0=negative,1=positive" : "LABEL=NAME,..."} (what your data's labels mean).`;
    $("sent-result").replaceChildren(
      el("div", { id: "sent-label" }, el("b", { text: nameOf(best) }), el("span", { text: `  probability ${(100 * data.probability).toFixed(1)}%` })),
      el("div", { id: "sent-words" }, ...words),
      el("p", { class: "hint", text: `words shaded by leave-one-out attribution in log-odds of ${nameOf(best)} (log p - log(1 - p); it does not saturate near 100% as probability does): green pushed towards it, red away; the strongest word at full colour` }),
      ...(about ? [el("p", { class: "hint", id: "label-note", text: about })] : []),
      el("div", { class: "plot" }, el("div", { class: "title", text: "the verdict as the sentence is read" }), legend, chart));
  }

  function showReportSentences() {
    const m = current("sentiment");
    const list = REPORT.answers[m.name].classify;
    if (!list.length) return;
    $("sent-text").value = list[0].text;
    renderClassification(list[0]);
    sentenceStates(list[0].text);
    const picks = list.map((c) => el("button", { onclick: () => { $("sent-text").value = c.text; renderClassification(c); sentenceStates(c.text); } }, c.text));
    $("view-sentiment").querySelector(".controls").append(...picks);
    $("classify-btn").hidden = true;
  }

  // -- Gradient flow ---------------------------------------------------------------------
  async function measureGradients() {
    showError("", "gradients");
    const name = $("grad-model").value;
    if (!name) return;
    $("grad-status").textContent = "measuring...";
    try {
      const data = await api("/api/gradients", { model: name });
      $("grad-status").textContent = "";
      drawGradients(data);
    } catch (e) { showError(e.message, "gradients"); $("grad-status").textContent = ""; }
  }

  function drawGradients(data) {
    const W = 560, H = 300, pad = 72;
    const all = data.layers.flatMap((l) => l.trained.concat(l.random)).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
    const x = (k) => pad + (k * W) / Math.max(1, data.steps - 1);
    const y = (v) => 10 + ((hi - Math.log10(Math.max(v, 10 ** lo))) / Math.max(1, hi - lo)) * H;
    const plot = svg("svg", { width: W + pad + 170, height: H + 50, id: "grad-chart" });
    plot.append(svg("rect", { x: pad, y: 10, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    for (let e = lo; e <= hi; e++) {
      plot.append(svg("line", { x1: pad, x2: pad + W, y1: y(10 ** e), y2: y(10 ** e), stroke: "#f2f4f7" }));
      plot.append(svg("text", { x: 24, y: y(10 ** e) + 4 }, `1e${e}`));
    }
    for (const k of [0, Math.floor((data.steps - 1) / 2), data.steps - 1]) plot.append(svg("text", { x: x(k) - 4, y: H + 24 }, String(k)));
    plot.append(svg("text", { x: pad + W / 2 - 90, y: H + 42 }, "distance k from the loss (steps)"));
    plot.append(svg("text", { x: 14, y: 10 + H / 2, "text-anchor": "middle", id: "grad-y-label",
      transform: `rotate(-90 14 ${10 + H / 2})` }, "||dL/dh_t||, log scale"));
    const palette = ["#2e5aac", "#d92d20", "#12b76a", "#f79009"];
    data.layers.forEach((l, j) => {
      for (const [key, dash] of [["trained", ""], ["random", "5 4"]]) {
        const pts = l[key].map((v, k) => `${x(k)},${y(v)}`).join(" ");
        plot.append(svg("polyline", { points: pts, fill: "none", stroke: palette[j % 4], "stroke-width": 2, "stroke-dasharray": dash }));
        const row = 2 * j + (key === "random" ? 1 : 0);
        plot.append(svg("line", { x1: pad + W + 12, x2: pad + W + 40, y1: 20 + 16 * row, y2: 20 + 16 * row, stroke: palette[j % 4], "stroke-width": 2, "stroke-dasharray": dash }));
        plot.append(svg("text", { x: pad + W + 46, y: 24 + 16 * row }, `layer ${l.layer} ${key}`));
      }
    });
    $("grad-output").replaceChildren(
      el("div", { class: "plot" }, el("div", { class: "title", text: "||dL/dh_t|| against the distance to the loss (log scale)" }), plot),
      el("p", { class: "hint", text: data.note }));
  }


  // -- Match: LSTMVis's select and match (Strobelt et al. 2016) ---------------------------
  const MATCH_WINDOW = 80, MATCH_PX = 9;
  const matchState = { data: null, selection: null, matches: [], current: null, text: null, ticket: 0, pending: 0 };

  function matchBody(extra) {
    const m = current("textgen");
    return Object.assign({ model: m.name, text: $("cells-text").value, layer: Number($("match-layer").value || 0),
      kind: $("match-kind").value, threshold: Number($("match-threshold").value), window: MATCH_WINDOW,
      window_start: Number($("match-from").value || 0) }, extra || {});
  }

  // the plot of the window (select false), or the selection of span start..end and its matches
  async function loadMatch(select) {
    if (REPORT || !current("textgen")) return;
    showError("", "match");
    const start = numberOrNull("match-start"), end = numberOrNull("match-end");
    if (select && (start === null || end === null)) { showError("drag across the plot (or give span start and end) to select a span", "match"); return; }
    const body = matchBody(select ? { start, end } : {});
    $("match-status").textContent = select ? "matching..." : "";
    const ticket = ++matchState.ticket;
    const plotBox = $("match-plot");
    plotBox.dataset.pending = String(++matchState.pending);
    try {
      const data = await api("/api/match", body);
      if (body.text !== $("cells-text").value) return;  // the text changed meanwhile
      if (ticket !== matchState.ticket) return;  // a newer request is on its way
      if (select) {
        matchState.selection = data.selection;
        matchState.matches = data.matches;
        matchState.current = null;
        matchState.text = body.text;
        matchState.key = `${body.layer}/${body.kind}/${body.threshold}`;
        const n = data.selection.cells.length;
        $("match-status").textContent = n ? `${n} cell${n === 1 ? "" : "s"} on over the span; ${data.matches.length} matching span${data.matches.length === 1 ? "" : "s"}` : "no cell is on at every character of the span at this threshold: lower it or choose another span";
        renderMatches(body.text);
      }
      matchState.data = data;
      matchState.plotText = body.text;
      drawMatchPlot(data);
    } catch (e) { showError(e.message, "match"); $("match-status").textContent = ""; }
    finally { plotBox.dataset.pending = String(--matchState.pending); }
  }

  function drawMatchPlot(data) {
    const first = data.window.start, values = data.window.values;
    const w = values.length ? values[0].length : 0;
    const padL = 56, top = 10, H = 220, W = w * MATCH_PX;
    const plot = svg("svg", { width: padL + W + 20, height: top + H + 60, id: "match-chart" });
    const x = (t) => padL + (t - first) * MATCH_PX + MATCH_PX / 2;
    const y = (v) => top + (1 - (Math.max(-1, Math.min(1, v)) + 1) / 2) * H;
    const sel = matchState.selection && matchState.text === $("cells-text").value ? matchState.selection : null;
    const on = new Set(sel ? sel.cells : []);
    if (sel) plot.append(svg("rect", { class: "brush", x: padL + (sel.start - first) * MATCH_PX, y: top, width: (sel.end - sel.start) * MATCH_PX, height: H }));
    const cur = matchState.current;
    if (cur) plot.append(svg("rect", { class: "found", x: padL + (cur.start - first) * MATCH_PX, y: top, width: (cur.end - cur.start) * MATCH_PX, height: H }));
    plot.append(svg("rect", { x: padL, y: top, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    for (const v of [-1, 0, 1]) plot.append(svg("text", { x: padL - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
    plot.append(svg("text", { x: 14, y: top + H / 2, transform: `rotate(-90 14 ${top + H / 2})`, "text-anchor": "middle", class: "y-label" }, data.kind === "tanh_c" ? "tanh(c)" : "h"));
    const order = values.map((_, n) => n).sort((a, b) => on.has(a) - on.has(b));  // selected cells drawn last, on top
    for (const n of order) {
      const pts = values[n].map((v, j) => `${x(first + j)},${y(v)}`).join(" ");
      plot.append(svg("polyline", { points: pts, class: on.has(n) ? "cell selected" : "cell", "data-cell": String(n) }, undefined));
    }
    const thr = Number($("match-threshold").value);
    plot.append(svg("line", { x1: padL, x2: padL + W, y1: y(thr), y2: y(thr), stroke: "#2e5aac", "stroke-dasharray": "5 3", class: "threshold" }));
    plot.append(svg("text", { x: padL + W + 2, y: y(thr) + 4 }, "thr"));
    const text = $("cells-text").value;
    for (let j = 0; j < w; j++) {
      const ch = text[first + j];
      plot.append(svg("text", { x: x(first + j), y: top + H + 14, "text-anchor": "middle", class: "tick-char" }, ch === "\n" ? "\u21b5" : (ch === " " ? "\u2423" : ch)));
      if ((first + j) % 10 === 0) plot.append(svg("text", { x: x(first + j), y: top + H + 28, "text-anchor": "middle" }, String(first + j)));
    }
    plot.append(svg("text", { x: padL + W / 2, y: top + H + 48, "text-anchor": "middle", class: "x-label" }, "character (its position in the text every 10)"));
    // brushing: drag across the plot to select a span
    let from = null;
    const at = (ev) => {
      const box = plot.getBoundingClientRect();
      return Math.max(first, Math.min(first + w - 1, first + Math.floor((ev.clientX - box.left - padL) / MATCH_PX)));
    };
    const brush = svg("rect", { class: "brush", y: top, height: H, width: 0, x: padL, visibility: "hidden" });
    plot.append(brush);
    plot.addEventListener("mousedown", (ev) => { from = at(ev); brush.setAttribute("visibility", "visible"); ev.preventDefault(); });
    plot.addEventListener("mousemove", (ev) => {
      if (from === null) return;
      const to = at(ev), a = Math.min(from, to), b = Math.max(from, to) + 1;
      brush.setAttribute("x", padL + (a - first) * MATCH_PX);
      brush.setAttribute("width", (b - a) * MATCH_PX);
    });
    plot.addEventListener("mouseup", (ev) => {
      if (from === null) return;
      const to = at(ev), a = Math.min(from, to), b = Math.max(from, to) + 1;
      from = null;
      $("match-start").value = a;
      $("match-end").value = b;
      loadMatch(true);
    });
    $("match-plot").replaceChildren(el("div", { class: "plot" },
      el("div", { class: "title", text: `layer ${data.layer}, ${data.kind === "tanh_c" ? "tanh(c)" : "h"}: all ${data.cells} cells over characters ${first}-${first + w - 1} of ${data.length}` + (sel ? `; ${on.size} selected (red)` : "") }), plot));
  }

  function renderMatches(text) {
    const sel = matchState.selection;
    const snippet = (a, b) => el("span", { class: "snippet" },
      JSON.stringify(text.slice(Math.max(0, a - 12), a)).slice(1, -1), el("mark", { text: JSON.stringify(text.slice(a, b)).slice(1, -1) }),
      JSON.stringify(text.slice(b, b + 12)).slice(1, -1));
    const rows = matchState.matches.map((m, i) => el("tr", { class: "pick match-row", "data-start": String(m.start), onclick: () => goToMatch(m) },
      el("td", { text: String(i + 1) }), el("td", { text: m.score.toFixed(3) }), el("td", { text: `${m.shared} / ${m.missing} / ${m.extra}` }),
      el("td", { text: `${m.start}-${m.end}` }), el("td", {}, snippet(m.start, m.end))));
    const table = rows.length ? el("table", { class: "results", id: "match-table" },
      el("tr", {}, el("th", { text: "rank" }), el("th", { text: "score" }), el("th", { text: "shared / missing / extra cells" }),
        el("th", { text: "characters" }), el("th", { text: "the span in its context" })), ...rows)
      : el("p", { class: "hint", text: sel.cells.length ? "no other span has any of the selected cells on over it" : "" });
    $("match-results").replaceChildren(el("p", { class: "hint" }, "selected: characters ", el("b", { text: `${sel.start}-${sel.end}` }), " ", snippet(sel.start, sel.end),
      sel.cells.length ? `; cells ${sel.cells.join(", ")}` : ""), table);
    const box = $("match-text");
    const spans = Array.from(text, (ch) => el("span", { class: ch === "\n" ? "ch nl" : "ch", text: ch }));
    for (let t = sel.start; t < sel.end; t++) spans[t].classList.add("sel");
    for (const m of matchState.matches) for (let t = m.start; t < m.end; t++) spans[t].classList.add("hit");
    box.replaceChildren(...spans);
    delete box.dataset.current;
  }

  // a match clicked: the plot moves to it, and the text below scrolls to it
  function goToMatch(m) {
    matchState.current = m;
    $("match-from").value = Math.max(0, m.start - 10);
    loadMatch(false);
    const box = $("match-text");
    const spans = box.querySelectorAll("span.ch");
    for (const s of box.querySelectorAll("span.current")) s.classList.remove("current");
    for (let t = m.start; t < m.end && t < spans.length; t++) spans[t].classList.add("current");
    box.dataset.current = `${m.start}-${m.end}`;
    for (const r of document.querySelectorAll("#match-table tr.match-row")) r.classList.toggle("active", r.dataset.start === String(m.start));
    if (spans[m.start]) spans[m.start].scrollIntoView({ block: "center" });
  }

  function resetMatch() {
    const m = current("textgen");
    if (!m) return;
    $("match-layer").replaceChildren(...Array.from({ length: m.num_layers }, (_, i) => el("option", { value: String(i), text: String(i) })));
    const cellState = m.states.includes("c");
    $("match-kind").querySelector('[value="tanh_c"]').disabled = !cellState;
    if (!cellState) $("match-kind").value = "h";
    for (const id of ["steer-layer"]) $(id).max = m.num_layers - 1;
    $("steer-unit").max = m.hidden_size - 1;
    matchState.selection = null; matchState.matches = []; matchState.current = null; matchState.plotText = null;
    $("match-plot").replaceChildren();
    $("match-results").replaceChildren();
    $("match-text").replaceChildren();
  }

  // -- Steering: clamp one cell while sampling (Radford et al. 2017) -----------------------
  async function steer() {
    showError("", "generate");
    const m = current("textgen");
    if (!m || REPORT) return;
    const body = {
      model: m.name, prime: $("prime").value, length: numberOrNull("length"), temperature: numberOrNull("temperature"),
      top_k: numberOrNull("top-k"), top_p: numberOrNull("top-p"), seed: numberOrNull("seed"),
      cell: { layer: Number($("steer-layer").value || 0), unit: Number($("steer-unit").value || 0) }, value: numberOrNull("steer-value"),
    };
    $("steer-status").textContent = "sampling twice...";
    $("steer-btn").disabled = true;
    try {
      const data = await api("/api/steer", body);
      const col = (title, text, other) => el("div", {}, el("div", { class: "hint", text: title }),
        el("div", { class: "text-out" }, ...Array.from(text, (ch, i) => el("span", { class: (ch === "\n" ? "ch nl" : "ch") + (other !== null && other[i] !== ch ? " diff" : ""), text: ch }))));
      const lo = Math.min(...data.free_values), hi = Math.max(...data.free_values);
      const name = `layer ${data.cell.layer}, cell ${data.cell.unit}`;
      const summary = data.first_difference === null
        ? `The clamp changed nothing here: with ${name} held at ${data.value} the model wrote the same ${data.free.length} characters.`
        : `The texts part at character ${data.first_difference}: ${data.changed} of ${data.free.length} characters differ (shaded).`;
      $("steer-output").replaceChildren(
        el("p", { id: "steer-summary", class: "verdict " + (data.first_difference === null ? "weak" : "clear"), text: summary }),
        el("div", { class: "steer-pair" },
          col(`free (seed ${data.seed})` + (data.free_values.length ? `; ${name}'s h ranged over [${lo.toFixed(2)}, ${hi.toFixed(2)}]` : ""), data.free, null),
          col(`${name} clamped to ${data.value}`, data.steered, data.free)));
      $("steer-status").textContent = "";
    } catch (e) { showError(e.message, "generate"); $("steer-status").textContent = ""; }
    finally { $("steer-btn").disabled = false; }
  }

  // -- The classifier's cells ---------------------------------------------------------------
  async function sentenceStates(text) {
    const m = current("sentiment");
    if (!m) return;
    try {
      drawStates(await api("/api/sentiment/states", { model: m.name, text }));
    } catch (e) {
      $("sent-states").replaceChildren(el("p", { class: "hint", text: REPORT ? "the states of this sentence are not in the report" : e.message }));
    }
  }

  function drawStates(data) {
    const rows = [];
    const H = data.hidden_size, D = data.directions;
    for (const layer of data.layers) {
      for (let c = 0; c < D * H; c++) rows.push({ layer: layer.layer, unit: c, name: `l${layer.layer} ${D === 2 ? (c < H ? "fwd" : "bwd") + " " : ""}${c}`, values: layer.h.map((row) => row[c]) });
    }
    const peak = Math.max(1e-6, ...rows.map((r) => Math.max(...r.values.map(Math.abs))));  // full colour at the largest |h|
    const longest = Math.max(...data.tokens.map((w) => w.length));
    const cw = Math.max(34, 7 * longest + 8), rh = 11, top = 18, left = 80;
    const canvas = el("canvas", { class: "heat", id: "states-heat", width: String(left + cw * data.tokens.length), height: String(top + rh * rows.length) });
    const ctx = canvas.getContext("2d");
    ctx.font = "10px ui-monospace, monospace";
    ctx.fillStyle = "#1d2430";
    data.tokens.forEach((w, t) => ctx.fillText(w, left + t * cw + 2, 12));
    rows.forEach((r, i) => {
      ctx.fillStyle = "#667085";
      ctx.fillText(r.name, 2, top + i * rh + 9);
      r.values.forEach((v, t) => { ctx.fillStyle = colour(v / peak); ctx.fillRect(left + t * cw, top + i * rh, cw - 1, rh - 1); });
    });
    canvas.title = "click a row: that cell goes to Ablation";
    canvas.addEventListener("click", (ev) => {
      const box = canvas.getBoundingClientRect();
      const r = rows[Math.floor((ev.clientY - box.top - top) / rh)];
      if (r) { $("ablate-layer").value = r.layer; $("ablate-unit").value = r.unit; }
    });
    canvas.dataset.rows = String(rows.length);
    $("sent-states").replaceChildren(el("div", { class: "hint", text: `${rows.length} cells after each of the ${data.tokens.length} words of: ${data.tokens.join(" ")}; full colour at |h| = ${peak.toFixed(2)}, the largest here` }),
      el("div", { class: "heat-wrap" }, canvas));
  }

  function labelsOf(m) {
    const labels = m.labels || [];
    const names = m.label_names || labels;
    return labels.map((l, i) => ({ label: l, name: m.labels_named ? names[i] : `label "${l}"` }));
  }

  function resetSentiment() {
    const m = current("sentiment");
    if (!m) return;
    const labels = labelsOf(m);
    $("labelled-label").replaceChildren(...labels.map((l) => el("option", { value: l.label, text: l.name })));
    const pos = labels.find((l) => l.name === "positive");
    $("labelled-label").value = pos ? pos.label : labels[labels.length - 1].label;
    $("ablate-layer").max = m.num_layers - 1;
    $("ablate-unit").max = (m.bidirectional ? 2 : 1) * m.hidden_size - 1;
  }

  // lines "LABEL<tab>sentence", "sentence<tab>LABEL" or "LABEL sentence" (SST-2's files)
  // -> [[sentence, label]]; the other lines counted
  function labelledExamples() {
    const m = current("sentiment");
    const labels = new Set(m.labels || []);
    const out = [];
    let skipped = 0;
    for (const line of $("labelled-text").value.split(/\r?\n/)) {
      if (!line.trim()) continue;
      const parts = line.split("\t");
      const head = line.trim().split(/\s+/, 1)[0];
      if (parts.length >= 2 && labels.has(parts[0].trim())) out.push([parts.slice(1).join(" "), parts[0].trim()]);
      else if (parts.length === 1 && labels.has(head) && line.trim().length > head.length) out.push([line.trim().slice(head.length).trim(), head]);
      else if (parts.length >= 2 && labels.has(parts[parts.length - 1].trim())) out.push([parts.slice(0, -1).join(" "), parts[parts.length - 1].trim()]);
      else skipped += 1;
    }
    return { examples: out, skipped };
  }

  async function findSentimentCells() {
    showError("", "sentiment");
    const m = current("sentiment");
    if (!m || REPORT) return;
    const { examples, skipped } = labelledExamples();
    if (!examples.length) { showError(`no labelled sentence: give lines LABEL<tab>sentence with labels ${(m.labels || []).join(", ")}`, "sentiment"); return; }
    $("sentcells-status").textContent = `reading ${examples.length} sentences...`;
    try {
      const data = await api("/api/sentiment/cells", { model: m.name, examples, label: $("labelled-label").value });
      $("sentcells-status").textContent = `${data.examples} sentences` + (skipped ? `; ${skipped} line${skipped === 1 ? "" : "s"} skipped (no known label)` : "") + `; the model is right on ${(100 * data.accuracy).toFixed(1)}% of them`;
      renderSentimentCells(data);
    } catch (e) { showError(e.message, "sentiment"); $("sentcells-status").textContent = ""; }
  }

  function renderSentimentCells(data) {
    const m = current("sentiment");
    const name = (labelsOf(m).find((l) => l.label === data.label) || { name: data.label }).name;
    const best = data.cells.length ? Math.abs(data.cells[0].correlation) : 0;
    const chance = `the chance level |r| = ${data.chance.toFixed(3)} (the best |r| of any cell against the labels shuffled, largest over ${data.shuffles} shuffles)`;
    const verdict = data.verdict === "none" ? `No cell tracks ${name}: the best |r| = ${best.toFixed(3)} is under ${chance}.`
      : data.verdict === "weak" ? `No cell clearly tracks ${name}: the best |r| = ${best.toFixed(3)} is above ${chance}, but under ${data.clear_r}.`
        : `${data.cells.filter((c) => c.above_chance && Math.abs(c.correlation) >= data.clear_r).length} of the cells listed track ${name}: |r| \u2265 ${data.clear_r} and above ${chance}.`;
    const rows = data.cells.map((c) => el("tr", { class: "pick" + (c.above_chance ? "" : " chance"), onclick: () => { $("ablate-layer").value = c.layer; $("ablate-unit").value = c.unit; ablate(); } },
      el("td", { text: String(c.layer) }), el("td", { text: String(c.unit) }), el("td", { text: m.bidirectional ? (c.direction ? "backward" : "forward") : "" }),
      el("td", { text: c.correlation.toFixed(3) }), el("td", { text: c.mean_label.toFixed(3) }), el("td", { text: c.mean_other.toFixed(3) }),
      el("td", { text: c.above_chance ? (Math.abs(c.correlation) >= data.clear_r ? "yes" : "weak") : "no" })));
    $("sentcells-results").replaceChildren(
      el("p", { id: "sentcells-verdict", class: "verdict " + data.verdict, text: verdict }),
      el("p", { class: "hint", text: `each cell summarised over a sentence as the model summarises its last layer (${data.pooling} pooling); r: its correlation with being ${name} over the ${data.examples} sentences. Click a row to ablate the cell.` }),
      el("table", { class: "results", id: "sentcells-table" }, el("tr", {}, el("th", { text: "layer" }), el("th", { text: "cell" }), el("th", { text: "direction" }),
        el("th", { text: "r" }), el("th", { text: `mean, ${name}` }), el("th", { text: "mean, the others" }), el("th", { text: "above chance" })), ...rows));
  }

  async function ablate() {
    showError("", "sentiment");
    const m = current("sentiment");
    if (!m || REPORT) return;
    const body = { model: m.name, text: $("sent-text").value, cell: { layer: Number($("ablate-layer").value || 0), unit: Number($("ablate-unit").value || 0) }, value: numberOrNull("ablate-value") };
    const { examples } = labelledExamples();
    if (examples.length) body.examples = examples;
    $("ablate-status").textContent = "classifying...";
    try {
      const data = await api("/api/sentiment/ablate", body);
      $("ablate-status").textContent = "";
      const labels = labelsOf(m);
      const ways = [["base", "as it is"], ["zeroed", "cell zeroed"], ["clamped", `cell clamped to ${data.value}`]].filter(([k]) => data[k]);
      const rows = ways.map(([k, title]) => el("tr", { "data-way": k }, el("td", { text: title }), el("td", { class: "verdict-label", text: (labels.find((l) => l.label === data[k].label) || { name: data[k].label }).name }),
        ...labels.map((l) => el("td", { text: (100 * data[k].probabilities[l.label]).toFixed(1) + "%" }))));
      const over = data.over_examples;
      const overText = over ? `Over the ${over.examples} labelled sentences: accuracy ${(100 * over.accuracy_base).toFixed(1)}% as it is, ${(100 * over.accuracy_zeroed).toFixed(1)}% zeroed (${over.flipped_zeroed} prediction${over.flipped_zeroed === 1 ? "" : "s"} change${over.flipped_zeroed === 1 ? "s" : ""})` + (over.accuracy_clamped !== undefined ? `, ${(100 * over.accuracy_clamped).toFixed(1)}% clamped (${over.flipped_clamped} change${over.flipped_clamped === 1 ? "s" : ""})` : "") + "." : "Give labelled sentences above to see the change over them.";
      $("ablate-results").replaceChildren(
        el("p", { class: "hint", text: `layer ${data.cell.layer}, cell ${data.cell.unit} on "${data.tokens.join(" ")}": its h word by word ${data.values.map((v) => v.toFixed(2)).join(", ")}` }),
        el("table", { class: "results", id: "ablate-table" }, el("tr", {}, el("th", { text: "" }), el("th", { text: "prediction" }), ...labels.map((l) => el("th", { text: `P(${l.name})` }))), ...rows),
        el("p", { id: "ablate-over", class: "hint", text: overText }));
    } catch (e) { showError(e.message, "sentiment"); $("ablate-status").textContent = ""; }
  }

  function loadLabelledFile() {
    const file = $("labelled-file").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      const limit = (MODELS_LIMITS.max_examples || 1000), bytes = (MODELS_LIMITS.max_body_bytes || 65536) - 4096;
      const lines = String(reader.result).split(/\r?\n/).filter((l) => l.trim());
      let kept = 0, size = 0;  // at most max_examples lines, and what fits in one request body
      while (kept < Math.min(limit, lines.length) && (size += new Blob([JSON.stringify(lines[kept])]).size + 8) <= bytes) kept += 1;
      $("labelled-text").value = lines.slice(0, kept).join("\n");
      $("sentcells-status").textContent = kept < lines.length ? `the first ${kept} of the file's ${lines.length} lines (the server reads at most ${limit} sentences in a request of at most ${Math.round((bytes + 4096) / 1024)} KiB)` : `${lines.length} lines from ${file.name}`;
    };
    reader.readAsText(file);
  }

  start();
})();
