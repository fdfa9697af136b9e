import Foundation

/// The self-contained `index.html` of an attention report: the index and every map inline (JSON), the PNGs by
/// relative path, CSS and JavaScript inline; nothing from the network. Three views, as BertViz has them:
/// - head view: for text, every enabled head of a layer at once as colour-coded lines from query tokens to keys
///   (hover a token, click to pin it; hover a key for what attends to it); for images, the picture with the
///   attention of a hovered or pinned patch (or the class token), every head's map for it, and the rollout layer by
///   layer;
/// - model view: a thumbnail per layer and head; a click opens it in the head view;
/// - weights table (the neuron view's spirit): the numbers behind the lines, keys × heads for the pinned query.
/// Weights are drawn on an absolute 0–1 scale (option: per row; images start per row, as dozens of patches share
/// each row's weight); head chips toggle heads (double-click: only that
/// one); the PNG of the selected layer is shown below. Opened as `index.html#selftest`, the page clicks through its
/// own controls and writes what it saw to `body[data-selftest]` (the suite's browser test reads it); a fragment
/// such as `#layer=2&head=1&pin=3&tab=model&scale=row` opens it in that state.
public enum AttentionPage {
    static func html(index: Data, maps: [Tensor]) -> String {
        let mapsJSON: String =
            "["
            + maps.map { m -> String in
                let (h, q, k) = (m.shape[0], m.shape[1], m.shape[2]), v = m.scalars
                return "["
                    + (0..<h).map { hh in
                        "["
                            + (0..<q).map { r in
                                "[" + (0..<k).map { c in compact(v[(hh * q + r) * k + c]) }.joined(separator: ",") + "]"
                            }.joined(separator: ",") + "]"
                    }.joined(separator: ",") + "]"
            }.joined(separator: ",") + "]"
        let safe = { (s: String) in s.replacingOccurrences(of: "</", with: "<\\/") }
        return
            template
            .replacingOccurrences(of: "@@INDEX@@", with: safe(String(decoding: index, as: UTF8.self)))
            .replacingOccurrences(of: "@@MAPS@@", with: mapsJSON)
            .replacingOccurrences(of: "@@LIVE@@", with: "")
            .replacingOccurrences(of: "@@LIVESCRIPT@@", with: "")
    }

