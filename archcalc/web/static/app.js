// The archcalc playground. This page computes nothing: it sends the editor's text to the local
// server's JSON endpoints (the same Python API as the command line) and shows what they return.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { name: "editor.yaml", selected: null, seq: 0, other: null, marks: [] };

const editor = CodeMirror($("#editor"), {
  mode: "yaml", lineNumbers: true, lineWrapping: true, indentUnit: 2, tabSize: 2, indentWithTabs: false,
  gutters: ["errors", "CodeMirror-linenumbers"],
  extraKeys: { Tab: (cm) => cm.replaceSelection("  ") },
});
window.archcalcEditor = editor;       // for tests and the console

async function call(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch (e) { data = { ok: false, error: { text: `HTTP ${response.status}` } }; }
  if (!response.ok && data.ok === undefined) data.ok = false;
  return data;
}

// Views ask again on every change; only the answer to the latest question is shown.
const asked = {};
async function latest(view, path, body) {
  const seq = asked[view] = (asked[view] || 0) + 1;
  const data = await call(path, body);
  return seq === asked[view] ? data : null;
}

function source() { return { spec: editor.getValue(), name: state.name }; }
function options() { return { batch: Number($("#batch").value) || 1, dtype: $("#dtype").value }; }

// ---- markers in the editor

function clearMarks() {
  editor.clearGutter("errors");
  for (const m of state.marks) {
    if (m.widget) m.widget.clear(); else editor.removeLineClass(m.line, "background", m.cls);
  }
  state.marks = [];
}

function marker(cls, symbol, title) {
  const el = document.createElement("span");
  el.className = cls; el.textContent = symbol; el.title = title;
  return el;
}

function markLine(line, cls) {
  editor.addLineClass(line, "background", cls);
  state.marks.push({ line, cls });
}

function showError(error) {
  const line = error.line ? Math.min(error.line, editor.lineCount()) - 1 : null;
  const problem = $("#problem");
  problem.hidden = false;
  problem.textContent = "error: " + (error.text || error.message);
  setState("bad", line !== null ? `error at line ${line + 1}` : "error");
  if (line === null) return;
  editor.setGutterMarker(line, "errors", marker("error-marker", "●", error.text || error.message));
  markLine(line, "line-error");
  const box = document.createElement("div");
  box.className = "line-widget-error";
  const head = document.createElement("b");
  head.textContent = (error.layer ? `layer '${error.layer}': ` : "") + error.message;
  box.appendChild(head);
  if (error.hint) box.appendChild(document.createTextNode("\nfix: " + error.hint));
  state.marks.push({ widget: editor.addLineWidget(line, box, { coverGutter: false, noHScroll: true }) });
}

function showWarnings(warnings) {
  for (const w of warnings) {
    if (!w.line || w.line > editor.lineCount()) continue;
    editor.setGutterMarker(w.line - 1, "errors", marker("warning-marker", "▲", `${w.layer}: ${w.message}`));
    markLine(w.line - 1, "line-warning");
  }
}

function setState(cls, text) { const s = $("#state"); s.className = "state " + cls; s.textContent = text; }

// ---- analysis, on every change

let timer = null;
function scheduleAnalyze() { clearTimeout(timer); timer = setTimeout(analyze, 250); }

async function analyze() {
  const seq = ++state.seq;
  setState("busy", "…");
  const data = await call("/api/analyze", { ...source(), ...options() });
  if (seq !== state.seq) return;        // a newer edit already went out
  clearMarks();
  document.body.dataset.analyzed = String(seq);
  if (!data.ok) {
    showError(data.error);
    for (const id of ["#tab-summary", "#tab-diagram"]) $(id).classList.add("stale");
    return;
  }
  $("#problem").hidden = true;
  for (const id of ["#tab-summary", "#tab-diagram"]) $(id).classList.remove("stale");
  setState("ok", data.warnings.length ? `✓ ${data.warnings.length} warning(s)` : "✓");
  showWarnings(data.warnings);
  $("#tab-summary").innerHTML = data.html;
  $("#tab-diagram").innerHTML = data.diagram;
  state.layers = data.layers;
  if (state.selected && data.layers.some((l) => l.name === state.selected)) select(state.selected);
  refreshTab();
}

// ---- a selected layer: its row, its box, its line, and its worked arithmetic

async function select(name) {
  state.selected = name;
  document.querySelectorAll("tr.selected, g.node.selected").forEach((el) => el.classList.remove("selected"));
  document.querySelectorAll(`#tab-summary tr[data-layer="${CSS.escape(name)}"], #tab-diagram g.node[data-name="${CSS.escape(name)}"]`)
    .forEach((el) => el.classList.add("selected"));
  const data = await call("/api/explain", { ...source(), layer: name });
  if (state.selected !== name) return;
  const box = $("#explain");
  if (!data.ok) { box.textContent = data.error.text; return; }
  box.innerHTML = data.html;
  if (data.line) {
    editor.operation(() => {
      for (const m of state.marks.filter((m) => m.cls === "line-selected")) editor.removeLineClass(m.line, "background", m.cls);
      state.marks = state.marks.filter((m) => m.cls !== "line-selected");
      markLine(data.line - 1, "line-selected");
    });
    editor.scrollIntoView({ line: data.line - 1, ch: 0 }, 60);
  }
}

document.addEventListener("click", (event) => {
  const row = event.target.closest("#tab-summary tr[data-layer]");
  const node = event.target.closest("#tab-diagram g.node[data-name]");
  if (row) select(row.dataset.layer);
  else if (node && node.dataset.name !== "input") select(node.dataset.name);
});

// ---- tabs: memory and compare are computed when shown

