import Foundation

/// The self-contained `index.html` of an attention report: the index and every map inline (JSON), the PNGs by
/// relative path, CSS and JavaScript inline; nothing from the network. Text models get a BertViz-style view (hover a
/// query token: lines to the keys it attends to, weights beside them); image models a picture whose patches show
/// their attention over the image on hover. Layer and head selectors; the prediction or translation on top.
enum AttentionPage {
    static func html(index: Data, maps: [Tensor]) -> String {
        let mapsJSON = "[" + maps.map { m -> String in
            let (h, q, k) = (m.shape[0], m.shape[1], m.shape[2]), v = m.scalars
            return "[" + (0..<h).map { hh in
                "[" + (0..<q).map { r in
                    "[" + (0..<k).map { c in compact(v[(hh * q + r) * k + c]) }.joined(separator: ",") + "]"
                }.joined(separator: ",") + "]"
            }.joined(separator: ",") + "]"
        }.joined(separator: ",") + "]"
        let safe = { (s: String) in s.replacingOccurrences(of: "</", with: "<\\/") }
        return template
            .replacingOccurrences(of: "@@INDEX@@", with: safe(String(decoding: index, as: UTF8.self)))
            .replacingOccurrences(of: "@@MAPS@@", with: mapsJSON)
    }

    static func compact(_ x: Float) -> String {
        if x == 0 { return "0" }
        let s = String(format: "%.4f", x)
        return s == "0.0000" ? "0" : s
    }