    /// The live explorer `attn serve` shows at `/`: the same page, its views and controls, with a form on top that
    /// posts a sentence (or a dropped picture) to `/v1/attention` and draws the answer's maps with the report's code.
    public static var liveHTML: String {
        template
            .replacingOccurrences(of: "@@INDEX@@", with: "null")
            .replacingOccurrences(of: "@@MAPS@@", with: "[]")
            .replacingOccurrences(of: "@@LIVE@@", with: liveForm)
            .replacingOccurrences(of: "@@LIVESCRIPT@@", with: liveScript)
            .replacingOccurrences(of: "<title>Attention report</title>", with: "<title>Attention explorer</title>")
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
        h2 { font-size: 16px; margin: 22px 0 8px; }
        .sub { color: #555; margin: 2px 0; }
        .answer { font-size: 17px; margin: 8px 0 12px; padding: 8px 12px; background: #f2f5fa; border-left: 4px solid #3b518b; }
        .tabs { display: flex; gap: 4px; border-bottom: 2px solid #3b518b; margin: 8px 0 10px; }
        .tabs button { padding: 6px 14px; border: 1px solid #c5cbe0; border-bottom: none; background: #f4f6fb; border-radius: 6px 6px 0 0; cursor: pointer; font-size: 14px; }
        .tabs button.on { background: #3b518b; color: #fff; border-color: #3b518b; }
        .controls { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
        .controls > span > label:first-child { font-weight: bold; margin-right: 4px; }
        .chip { margin: 2px; padding: 3px 9px 3px 6px; border: 1px solid #99a; background: #fff; border-radius: 12px; cursor: pointer; font-size: 13px; }
        .chip .sw { display: inline-block; width: 11px; height: 11px; border-radius: 3px; margin-right: 5px; vertical-align: -1px; }
        .chip.off { opacity: 0.35; text-decoration: line-through; }
        .hint { color: #666; font-size: 13px; margin: 4px 0 10px; }
        #tokens { position: relative; }
        .col { position: absolute; top: 0; }
        .tok { height: 22px; line-height: 22px; padding: 0 6px; white-space: nowrap; border-radius: 3px; cursor: pointer; font-size: 14px; }
        .tok.q:hover, .tok.q.sel { background: #ffe9a8; }
        .tok.q.pinned { background: #ffd24a; outline: 2px solid #c79500; }
        .tok.k:hover { outline: 1px solid #3b518b; }
        .tok.unk { font-style: italic; text-decoration: underline dashed #b0413e; }
        .tok .w { color: #3b518b; font-size: 11px; margin-left: 6px; }
        #tokens svg { position: absolute; top: 0; pointer-events: none; }
        .grid { border-collapse: collapse; }
        .grid td, .grid th { padding: 2px 4px; font-size: 12px; text-align: center; }
        .grid th { font-weight: normal; color: #555; }
        .grid th.layer { text-align: right; white-space: nowrap; padding-right: 8px; }
        .grid canvas { border: 2px solid transparent; cursor: pointer; display: block; }
        .grid canvas.current { border-color: #d62728; }
        .weights td.v { min-width: 52px; font-variant-numeric: tabular-nums; }
        .imgbox { position: relative; display: inline-block; }
        .imgbox canvas { position: absolute; left: 0; top: 0; }
        .imgbox img { display: block; image-rendering: auto; }
        .imagerow { display: flex; gap: 28px; flex-wrap: wrap; align-items: flex-start; }
        .thumbs { display: flex; gap: 10px; flex-wrap: wrap; }
        .thumbs figure { margin: 0; text-align: center; font-size: 12px; color: #444; }
        .thumbs figure.off { opacity: 0.35; }
        .layers figure { margin: 0 0 16px; }
        .layers img { max-width: 100%; border: 1px solid #ddd; }
        figcaption { color: #555; font-size: 13px; margin-bottom: 4px; }
        button.plain { padding: 3px 9px; border: 1px solid #99a; background: #fff; border-radius: 4px; cursor: pointer; }
        </style>
        </head>
        <body>
        @@LIVE@@
        <h1 id="title">Attention report</h1>
        <p class="sub" id="input"></p>
        <div class="answer" id="answer"></div>
        <nav class="tabs" id="tabs">
          <button data-tab="head" class="on">Head view</button>
          <button data-tab="model">Model view</button>
          <button data-tab="table">Weights table</button>
        </nav>
        <div class="controls">
          <span><label for="layer">Layer</label><select id="layer"></select></span>
          <span id="heads"><label>Heads</label></span>
          <span><label>Scale</label>
            <label><input type="radio" name="scale" value="absolute" checked> 0–1</label>
            <label><input type="radio" name="scale" value="row"> per row (each query's largest = full colour)</label></span>
        </div>
        <p class="hint" id="hint"></p>
        <section id="view-head"></section>
        <section id="view-model" hidden></section>
        <section id="view-table" hidden></section>
        <h2>Pictures</h2>
        <div class="layers" id="pictures"></div>
        <script id="index" type="application/json">@@INDEX@@</script>
        <script>
        "use strict";
        window.reportErrors = [];
        window.addEventListener("error", e => { window.reportErrors.push(String(e.message)); document.body.dataset.errors = window.reportErrors.join(" | "); });
        let INDEX = JSON.parse(document.getElementById("index").textContent);
        let MAPS = @@MAPS@@;
        const $ = id => document.getElementById(id);
        const HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a"];
        const S = { layer: 0, heads: new Set(), pinned: null, hovered: null, hoverKey: null, scale: "absolute", tab: "head" };

        function headColour(h) { return HEAD_COLOURS[h % HEAD_COLOURS.length]; }
        function viridis(t) {
          const stops = [[68,1,84],[71,44,122],[59,81,139],[44,113,142],[33,144,141],[39,173,129],[92,200,99],[170,220,50],[253,231,37]];
          const x = Math.max(0, Math.min(1, t || 0)) * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
          return stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
        }
        function rgb(c, a) { return "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + (a === undefined ? 1 : a) + ")"; }
        // Tokens of an axis as drawn: the input text they cover, or the token; an unknown word shows the token the model
        // saw ([UNK]) with the word in its tooltip.
        function tokensOf(axis, n) {
          const t = INDEX.tokens[axis] || [];
          return Array.from({length: n}, (_, i) => {
            if (i >= t.length) return {label: String(i), title: ""};
            const x = t[i];
            if (x.unknown) return {label: x.text, title: "unknown to the vocabulary: \u201c" + (x.original || "?") + "\u201d", unk: true};
            const label = x.original || x.text.replace(/\u0120/g, "\u2581");
            return {label: label, title: x.original && x.original !== x.text ? "token: " + x.text : ""};
          });
        }
        function heads() { return Array.from(S.heads).sort((a, b) => a - b); }
        // The weight drawn for w in row `row`: absolute, or relative to the row's largest.
        function scaled(w, row) { return S.scale === "row" ? w / Math.max(...row, 1e-9) : w; }
        function meanOf(l, hs, q) {
          const m = MAPS[l], K = m[0][0].length, out = new Array(K).fill(0);
          if (!hs.length) return out;
          for (const h of hs) for (let k = 0; k < K; k++) out[k] += m[h][q][k] / hs.length;
          return out;
        }

        function setup() {
          const kindNames = {"translation": "Translation", "classification": "Text classification", "image-classification": "Image classification", "language-model": "Language model"};
          $("title").textContent = "Attention report \u2014 " + (kindNames[INDEX.kind] || INDEX.kind);
          $("input").textContent = INDEX.image ? "Input: " + INDEX.input : "Input: \u201c" + INDEX.input + "\u201d";
          const answer = [];
          if (INDEX.output) answer.push("Translation: " + INDEX.output);
          if (INDEX.prediction) answer.push("Prediction: " + INDEX.prediction);
          $("answer").textContent = answer.join("   ") || "\u2014";
          const sel = $("layer");
          sel.innerHTML = "";
          INDEX.layers.forEach((l, i) => {
            const o = document.createElement("option");
            o.value = i; o.textContent = l.path + "  (" + l.queries + " \u00d7 " + l.keys + ")";
            sel.appendChild(o);
          });
          if (!S.wired) {  // the live explorer calls setup() again for every answer
            S.wired = true;
            sel.addEventListener("change", () => selectLayer(+sel.value, null));
            document.querySelectorAll("input[name=scale]").forEach(r => r.addEventListener("change", () => { S.scale = r.value; render(); }));
            document.querySelectorAll("#tabs button").forEach(b => b.addEventListener("click", () => { S.tab = b.dataset.tab; render(); }));
          }
          if (INDEX.image) {
            const off = INDEX.image.class_token ? 1 : 0;
            S.rollout = rollouts();
            S.pinned = off ? 0 : null;
            // dozens of patches share each row's weight: on 0–1 the maps would all be near 0, so images start per row
            S.scale = "row"; document.querySelector("input[name=scale][value=row]").checked = true;
          }
          selectLayer(0, null);
        }

        function selectLayer(l, onlyHead) {
          S.layer = l;
          const H = MAPS[l].length;
          S.heads = new Set(onlyHead === null ? Array.from({length: H}, (_, h) => h) : [onlyHead]);
          if (!INDEX.image) { S.pinned = null; S.hovered = null; S.hoverKey = null; }
          render();
        }

        function renderHeadChips() {
          const box = $("heads");
          box.querySelectorAll("button").forEach(b => b.remove());
          const H = MAPS[S.layer].length;
          for (let h = 0; h < H; h++) {
            const b = document.createElement("button");
            b.className = "chip" + (S.heads.has(h) ? "" : " off"); b.dataset.head = h;
            b.title = "click: show or hide head " + h + "; double-click: only this head";
            const sw = document.createElement("span"); sw.className = "sw"; sw.style.background = headColour(h);
            b.appendChild(sw); b.appendChild(document.createTextNode("head " + h));
            b.addEventListener("click", () => { if (S.heads.has(h)) S.heads.delete(h); else S.heads.add(h); render(); });
            b.addEventListener("dblclick", () => { S.heads = new Set([h]); render(); });
            box.appendChild(b);
          }
          const all = document.createElement("button"); all.className = "plain"; all.textContent = "all"; all.id = "all-heads";
          all.addEventListener("click", () => { S.heads = new Set(Array.from({length: H}, (_, h) => h)); render(); });
          box.appendChild(all);
        }

        // MARK: head view, text
        function renderTextHead() {
          const L = INDEX.layers[S.layer], m = MAPS[S.layer];
          const Q = m[0].length, K = m[0][0].length;
          const qs = tokensOf(L.queries, Q), ks = tokensOf(L.keys, K);
          $("hint").textContent = "Lines: attention from each token on the left (" + L.queries + ", the query) to the tokens on the right (" + L.keys +
            "), one colour per head, stronger = more weight. Hover a token to see its lines, click to pin it (click again to unpin); hover a token on the right to see what attends to it.";
          const view = $("view-head"); view.innerHTML = "";
          const box = document.createElement("div"); box.id = "tokens";
          const left = document.createElement("div"), right = document.createElement("div");
          left.className = "col"; right.className = "col";
          const make = (t, i, cls) => {
            const d = document.createElement("div"); d.className = "tok " + cls + (t.unk ? " unk" : ""); d.dataset.i = i;
            d.textContent = t.label; if (t.title) d.title = t.title; return d;
          };
          qs.forEach((t, i) => left.appendChild(make(t, i, "q")));
          ks.forEach((t, i) => right.appendChild(make(t, i, "k")));
          box.appendChild(left); view.appendChild(box);
          const lw = Math.max(...Array.from(left.children).map(e => e.offsetWidth)) + 4, gap = 200;
          right.style.left = (lw + gap) + "px";
          const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
          svg.id = "lines"; svg.style.left = lw + "px"; svg.setAttribute("width", gap);
          const rows = Math.max(Q, K);
          svg.setAttribute("height", rows * 22);
          box.appendChild(svg); box.appendChild(right);
          box.style.height = (rows * 22 + 8) + "px";
          box.style.width = (lw + gap + Math.max(...Array.from(right.children).map(e => e.offsetWidth), 60) + 80) + "px";
          const draw = () => {
            svg.innerHTML = "";
            const hs = heads();
            const active = S.pinned !== null && S.pinned < Q ? [S.pinned] : S.hovered !== null ? [S.hovered] : null;
            Array.from(left.children).forEach((e, j) => { e.classList.toggle("pinned", j === S.pinned); e.classList.toggle("sel", active !== null && active.includes(j)); });
            let count = 0;
            const line = (q, k, h, v, faint) => {
              if (v < 0.01) return;
              const el = document.createElementNS("http://www.w3.org/2000/svg", "line");
              el.setAttribute("x1", 0); el.setAttribute("y1", q * 22 + 11); el.setAttribute("x2", gap); el.setAttribute("y2", k * 22 + 11);
              el.setAttribute("stroke", headColour(h)); el.setAttribute("stroke-width", (1 + 3 * v).toFixed(2));
              el.setAttribute("stroke-opacity", (faint ? 0.55 * v : Math.min(1, 0.08 + 0.92 * v)).toFixed(3));
              el.dataset.head = h; svg.appendChild(el); count++;
            };
            if (active === null && S.hoverKey !== null) {
              for (const h of hs) for (let q = 0; q < Q; q++) line(q, S.hoverKey, h, scaled(m[h][q][S.hoverKey], m[h][q]), false);
            } else {
              for (const h of hs) for (const q of (active || Array.from({length: Q}, (_, i) => i))) for (let k = 0; k < K; k++) line(q, k, h, scaled(m[h][q][k], m[h][q]), active === null);
            }
            const mean = active ? meanOf(S.layer, hs, active[0]) : null;
            Array.from(right.children).forEach((e, j) => {
              e.textContent = ks[j].label;
              e.style.background = "";
              if (mean && hs.length) {
                const w = mean[j], v = scaled(w, mean);
                const s = document.createElement("span"); s.className = "w"; s.textContent = w.toFixed(3); e.appendChild(s);
                e.style.background = rgb(viridis(v), 0.12 + 0.6 * v);
                e.title = (ks[j].title ? ks[j].title + "\n" : "") + hs.map(h => "head " + h + ": " + m[h][active[0]][j].toFixed(3)).join("\n");
              }
            });
            svg.dataset.lines = count;
          };
          Array.from(left.children).forEach((e, i) => {
            e.addEventListener("mouseenter", () => { S.hovered = i; S.hoverKey = null; draw(); });
            e.addEventListener("mouseleave", () => { S.hovered = null; draw(); });
            e.addEventListener("click", () => { S.pinned = S.pinned === i ? null : i; draw(); });
          });
          Array.from(right.children).forEach((e, k) => {
            e.addEventListener("mouseenter", () => { S.hoverKey = k; draw(); });
            e.addEventListener("mouseleave", () => { S.hoverKey = null; draw(); });
          });
          S.redraw = draw;
          draw();
        }

        // MARK: head view, image
        // The attention rollout (Abnar & Zuidema): per layer, the mean of the heads with the residual (0.5 A + 0.5 I, rows
        // renormalised), multiplied through the layers; rollout[l] is the product up to layer l.
        function rollouts() {
          const out = []; let R = null;
          MAPS.forEach(m => {
            const H = m.length, T = m[0].length;
            const A = Array.from({length: T}, (_, i) => {
              const row = new Array(T).fill(0);
              for (let h = 0; h < H; h++) for (let j = 0; j < T; j++) row[j] += m[h][i][j] / H;
              for (let j = 0; j < T; j++) row[j] = 0.5 * row[j] + (i === j ? 0.5 : 0);
              const s = row.reduce((a, b) => a + b, 0); return row.map(v => v / s);
            });
            if (R === null) R = A;
            else R = A.map(row => { const o = new Array(T).fill(0); for (let k = 0; k < T; k++) { const a = row[k]; if (a) for (let j = 0; j < T; j++) o[j] += a * R[k][j]; } return o; });
            out.push(R);
          });
          return out;
        }

        // Paints the patch weights `row` (one per token; the class token first when present) over a canvas of `size` px.
        function paintPatches(canvas, row, size, rowScale) {
          const side = INDEX.image.patch_side, off = INDEX.image.class_token ? 1 : 0, cell = size / side;
          const ctx = canvas.getContext("2d"); ctx.clearRect(0, 0, size, size);
          const patches = row.slice(off), top = rowScale ? Math.max(...patches, 1e-9) : 1;
          for (let p = 0; p < side * side; p++) {
            const v = Math.min(1, patches[p] / top);
            ctx.fillStyle = rgb(viridis(v), 0.12 + 0.65 * v);
            ctx.fillRect((p % side) * cell, Math.floor(p / side) * cell, cell, cell);
          }
        }
        function imageBox(size, id) {
          const wrap = document.createElement("div"); wrap.className = "imgbox";
          const img = document.createElement("img"); img.src = INDEX.image.file; img.width = size; img.height = size; img.alt = "input image";
          const canvas = document.createElement("canvas"); canvas.width = size; canvas.height = size; if (id) canvas.id = id;
          wrap.appendChild(img); wrap.appendChild(canvas);
          return [wrap, canvas];
        }
        function queryName(q) {
          const side = INDEX.image.patch_side, off = INDEX.image.class_token ? 1 : 0;
          return q < off ? "the class token" : "patch " + (q - off) + " (row " + Math.floor((q - off) / side) + ", column " + ((q - off) % side) + ")";
        }
        function renderImageHead() {
          const m = MAPS[S.layer], side = INDEX.image.patch_side, size = INDEX.image.size, off = INDEX.image.class_token ? 1 : 0, cell = size / side;
          $("hint").textContent = "Hover a patch to see where it looks, click to pin it" + (off ? " (the button selects the class token)" : "") +
            ". Colours: the mean of the enabled heads; below, every head's map for the same query, and the rollout through the layers.";
          const view = $("view-head"); view.innerHTML = "";
          const row1 = document.createElement("div"); row1.className = "imagerow"; view.appendChild(row1);
          const [wrap, canvas] = imageBox(size, "main-map");
          const side1 = document.createElement("div");
          const label = document.createElement("p"); label.className = "hint"; label.id = "image-label";
          side1.appendChild(label);
          if (off) { const b = document.createElement("button"); b.className = "plain"; b.textContent = "class token"; b.id = "cls"; b.addEventListener("click", () => { S.pinned = 0; drawAll(); }); side1.appendChild(b); }
          row1.appendChild(wrap); row1.appendChild(side1);
          const h2 = document.createElement("h2"); h2.textContent = "Every head of this layer for the same query"; view.appendChild(h2);
          const thumbs = document.createElement("div"); thumbs.className = "thumbs"; thumbs.id = "head-maps"; view.appendChild(thumbs);
          const h3 = document.createElement("h2"); h3.textContent = "Rollout through the layers (each scaled to its largest weight)"; view.appendChild(h3);
          const rolls = document.createElement("div"); rolls.className = "thumbs"; rolls.id = "rollout"; view.appendChild(rolls);
          const headCanvases = m.map((_, h) => {
            const f = document.createElement("figure"); const [w, c] = imageBox(112); f.appendChild(w);
            const cap = document.createElement("figcaption"); cap.innerHTML = "<span class='sw'></span>head " + h; cap.style.color = headColour(h); f.appendChild(cap);
            f.addEventListener("click", () => { S.heads = new Set([h]); render(); });
            f.title = "click: only this head"; thumbs.appendChild(f); return [f, c];
          });
          const rollCanvases = S.rollout.map((_, l) => {
            const f = document.createElement("figure"); const [w, c] = imageBox(112); f.appendChild(w);
            const cap = document.createElement("figcaption"); cap.textContent = "up to layer " + l; f.appendChild(cap);
            rolls.appendChild(f); return c;
          });
          const current = () => S.hovered !== null ? S.hovered : S.pinned !== null ? S.pinned : off;
          const drawAll = () => {
            const q = current(), hs = heads(), mean = meanOf(S.layer, hs, q);
            paintPatches(canvas, mean, size, S.scale === "row");
            const ctx = canvas.getContext("2d");
            if (S.pinned !== null && S.pinned >= off) { const p = S.pinned - off; ctx.strokeStyle = "#ff3b30"; ctx.lineWidth = 2; ctx.strokeRect((p % side) * cell + 1, Math.floor(p / side) * cell + 1, cell - 2, cell - 2); }
            const patches = mean.slice(off), best = patches.indexOf(Math.max(...patches));
            label.textContent = hs.length ? queryName(q) + (S.pinned === q && S.hovered === null ? " (pinned)" : "") + " attends most to patch " + best + " (" + patches[best].toFixed(3) + ")" : "no head enabled";
            headCanvases.forEach(([f, c], h) => { paintPatches(c, m[h][q], 112, S.scale === "row"); f.classList.toggle("off", !S.heads.has(h)); });
            rollCanvases.forEach((c, l) => paintPatches(c, S.rollout[l][q], 112, true));
            canvas.dataset.query = q;
          };
          const patchAt = e => {
            const r = canvas.getBoundingClientRect(), x = Math.floor((e.clientX - r.left) / cell), y = Math.floor((e.clientY - r.top) / cell);
            return x >= 0 && y >= 0 && x < side && y < side ? off + y * side + x : null;
          };
          canvas.addEventListener("mousemove", e => { const q = patchAt(e); if (q !== null && q !== S.hovered) { S.hovered = q; drawAll(); } });
          canvas.addEventListener("mouseleave", () => { S.hovered = null; drawAll(); });
          canvas.addEventListener("click", e => { const q = patchAt(e); if (q !== null) { S.pinned = S.pinned === q ? (off ? 0 : null) : q; S.hovered = null; drawAll(); } });
          S.redraw = drawAll;
          drawAll();
        }

        // MARK: model view
        function renderModel() {
          $("hint").textContent = "Every layer (rows) and head (columns), rows: queries, columns: keys. Click a map to open it in the head view.";
          const view = $("view-model"); view.innerHTML = "";
          const table = document.createElement("table"); table.className = "grid"; table.id = "model-grid";
          const H = Math.max(...MAPS.map(m => m.length));
          const head = document.createElement("tr"); head.appendChild(document.createElement("th"));
          for (let h = 0; h < H; h++) { const th = document.createElement("th"); th.textContent = "head " + h; th.style.color = headColour(h); head.appendChild(th); }
          table.appendChild(head);
          MAPS.forEach((m, l) => {
            const tr = document.createElement("tr");
            const th = document.createElement("th"); th.className = "layer"; th.textContent = INDEX.layers[l].path; tr.appendChild(th);
            m.forEach((map, h) => {
              const td = document.createElement("td"); const c = document.createElement("canvas");
              const Q = map.length, K = map[0].length, px = Math.max(1, Math.floor(84 / Math.max(Q, K)));
              c.width = K * px; c.height = Q * px; c.dataset.layer = l; c.dataset.head = h;
              c.title = INDEX.layers[l].path + ", head " + h;
              if (l === S.layer && S.heads.size === 1 && S.heads.has(h)) c.className = "current";
              const ctx = c.getContext("2d");
              for (let q = 0; q < Q; q++) for (let k = 0; k < K; k++) { ctx.fillStyle = rgb(viridis(scaled(map[q][k], map[q]))); ctx.fillRect(k * px, q * px, px, px); }
              c.addEventListener("click", () => { S.tab = "head"; $("layer").value = l; selectLayer(l, h); });
              td.appendChild(c); tr.appendChild(td);
            });
            table.appendChild(tr);
          });
          view.appendChild(table);
        }

        // MARK: weights table
        function renderTable() {
          const L = INDEX.layers[S.layer], m = MAPS[S.layer], Q = m[0].length, K = m[0][0].length;
          const qs = INDEX.image ? Array.from({length: Q}, (_, q) => ({label: queryName(q)})) : tokensOf(L.queries, Q);
          const ks = INDEX.image ? Array.from({length: K}, (_, k) => ({label: k < (INDEX.image.class_token ? 1 : 0) ? "[CLS]" : "p" + (k - (INDEX.image.class_token ? 1 : 0))})) : tokensOf(L.keys, K);
          const q = S.pinned !== null && S.pinned < Q ? S.pinned : 0, hs = heads();
          $("hint").textContent = "The weights behind the lines: how much the query attends to each key, per enabled head and their mean (each column sums to 1).";
          const view = $("view-table"); view.innerHTML = "";
          const pick = document.createElement("p");
          const sel = document.createElement("select"); sel.id = "table-query";
          qs.forEach((t, i) => { const o = document.createElement("option"); o.value = i; o.textContent = i + ": " + t.label; sel.appendChild(o); });
          sel.value = q; sel.addEventListener("change", () => { S.pinned = +sel.value; render(); });
          pick.appendChild(document.createTextNode("Query: ")); pick.appendChild(sel); view.appendChild(pick);
          const table = document.createElement("table"); table.className = "grid weights";
          const hr = document.createElement("tr"); hr.appendChild(Object.assign(document.createElement("th"), {textContent: "key"}));
          for (const h of hs) { const th = document.createElement("th"); th.textContent = "head " + h; th.style.color = headColour(h); hr.appendChild(th); }
          hr.appendChild(Object.assign(document.createElement("th"), {textContent: "mean"})); table.appendChild(hr);
          const mean = meanOf(S.layer, hs, q);
          for (let k = 0; k < K; k++) {
            const tr = document.createElement("tr");
            const th = document.createElement("th"); th.className = "layer"; th.textContent = ks[k].label; if (ks[k].title) th.title = ks[k].title; tr.appendChild(th);
            for (const v of hs.map(h => [m[h][q][k], m[h][q]]).concat([[mean[k], mean]])) {
              const td = document.createElement("td"); td.className = "v"; td.textContent = v[0].toFixed(3);
              const t = scaled(v[0], v[1]); td.style.background = rgb(viridis(t), 0.85); td.style.color = t > 0.6 ? "#000" : "#fff";
              tr.appendChild(td);
            }
            table.appendChild(tr);
          }
          view.appendChild(table);
        }

        // MARK: pictures: the selected layer's PNG (and the image overlays)
        function renderPictures() {
          const box = $("pictures"); box.innerHTML = "";
          if (INDEX.image && INDEX.image.overlays) {
            const f = document.createElement("figure");
            const c = document.createElement("figcaption"); c.textContent = "The picture, " + (INDEX.image.overlay_titles || []).join(", ") + ": the class token's attention (or the attention each patch receives), each scaled to its largest weight";
            const img = document.createElement("img"); img.src = INDEX.image.overlays; img.alt = "attention overlays";
            f.appendChild(c); f.appendChild(img); box.appendChild(f);
          }
          const l = INDEX.layers[S.layer];
          if (l.png) {
            const f = document.createElement("figure"); f.id = "layer-picture";
            const c = document.createElement("figcaption");
            c.textContent = l.path + ": every head and their mean (" + (INDEX.colour_scale === "layer" ? "colours scaled to this layer's largest weight" : "colours on one 0\u20131 scale for every layer") + ")";
            const img = document.createElement("img"); img.src = l.png; img.alt = "attention of " + l.path;
            f.appendChild(c); f.appendChild(img); box.appendChild(f);
          }
        }

        function render() {
          $("layer").value = S.layer;
          document.querySelectorAll("#tabs button").forEach(b => b.classList.toggle("on", b.dataset.tab === S.tab));
          for (const t of ["head", "model", "table"]) $("view-" + t).hidden = t !== S.tab;
          renderHeadChips();
          if (S.tab === "head") { if (INDEX.image) renderImageHead(); else renderTextHead(); }
          else if (S.tab === "model") renderModel();
          else renderTable();
          renderPictures();
          document.body.dataset.ready = "1";
        }

        // `index.html#selftest`: click through the page as a person would and record what changed.
        function selftest() {
          const out = {};
          const click = el => el.dispatchEvent(new MouseEvent("click", {bubbles: true}));
          const lines = () => +($("lines") ? $("lines").dataset.lines : -1);
          if (!INDEX.image) {
            out.linesAll = lines();
            const q = document.querySelectorAll("#tokens .tok.q")[1];
            click(q); out.pinned = S.pinned; out.pinnedClass = q.classList.contains("pinned"); out.linesPinned = lines();
            document.querySelectorAll("#tokens .tok.q")[0].dispatchEvent(new MouseEvent("mouseenter")); out.pinnedAfterHover = S.pinned;
            click(document.querySelector("#heads .chip[data-head='0']")); out.linesHead0Off = lines();
            out.head0Off = document.querySelector("#heads .chip[data-head='0']").classList.contains("off");
            out.unknown = Array.from(document.querySelectorAll("#tokens .tok.unk")).map(e => [e.textContent.replace(/\d\.\d+$/, ""), e.title]);
          } else {
            const c = $("main-map"), r = c.getBoundingClientRect(), side = INDEX.image.patch_side, cell = INDEX.image.size / side;
            const before = c.toDataURL();
            c.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: r.left + 2.5 * cell, clientY: r.top + 1.5 * cell}));
            out.pinned = S.pinned; out.expected = (INDEX.image.class_token ? 1 : 0) + side + 2;
            out.changedByClick = $("main-map").toDataURL() !== before;
            out.headMaps = document.querySelectorAll("#head-maps canvas").length;
            out.rollout = document.querySelectorAll("#rollout canvas").length;
            const pinnedView = $("main-map").toDataURL();
            click(document.querySelector("#heads .chip[data-head='0']"));
            out.changedByHeadToggle = $("main-map").toDataURL() !== pinnedView;
            out.head0Off = document.querySelector("#heads .chip[data-head='0']").classList.contains("off");
          }
          click(document.querySelector("#tabs button[data-tab='model']"));
          out.thumbnails = document.querySelectorAll("#model-grid canvas").length;
          const last = MAPS.length - 1;
          click(document.querySelector("#model-grid canvas[data-layer='" + last + "'][data-head='1']"));
          out.layerAfterThumb = +$("layer").value; out.headsAfterThumb = heads(); out.tabAfterThumb = S.tab;
          const pic = document.querySelector("#layer-picture img");
          out.picture = pic ? pic.getAttribute("src") : null;
          out.expectedPicture = INDEX.layers[last].png;
          click(document.querySelector("#tabs button[data-tab='table']"));
          out.tableRows = document.querySelectorAll("#view-table tr").length;
          document.body.dataset.selftest = JSON.stringify(out);
        }

        if (INDEX) setup();
        // `index.html#layer=2&head=1&pin=3&tab=model&scale=row` opens the page in that state (for links and screenshots).
        if (!INDEX) { /* the live explorer: nothing to draw until an answer comes */ }
        else if (location.hash === "#selftest") selftest();
        else if (location.hash.length > 1) {
          const p = new URLSearchParams(location.hash.slice(1)), num = k => p.has(k) && isFinite(+p.get(k)) ? +p.get(k) : null;
          const l = num("layer"), h = num("head");
          if (l !== null && l >= 0 && l < MAPS.length) selectLayer(l, h !== null && h >= 0 && h < MAPS[l].length ? h : null);
          if (["row", "absolute"].includes(p.get("scale"))) { S.scale = p.get("scale"); document.querySelector("input[name=scale][value=" + S.scale + "]").checked = true; }
          if (["head", "model", "table"].includes(p.get("tab"))) S.tab = p.get("tab");
          if (num("pin") !== null && num("pin") >= 0 && num("pin") < MAPS[S.layer][0].length) S.pinned = num("pin");
          render();
        }
        </script>
        @@LIVESCRIPT@@
        </body>
        </html>
        """#

    static let liveForm = #"""
        <form id="ask" class="answer" style="display: flex; gap: 8px; flex-wrap: wrap; align-items: center">
          <label for="model"><b>Model</b></label><select id="model"></select>
          <input id="text" type="text" size="60" placeholder="Type a sentence (or drop a PNG/JPEG here for an image model)">
          <input id="file" type="file" accept="image/png,image/jpeg">
          <button type="submit">Show attention</button>
          <span id="status" class="sub"></span>
        </form>
        """#

    static let liveScript = #"""
        <script>
        "use strict";
        // The live explorer: ask /v1/attention, then draw the answer with the report's own setup()/render().
        (function () {
          const status = t => { $("status").textContent = t; };
          let models = [];
          async function ask(body, isImage, pictureURL) {
            status("…");
            const model = $("model").value;
            const r = await fetch("/v1/attention" + (isImage ? "?model=" + encodeURIComponent(model) : ""), {
              method: "POST", headers: {"Content-Type": isImage ? "application/octet-stream" : "application/json"},
              body: isImage ? body : JSON.stringify({text: body, model: model, beam: 5})
            });
            const answer = await r.json();
            if (!r.ok) { status((answer.error && answer.error.message) || ("HTTP " + r.status)); return; }
            INDEX = answer.index; MAPS = answer.maps;
            INDEX.layers.forEach(l => { l.png = null; });
            if (INDEX.image) { INDEX.image.file = pictureURL; INDEX.image.overlays = null; }
            S.pinned = null; S.hovered = null; S.hoverKey = null;
            setup();
            status(answer.answer || "");
            document.body.dataset.live = "1";
          }
          $("ask").addEventListener("submit", e => {
            e.preventDefault();
            const f = $("file").files[0];
            if (f) ask(f, true, URL.createObjectURL(f));
            else if ($("text").value.trim()) ask($("text").value, false, null);
          });
          document.addEventListener("dragover", e => e.preventDefault());
          document.addEventListener("drop", e => {
            e.preventDefault();
            const f = e.dataTransfer.files[0];
            if (f) ask(f, true, URL.createObjectURL(f));
          });
          fetch("/v1/models").then(r => r.json()).then(list => {
            models = list.models;
            for (const m of models) {
              const o = document.createElement("option"); o.value = m.name; o.textContent = m.name + " (" + m.task + ")";
              $("model").appendChild(o);
            }
            // `/#model=NAME&text=…` asks at once (links, the suite's browser test)
            const p = new URLSearchParams(location.hash.slice(1));
            if (p.get("model")) $("model").value = p.get("model");
            if (p.get("text")) { $("text").value = p.get("text"); ask(p.get("text"), false, null); }
          });
        })();
        </script>
        """#
}