function activeTab() { return document.querySelector(".tabs button.active").dataset.tab; }
document.querySelectorAll(".tabs button").forEach((button) => button.addEventListener("click", () => {
  document.querySelectorAll(".tabs button, .tab").forEach((el) => el.classList.remove("active"));
  button.classList.add("active");
  $("#tab-" + button.dataset.tab).classList.add("active");
  refreshTab();
}));

function refreshTab() {
  if (activeTab() === "charts") chartsView();
  if (activeTab() === "memory") memoryView();
  if (activeTab() === "compare") compareView();
  if (activeTab() === "check") checkView();
}

async function checkView() {
  const answers = $("#answers").value;
  if (!answers.trim()) { $("#check-result").innerHTML = ""; $("#check-problem").hidden = true; return; }
  const data = await latest("check", "/api/check", { ...source(), answers });
  if (!data) return;
  const problem = $("#check-problem");
  problem.hidden = data.ok;
  if (!data.ok) { problem.textContent = "error: " + data.error.text; return; }
  $("#check-result").innerHTML = data.html;
}
let checkTimer = null;
$("#answers").addEventListener("input", () => { clearTimeout(checkTimer); checkTimer = setTimeout(checkView, 300); });

async function chartsView() {
  const data = await latest("charts", "/api/charts", { ...source(), ...options() });
  if (!data) return;
  const problem = $("#charts-problem");
  problem.hidden = data.ok;
  if (!data.ok) { problem.textContent = "error: " + data.error.text; return; }
  $("#charts-result").innerHTML = data.html;
}

async function memoryView() {
  const form = new FormData($("#memory-controls"));
  const body = { ...source(), mode: form.get("mode"), batch: Number(form.get("batch")) || 1, dtype: form.get("dtype"),
    optimizer: form.get("optimizer"), budget: form.get("budget").trim() || null, inplace: form.has("inplace"),
    mixed_precision: form.has("mixed_precision"), device: form.get("device") };
  const data = await latest("memory", "/api/memory", body);
  if (!data) return;
  const problem = $("#memory-problem");
  problem.hidden = data.ok;
  if (!data.ok) { problem.textContent = "error: " + data.error.text; return; }
  $("#memory-result").innerHTML = data.html;
}
$("#memory-controls").addEventListener("input", memoryView);
$("#memory-controls").addEventListener("submit", (e) => { e.preventDefault(); memoryView(); });

async function otherSpec() {
  const choice = $("#compare-controls select").value;
  if (choice === "file:" && state.other) return state.other;
  const data = await call("/api/zoo/" + encodeURIComponent(choice || "mnist_fc"));
  return { spec: data.spec, name: data.name };
}

async function compareView() {
  const data = await latest("compare", "/api/compare", { specs: [source(), await otherSpec()], ...options() });
  if (!data) return;
  const problem = $("#compare-problem");
  problem.hidden = data.ok;
  if (!data.ok) {
    problem.textContent = (data.error.side === 1 ? "the other spec: " : "") + "error: " + data.error.text;
    return;
  }
  $("#compare-result").innerHTML = data.html;
}
$("#compare-controls select").addEventListener("change", compareView);
$("#compare-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  state.other = { spec: await file.text(), name: file.name };
  const select = $("#compare-controls select");
  let option = select.querySelector('option[value="file:"]');
  if (!option) { option = new Option("", "file:"); select.add(option, 0); }
  option.textContent = file.name;
  select.value = "file:";
  compareView();
});

// ---- opening specs: the zoo, a file the user picks, or the one given to `archcalc serve`

function load(spec, name) {
  state.name = name; state.selected = null;
  $("#filename").textContent = name;
  $("#explain").innerHTML = '<p class="muted">Click a layer in the table or the diagram to see its worked arithmetic.</p>';
  editor.setValue(spec);
  editor.clearHistory();
  analyze();
}

$("#zoo").addEventListener("change", async (event) => {
  if (!event.target.value) return;
  const data = await call("/api/zoo/" + encodeURIComponent(event.target.value));
  if (data.spec !== undefined) load(data.spec, data.name);
  event.target.value = "";
});
$("#file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (file) load(await file.text(), file.name);
  event.target.value = "";
});
$("#batch").addEventListener("input", scheduleAnalyze);
$("#dtype").addEventListener("change", analyze);
editor.on("change", (cm, change) => { if (change.origin !== "setValue") scheduleAnalyze(); });

// ---- downloads: the server renders each format; PNG is the SVG drawn onto a canvas

function save(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = filename;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function download(format) {
  const data = await call("/api/export", { ...source(), ...options(), format: format === "png" ? "svg" : format });
  if (!data.ok) { $("#problem").hidden = false; $("#problem").textContent = "error: " + data.error.text; return; }
  if (format !== "png") { save(new Blob([data.text], { type: data.mime }), data.filename); return; }
  const image = new Image();
  const url = URL.createObjectURL(new Blob([data.text], { type: "image/svg+xml" }));
  image.onload = () => {
    const scale = 2, canvas = document.createElement("canvas");
    canvas.width = image.width * scale; canvas.height = image.height * scale;
    const context = canvas.getContext("2d");
    context.scale(scale, scale); context.drawImage(image, 0, 0);
    URL.revokeObjectURL(url);
    canvas.toBlob((blob) => save(blob, data.filename.replace(/\.svg$/, ".png")), "image/png");
  };
  image.src = url;
}
document.querySelectorAll(".downloads button").forEach((b) => b.addEventListener("click", () => download(b.dataset.format)));

// ---- start

(async () => {
  const zoo = await call("/api/zoo");
  const other = $("#compare-controls select");
  for (const name of zoo.names) {
    $("#zoo").add(new Option(name, name));
    other.add(new Option(name, name));
  }
  other.value = "mnist_fc";
  const initial = await call("/api/initial");
  load(initial.spec, initial.name);
})();
