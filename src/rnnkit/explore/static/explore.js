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

  let MODELS = [];
  let PRESETS = {};
  const state = { trace: null, traceText: null, cells: {}, cellRequest: 0 };

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

  function showError(message) {
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
      throw new Error("this report holds the preset patterns only");
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
    for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === view);
    for (const s of document.querySelectorAll(".view")) s.classList.toggle("active", s.id === "view-" + view);
    if (view === "gates") drawGates();
    if (view === "gradients" && !$("grad-output").hasChildNodes()) measureGradients();
  }

  async function start() {
    if (REPORT) $("report-note").hidden = false;
    try {
      const data = await api("/api/models");
      MODELS = data.models;
      PRESETS = data.presets || {};
    } catch (e) { showError(e.message); return; }
    const tg = modelsOf("textgen"), st = modelsOf("sentiment");
    fillSelect($("textgen-model"), tg);
    fillSelect($("sentiment-model"), st);
    fillSelect($("grad-model"), MODELS);
    $("tg-pick").hidden = tg.length === 0;
    $("st-pick").hidden = st.length === 0;
    for (const b of document.querySelectorAll("#tabs button")) {
      const needs = { generate: tg, cells: tg, gates: tg, sentiment: st }[b.dataset.view];
      b.disabled = needs !== undefined && needs.length === 0;
      b.addEventListener("click", () => showView(b.dataset.view));
    }
    const preset = $("pattern-preset");
    const names = Object.keys(PRESETS).concat(["position in the line"]);
    if (!REPORT) names.push("custom regex");
    preset.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
    preset.addEventListener("change", syncPreset);
    syncPreset();
    $("textgen-model").addEventListener("change", () => { resetText(); traceText(); });
    $("generate-btn").addEventListener("click", generate);
    $("trace-btn").addEventListener("click", traceText);
    $("find-btn").addEventListener("click", findCells);
    $("classify-btn").addEventListener("click", classify);
    $("grad-btn").addEventListener("click", measureGradients);
    for (const id of ["cell-layer", "cell-kind", "cell-unit"]) $(id).addEventListener("change", () => colourCell());
    $("cell-slider").addEventListener("input", () => { $("cell-unit").value = $("cell-slider").value; colourCell(); });
    if (REPORT) {
      $("cells-text").readOnly = true;
      $("trace-btn").hidden = true;
      $("pattern-regex").readOnly = true;
      $("sent-text").readOnly = true;
    }
    showView(tg.length ? "generate" : (st.length ? "sentiment" : "gradients"));
    if (tg.length) { resetText(); traceText(); if (REPORT) showReportSample(); }
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
    showError("");
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
      showError(e.message);
      $("gen-status").textContent = "";
    } finally {
      $("generate-btn").disabled = false;
    }
  }

  function showReportSample() {
    const m = current("textgen");
    const g = REPORT.answers[m.name].generate;
    $("gen-output").replaceChildren(...g.chars.map((c) => charSpan(c.char, c.top, $("gen-guesses"))));
    $("gen-status").textContent = "a sample generated when the report was written (temperature 0.8, seed 0)";
    $("generate-btn").hidden = true;
  }

  // -- Cells -----------------------------------------------------------------------------
  function colour(v) {
    const a = Math.min(1, Math.abs(v));
    return v >= 0 ? `rgba(178, 24, 43, ${a.toFixed(3)})` : `rgba(33, 102, 172, ${a.toFixed(3)})`;
  }

  function colouredText(chars, values) {
    const box = el("div", { class: "text-out" });
    chars.forEach((c, t) => {
      const span = charSpan(c.char, c.top, $("gen-guesses"));
      span.style.background = colour(values[t]);
      if (Math.abs(values[t]) > 0.6) span.style.color = "#fff";
      span.title = `${values[t].toFixed(3)}  ` + span.title;
      box.append(span);
    });
    return box;
  }

  function selectedCell() {
    return { layer: Number($("cell-layer").value || 0), kind: $("cell-kind").value, unit: Number($("cell-unit").value || 0) };
  }

  async function traceText() {
    showError("");
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
      state.model = m.name;
      $("trace-status").textContent = data.loss === null ? "" : `${data.chars.length} characters, ${(data.loss / Math.LN2).toFixed(3)} bits/char`;
      if (ticket === state.cellRequest) renderCell(data.cells[0]);  // else a newer pick is on its way
      if (document.querySelector("#view-gates.active")) drawGates();
    } catch (e) { showError(e.message); $("trace-status").textContent = ""; }
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

  function renderCell(cell) {
    const out = $("cells-output");
    out.replaceChildren(...colouredText(state.trace.chars, cell.values).childNodes);
    out.dataset.cell = `${cell.layer}/${cell.kind}/${cell.unit}`;
  }

  async function colourCell() {
    showError("");
    $("cell-slider").value = $("cell-unit").value;
    const m = current("textgen");
    if (!m || !state.trace || state.traceText !== $("cells-text").value) { traceText(); return; }
    const ticket = ++state.cellRequest;
    try {
      const data = await api("/api/trace", { model: m.name, text: state.traceText, cells: [selectedCell()] });
      if (ticket !== state.cellRequest) return;  // a newer pick is on its way
      renderCell(data.cells[0]);
    } catch (e) { showError(e.message); }
  }

  function syncPreset() {
    const name = $("pattern-preset").value;
    $("pattern-regex").value = PRESETS[name] || "";
    $("pattern-regex").disabled = name === "position in the line";
  }

  async function findCells() {
    showError("");
    const m = current("textgen");
    if (!m) return;
    const preset = $("pattern-preset").value;
    const body = { model: m.name, text: $("cells-text").value, preset, top: 10, shown: 3 };
    if (preset === "position in the line") body.position = "line"; else body.regex = $("pattern-regex").value;
    $("find-status").textContent = "searching...";
    try {
      if (!state.trace || state.traceText !== body.text) await traceText();
      const data = await api("/api/cells", body);
      $("find-status").textContent = `the pattern covers ${(100 * data.matched).toFixed(1)}% of the characters`;
      const rows = data.cells.map((c) => el("tr", { class: "pick", onclick: () => { setCell(c); colourCell(); } },
        el("td", { text: String(c.layer) }), el("td", { text: c.kind === "tanh_c" ? "tanh(c)" : c.kind }),
        el("td", { text: String(c.unit) }), el("td", { text: c.correlation.toFixed(3) })));
      const table = el("table", { class: "results" },
        el("tr", {}, el("th", { text: "layer" }), el("th", { text: "value" }), el("th", { text: "cell" }), el("th", { text: "correlation" })), ...rows);
      const shown = data.cells.filter((c) => c.values).map((c) => el("div", { class: "top-cell" },
        el("div", { class: "hint", text: `layer ${c.layer}, ${c.kind === "tanh_c" ? "tanh(c)" : c.kind}, cell ${c.unit}: r = ${c.correlation.toFixed(3)}` }),
        colouredText(state.trace.chars, c.values)));
      $("cells-results").replaceChildren(table, ...shown);
    } catch (e) { showError(e.message); $("find-status").textContent = ""; }
  }

  // -- Gates -----------------------------------------------------------------------------
  function drawGates() {
    const out = $("gates-output");
    if (!state.trace) { out.replaceChildren(el("p", { class: "hint", text: "trace a text in the Cells view first" })); return; }
    const plots = state.trace.gates.map((layer) => {
      const size = 260, pad = 34;
      const plot = svg("svg", { width: size + pad + 10, height: size + pad + 10, class: "gate-plot" });
      const x = (v) => pad + v * size, y = (v) => size + 6 - v * size;
      plot.append(svg("rect", { x: pad, y: 6, width: size, height: size, fill: "none", stroke: "#d0d5dd" }));
      plot.append(svg("line", { x1: x(0), y1: y(1), x2: x(1), y2: y(0), stroke: "#eaecf0" }));
      for (const t of [0, 0.5, 1]) {
        plot.append(svg("text", { x: x(t) - 6, y: size + 22 }, String(t)));
        plot.append(svg("text", { x: 8, y: y(t) + 4 }, String(t)));
      }
      plot.append(svg("text", { x: pad + 60, y: size + 36 }, "fraction left-saturated (< 0.1)"));
      const legend = [];
      for (const [name, g] of Object.entries(layer.gates)) {
        g.left.forEach((l, u) => plot.append(svg("circle", { cx: x(l), cy: y(g.right[u]), r: 2.6, fill: COLORS[name], "fill-opacity": 0.6 })));
        const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
        legend.push(el("div", {}, el("span", { style: `color:${COLORS[name]}; font-weight:700`, text: "\u25cf " + name }),
          el("span", { text: `  left ${(100 * mean(g.left)).toFixed(1)}%, right ${(100 * mean(g.right)).toFixed(1)}% of steps (mean over units)` })));
      }
      return el("div", { class: "plot" }, el("div", { class: "title", text: `layer ${layer.layer}` }), plot, ...legend);
    });
    out.replaceChildren(el("div", { class: "plots" }, ...plots),
      el("p", { class: "hint", text: `over ${state.trace.chars.length} characters; y: fraction right-saturated (> 0.9)` }));
  }

  // -- Sentiment -------------------------------------------------------------------------
  async function classify() {
    showError("");
    const m = current("sentiment");
    if (!m) return;
    try {
      renderClassification(await api("/api/classify", { model: m.name, text: $("sent-text").value }));
    } catch (e) { showError(e.message); }
  }

  function renderClassification(data) {
    const best = data.labels.indexOf(data.label);
    const scale = Math.max(1e-6, ...data.attribution.map(Math.abs));
    const words = data.tokens.map((w, t) => {
      const a = data.attribution[t] / scale;
      const bg = a >= 0 ? `rgba(18, 183, 106, ${Math.abs(a).toFixed(3)})` : `rgba(217, 45, 32, ${Math.abs(a).toFixed(3)})`;
      return el("span", { style: `background:${bg}`, title: `leave-one-out: ${data.attribution[t] >= 0 ? "+" : ""}${data.attribution[t].toFixed(3)}`, text: w });
    });
    const W = Math.max(320, 60 * data.tokens.length), H = 200, pad = 40;
    const chart = svg("svg", { width: W + pad + 20, height: H + 70, id: "sent-chart" });
    const x = (t) => pad + (data.tokens.length === 1 ? W / 2 : (t * W) / (data.tokens.length - 1));
    const y = (p) => 10 + (1 - p) * H;
    chart.append(svg("rect", { x: pad, y: 10, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    chart.append(svg("line", { x1: pad, y1: y(0.5), x2: pad + W, y2: y(0.5), stroke: "#eaecf0", "stroke-dasharray": "4 3" }));
    for (const p of [0, 0.5, 1]) chart.append(svg("text", { x: 8, y: y(p) + 4 }, p.toFixed(1)));
    const classes = data.labels.length === 2 ? [best] : data.labels.map((_, i) => i);
    const palette = ["#2e5aac", "#d92d20", "#12b76a", "#f79009", "#7a5af8"];
    classes.forEach((k, j) => {
      const pts = data.trajectory.map((row, t) => `${x(t)},${y(row[k])}`).join(" ");
      chart.append(svg("polyline", { points: pts, fill: "none", stroke: palette[j % 5], "stroke-width": 2 }));
      data.trajectory.forEach((row, t) => chart.append(svg("circle", { cx: x(t), cy: y(row[k]), r: 3, fill: palette[j % 5] })));
      chart.append(svg("text", { x: pad + 6, y: 24 + 14 * j, fill: palette[j % 5] }, `P(${data.labels[k]}) after each word`));
    });
    data.tokens.forEach((w, t) => chart.append(svg("text", { x: x(t) - 3 * w.length, y: H + 30 }, w)));
    $("sent-result").replaceChildren(
      el("div", { id: "sent-label" }, el("b", { text: data.label }), el("span", { text: `  probability ${(100 * data.probability).toFixed(1)}%` })),
      el("div", { id: "sent-words" }, ...words),
      el("p", { class: "hint", text: "words shaded by leave-one-out attribution: green pushed towards the label, red away from it" }),
      chart);
  }

  function showReportSentences() {
    const m = current("sentiment");
    const list = REPORT.answers[m.name].classify;
    if (!list.length) return;
    $("sent-text").value = list[0].text;
    renderClassification(list[0]);
    const picks = list.map((c) => el("button", { onclick: () => { $("sent-text").value = c.text; renderClassification(c); } }, c.text));
    $("view-sentiment").querySelector(".controls").append(...picks);
    $("classify-btn").hidden = true;
  }

  // -- Gradient flow ---------------------------------------------------------------------
  async function measureGradients() {
    showError("");
    const name = $("grad-model").value;
    if (!name) return;
    $("grad-status").textContent = "measuring...";
    try {
      const data = await api("/api/gradients", { model: name });
      $("grad-status").textContent = "";
      drawGradients(data);
    } catch (e) { showError(e.message); $("grad-status").textContent = ""; }
  }

  function drawGradients(data) {
    const W = 560, H = 300, pad = 56;
    const all = data.layers.flatMap((l) => l.trained.concat(l.random)).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...all))), hi = Math.ceil(Math.log10(Math.max(...all)));
    const x = (k) => pad + (k * W) / Math.max(1, data.steps - 1);
    const y = (v) => 10 + ((hi - Math.log10(Math.max(v, 10 ** lo))) / Math.max(1, hi - lo)) * H;
    const plot = svg("svg", { width: W + pad + 170, height: H + 50, id: "grad-chart" });
    plot.append(svg("rect", { x: pad, y: 10, width: W, height: H, fill: "none", stroke: "#d0d5dd" }));
    for (let e = lo; e <= hi; e++) {
      plot.append(svg("line", { x1: pad, x2: pad + W, y1: y(10 ** e), y2: y(10 ** e), stroke: "#f2f4f7" }));
      plot.append(svg("text", { x: 8, y: y(10 ** e) + 4 }, `1e${e}`));
    }
    for (const k of [0, Math.floor((data.steps - 1) / 2), data.steps - 1]) plot.append(svg("text", { x: x(k) - 4, y: H + 24 }, String(k)));
    plot.append(svg("text", { x: pad + W / 2 - 90, y: H + 42 }, "distance k from the loss (steps)"));
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

  start();
})();