    static let template = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attention report</title>
<style>
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 18px 24px; color: #1d1d1f; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; }
.sub { color: #555; margin: 2px 0; }
.answer { font-size: 17px; margin: 8px 0 14px; padding: 8px 12px; background: #f2f5fa; border-left: 4px solid #3b518b; }
.controls { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; margin: 10px 0; }
.controls label { font-weight: bold; }
.heads button { margin: 2px; padding: 3px 9px; border: 1px solid #99a; background: #fff; border-radius: 4px; cursor: pointer; }
.heads button.on { background: #3b518b; color: #fff; border-color: #3b518b; }
#view { display: flex; gap: 30px; align-items: flex-start; flex-wrap: wrap; }
#tokens { position: relative; }
.col { position: absolute; top: 0; }
.tok { height: 22px; line-height: 22px; padding: 0 6px; white-space: nowrap; border-radius: 3px; cursor: default; font-size: 14px; }
.tok.q:hover, .tok.q.sel { background: #ffe9a8; }
.tok .w { color: #3b518b; font-size: 11px; margin-left: 6px; }
svg { position: absolute; top: 0; pointer-events: none; }
#imgwrap { position: relative; display: inline-block; }
#imgwrap canvas { position: absolute; left: 0; top: 0; }
.layers { display: flex; flex-direction: column; gap: 18px; margin-top: 18px; }
.layers figure { margin: 0; }
.layers img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 13px; margin-bottom: 4px; }
.hint { color: #777; font-size: 13px; }
</style>
</head>
<body>
<h1 id="title">Attention report</h1>
<p class="sub" id="input"></p>
<div class="answer" id="answer"></div>
<div class="controls">
  <span><label for="layer">Layer</label> <select id="layer"></select></span>
  <span class="heads" id="heads"></span>
  <span class="hint" id="hint"></span>
</div>
<div id="view"></div>
<div class="layers" id="pictures"></div>
<script id="index" type="application/json">@@INDEX@@</script>
<script>
"use strict";
window.reportErrors = [];
window.addEventListener("error", e => { window.reportErrors.push(String(e.message)); document.body.dataset.errors = window.reportErrors.join(" | "); });
const INDEX = JSON.parse(document.getElementById("index").textContent);
const MAPS = @@MAPS@@;
const $ = id => document.getElementById(id);
let layer = 0, head = -1, selected = -1;

function tokensOf(axis, n) {
  const t = INDEX.tokens[axis] || [];
  return Array.from({length: n}, (_, i) => i < t.length ? (t[i].original || t[i].text.replace(/\u0120/g, "\u2581")) : String(i));
}
function matrix() {
  const m = MAPS[layer];
  if (head >= 0) return m[head];
  const H = m.length, Q = m[0].length, K = m[0][0].length;
  return Array.from({length: Q}, (_, r) => Array.from({length: K}, (_, c) => { let s = 0; for (let h = 0; h < H; h++) s += m[h][r][c]; return s / H; }));
}
function viridis(t) {
  const stops = [[68,1,84],[71,44,122],[59,81,139],[44,113,142],[33,144,141],[39,173,129],[92,200,99],[170,220,50],[253,231,37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  return stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
}

function setup() {
  const kindNames = {"translation": "Translation", "classification": "Text classification", "image-classification": "Image classification"};
  $("title").textContent = "Attention report \u2014 " + (kindNames[INDEX.kind] || INDEX.kind);
  $("input").textContent = INDEX.image ? "Input: " + INDEX.input : "Input: \u201c" + INDEX.input + "\u201d";
  const answer = [];
  if (INDEX.output) answer.push("Translation: " + INDEX.output);
  if (INDEX.prediction) answer.push("Prediction: " + INDEX.prediction);
  $("answer").textContent = answer.join("   ") || "\u2014";
  const sel = $("layer");
  INDEX.layers.forEach((l, i) => {
    const o = document.createElement("option");
    o.value = i; o.textContent = l.path + "  (" + l.queries + " \u00d7 " + l.keys + ")";
    sel.appendChild(o);
  });
  sel.addEventListener("change", () => { layer = +sel.value; head = -1; selected = -1; render(); });
  for (const l of INDEX.layers) {
    if (!l.png) continue;
    const f = document.createElement("figure");
    const c = document.createElement("figcaption"); c.textContent = l.path + ": every head and their mean";
    const img = document.createElement("img"); img.src = l.png; img.alt = "attention of " + l.path;
    f.appendChild(c); f.appendChild(img); $("pictures").appendChild(f);
  }
  if (INDEX.image) {
    const f = document.createElement("figure");
    const c = document.createElement("figcaption"); c.textContent = "attention over the image, layer by layer, and the rollout";
    const img = document.createElement("img"); img.src = INDEX.image.overlays; img.alt = "attention overlays";
    f.appendChild(c); f.appendChild(img); $("pictures").prepend(f);
  }
  render();
}

function renderHeads() {
  const box = $("heads"); box.innerHTML = "";
  const H = MAPS[layer].length;
  const add = (label, h) => {
    const b = document.createElement("button"); b.textContent = label; b.className = h === head ? "on" : "";
    b.addEventListener("click", () => { head = h; render(); }); box.appendChild(b);
  };
  add("mean", -1);
  for (let h = 0; h < H; h++) add("head " + h, h);
}

function renderText() {
  const L = INDEX.layers[layer], m = matrix();
  const qs = tokensOf(L.queries, m.length), ks = tokensOf(L.keys, m[0].length);
  $("hint").textContent = "Hover a token on the left (" + L.queries + ") to see what it attends to on the right (" + L.keys + ").";
  const view = $("view"); view.innerHTML = "";
  const box = document.createElement("div"); box.id = "tokens";
  const left = document.createElement("div"), right = document.createElement("div");
  left.className = "col"; right.className = "col";
  qs.forEach((t, i) => { const d = document.createElement("div"); d.className = "tok q"; d.dataset.i = i; d.textContent = t; left.appendChild(d); });
  ks.forEach((t, i) => { const d = document.createElement("div"); d.className = "tok k"; d.dataset.i = i; d.innerHTML = ""; d.textContent = t; right.appendChild(d); });
  box.appendChild(left); view.appendChild(box);
  const lw = Math.max(...Array.from(left.children).map(e => e.offsetWidth)) + 4;
  const gap = 170;
  right.style.left = (lw + gap) + "px";
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.style.left = lw + "px"; svg.setAttribute("width", gap); 
  const rows = Math.max(qs.length, ks.length);
  svg.setAttribute("height", rows * 22);
  box.appendChild(svg); box.appendChild(right);
  box.style.height = (rows * 22 + 8) + "px";
  box.style.width = (lw + gap + Math.max(...Array.from(right.children).map(e => e.offsetWidth), 60) + 70) + "px";
  const show = i => {
    svg.innerHTML = ""; selected = i;
    Array.from(left.children).forEach((e, j) => e.classList.toggle("sel", j === i));
    const row = m[i], top = Math.max(...row, 1e-9);
    Array.from(right.children).forEach((e, j) => {
      const w = row[j]; e.textContent = ks[j];
      const s = document.createElement("span"); s.className = "w"; s.textContent = w.toFixed(3); e.appendChild(s);
      const [r, g, b] = viridis(w / top); e.style.background = "rgba(" + r + "," + g + "," + b + "," + (0.15 + 0.6 * w / top) + ")";
      if (w / top < 0.02) return;
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("x1", 0); line.setAttribute("y1", i * 22 + 11); line.setAttribute("x2", gap); line.setAttribute("y2", j * 22 + 11);
      line.setAttribute("stroke", "#3b518b"); line.setAttribute("stroke-width", 1 + 5 * w / top); line.setAttribute("stroke-opacity", (0.1 + 0.9 * w / top).toFixed(3));
      svg.appendChild(line);
    });
  };
  Array.from(left.children).forEach((e, i) => e.addEventListener("mouseenter", () => show(i)));
  show(selected >= 0 && selected < qs.length ? selected : 0);
}

function renderImage() {
  const L = INDEX.layers[layer], m = matrix(), side = INDEX.image.patchSide, size = INDEX.image.size, off = INDEX.image.classToken ? 1 : 0;
  $("hint").textContent = "Hover a patch to see its attention over the image" + (off ? "; outside the picture: the class token's." : ".");
  const view = $("view"); view.innerHTML = "";
  const wrap = document.createElement("div"); wrap.id = "imgwrap";
  const img = document.createElement("img"); img.src = INDEX.image.file; img.width = size; img.height = size; img.alt = "input image";
  const canvas = document.createElement("canvas"); canvas.width = size; canvas.height = size;
  wrap.appendChild(img); wrap.appendChild(canvas); view.appendChild(wrap);
  const label = document.createElement("div"); label.className = "hint"; view.appendChild(label);
  const ctx = canvas.getContext("2d"), cell = size / side;
  const draw = q => {
    ctx.clearRect(0, 0, size, size);
    const row = m[q], patches = row.slice(off), top = Math.max(...patches, 1e-9);
    for (let p = 0; p < side * side; p++) {
      const [r, g, b] = viridis(patches[p] / top);
      ctx.fillStyle = "rgba(" + r + "," + g + "," + b + "," + (0.15 + 0.6 * patches[p] / top) + ")";
      ctx.fillRect((p % side) * cell, Math.floor(p / side) * cell, cell, cell);
    }
    if (q >= off) { ctx.strokeStyle = "#ff3b30"; ctx.lineWidth = 2; const p = q - off; ctx.strokeRect((p % side) * cell + 1, Math.floor(p / side) * cell + 1, cell - 2, cell - 2); }
    label.textContent = (q < off ? "class token" : "patch " + (q - off) + " (row " + Math.floor((q - off) / side) + ", column " + ((q - off) % side) + ")") +
      " attends most to patch " + patches.indexOf(top) + " (" + top.toFixed(3) + ")";
  };
  canvas.addEventListener("mousemove", e => {
    const x = Math.floor(e.offsetX / cell), y = Math.floor(e.offsetY / cell);
    if (x >= 0 && y >= 0 && x < side && y < side) draw(off + y * side + x);
  });
  canvas.addEventListener("mouseleave", () => draw(0));
  draw(0);
}

function render() {
  $("layer").value = layer;
  renderHeads();
  if (INDEX.image) renderImage(); else renderText();
  document.body.dataset.ready = "1";
}
setup();
</script>
</body>
</html>
"""#
}
