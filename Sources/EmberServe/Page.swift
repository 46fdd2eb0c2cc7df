import EmberCLI
import Foundation

/// The page at `/`: one panel per model to try it by hand: draw a digit on a canvas (28x28 and 8x8 one-channel
/// image models), upload an image (any image model), or type a CSV row (tabular models), and see the predicted
/// class and every class's probability as a bar chart. Self-contained HTML, CSS and JavaScript (no network but
/// this server's own `/v2/models/{name}/infer`).
///
/// `/?model=NAME&input=v1,v2,...` selects a model, fills in raw values and predicts on load (the test drives it so
/// in headless Chromium); the answer is also left on `#result` as `data-class`, `data-label` and
/// `data-probabilities` attributes.
public enum Page {
    /// The page for `models`.
    public static func html(models: [ServedModel]) -> String {
        let info = JSONValue.array(models.map { m -> JSONValue in
            let shape = m.saved.input.shape.count == 3 ? m.saved.input.shape : (m.rawShape.count == 3 ? m.rawShape : [])
            var image: JSONValue = .null
            if shape.count == 3, [1, 3].contains(shape[0]), shape[1] >= 4, shape[2] >= 4 {
                image = .object([("c", .number(Double(shape[0]))), ("h", .number(Double(shape[1]))), ("w", .number(Double(shape[2])))])
            }
            return .object([
                ("name", .string(m.name)), ("task", .string(m.saved.task == .classification ? "classification" : "regression")),
                ("classes", .array(m.saved.classes.map { .string($0) })), ("rawShape", .array(m.rawShape.map { .number(Double($0)) })),
                ("featureCount", .number(Double(m.featureCount))), ("featureNames", .array(m.saved.input.featureNames.map { .string($0) })),
                ("datatype", .string(m.inputDatatype.rawValue)), ("pixelMax", .number(m.pixelMax)), ("image", image),
                ("dataset", .string(m.saved.provenance.dataset)),
            ])
        }).rendered(pretty: false).replacingOccurrences(of: "</", with: "<\\/")
        return template.replacingOccurrences(of: "__MODELS__", with: info)
    }

    static let template = #"""
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Ember models</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f6f4;color:#222}
header{background:#2d2a26;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
nav{display:flex;gap:6px;padding:12px 24px 0;flex-wrap:wrap}
nav button{border:1px solid #bbb;background:#fff;border-radius:6px 6px 0 0;padding:6px 14px;cursor:pointer}
nav button.active{background:#e8590c;color:#fff;border-color:#e8590c}
main{padding:16px 24px;display:flex;gap:32px;flex-wrap:wrap}
.panel{background:#fff;border-radius:8px;padding:16px;box-shadow:0 1px 3px #0002}
canvas.draw{background:#000;touch-action:none;cursor:crosshair;border-radius:4px;width:280px;height:280px}
.row{margin:10px 0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
input[type=text]{width:420px;font-family:monospace}
button.go{background:#e8590c;color:#fff;border:0;border-radius:5px;padding:7px 16px;cursor:pointer}
#bars .bar{display:flex;align-items:center;gap:8px;margin:3px 0;font-size:13px}
#bars .name{width:110px;text-align:right;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#bars .track{width:260px;height:14px;background:#eee;border-radius:3px;overflow:hidden}
#bars .fill{height:100%;background:#adb5bd}#bars .best .fill{background:#e8590c}
#answer{font-size:22px;margin:6px 0 12px}#error{color:#c92a2a;white-space:pre-wrap}
.muted{color:#777;font-size:13px}
</style></head>
<body>
<header><h1>Ember models</h1></header>
<nav id="tabs"></nav>
<main>
<div class="panel" id="inputPanel">
  <div class="muted" id="about"></div>
  <div id="drawArea" hidden>
    <canvas class="draw" id="draw" width="280" height="280"></canvas>
    <div class="row"><button id="clear">Clear</button><span class="muted">draw with the mouse (white on black)</span></div>
  </div>
  <div id="uploadArea" hidden class="row"><label>Image: <input type="file" id="file" accept="image/*"></label>
    <label><input type="checkbox" id="invert"> invert (dark ink on light paper)</label></div>
  <div class="row"><label>Raw values (CSV row): <br><input type="text" id="csv" placeholder=""></label></div>
  <div class="row"><button class="go" id="predict">Predict</button></div>
</div>
<div class="panel" id="result" data-status="idle">
  <div id="answer">&nbsp;</div><div id="bars"></div><div id="error"></div>
</div>
</main>
<script id="models" type="application/json">__MODELS__</script>
<script>
"use strict";
const models = JSON.parse(document.getElementById("models").textContent);
const $ = id => document.getElementById(id);
let current = null;
const drawCanvas = $("draw"), ctx = drawCanvas.getContext("2d");
function clearCanvas(){ ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280); }
function canDraw(m){ return m.image && m.image.c === 1 && ((m.image.h === 28 && m.image.w === 28) || (m.image.h === 8 && m.image.w === 8)); }
function select(name){
  current = models.find(m => m.name === name) || models[0];
  for (const b of document.querySelectorAll("nav button")) b.classList.toggle("active", b.dataset.model === current.name);
  const m = current;
  $("about").textContent = m.name + ": " + m.task + ", input " + JSON.stringify(m.rawShape) + " (" + m.featureCount + " values" +
    (m.image ? ", pixel values 0.." + m.pixelMax : "") + "), trained on " + m.dataset;
  $("drawArea").hidden = !canDraw(m);
  $("uploadArea").hidden = !m.image;
  $("csv").placeholder = m.featureNames.length ? m.featureNames.join(",") : m.featureCount + " numbers, comma-separated";
  clearCanvas();
  $("csv").value = "";
}
for (const m of models) {
  const b = document.createElement("button"); b.textContent = m.name; b.dataset.model = m.name;
  b.onclick = () => select(m.name); $("tabs").appendChild(b);
}
// drawing
let drawing = false, last = null;
function pos(e){ const r = drawCanvas.getBoundingClientRect(); return [(e.clientX - r.left) * 280 / r.width, (e.clientY - r.top) * 280 / r.height]; }
drawCanvas.addEventListener("pointerdown", e => { drawing = true; last = pos(e); drawCanvas.setPointerCapture(e.pointerId); });
drawCanvas.addEventListener("pointermove", e => {
  if (!drawing) return; const p = pos(e);
  ctx.strokeStyle = "#fff"; ctx.lineWidth = current && current.image && current.image.h === 8 ? 30 : 22; ctx.lineCap = "round";
  ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); last = p;
});
drawCanvas.addEventListener("pointerup", () => { drawing = false; fromCanvas(drawCanvas, false); predict(); });
$("clear").onclick = () => { clearCanvas(); $("csv").value = ""; };
// an image (drawn or uploaded) as the model's raw pixel values, channels first
function fromCanvas(source, invert){
  const m = current, im = m.image, small = document.createElement("canvas");
  small.width = im.w; small.height = im.h;
  const s = small.getContext("2d"); s.imageSmoothingEnabled = true; s.imageSmoothingQuality = "high";
  s.drawImage(source, 0, 0, im.w, im.h);
  const px = s.getImageData(0, 0, im.w, im.h).data, out = [];
  for (let c = 0; c < im.c; c++) for (let i = 0; i < im.w * im.h; i++) {
    let v = im.c === 1 ? (px[4*i] + px[4*i+1] + px[4*i+2]) / 3 : px[4*i + c];
    if (invert) v = 255 - v;
    v = v / 255 * m.pixelMax;
    out.push(m.datatype === "UINT8" || m.pixelMax > 1 ? Math.round(v) : Math.round(v * 1000) / 1000);
  }
  $("csv").value = out.join(",");
}
$("file").onchange = () => {
  const f = $("file").files[0]; if (!f) return;
  const img = new Image(); img.onload = () => { fromCanvas(img, $("invert").checked); predict(); }; img.src = URL.createObjectURL(f);
};
// typed-in or linked pixel values, shown on the canvas
function preview(values){
  const im = current.image, cw = 280 / im.w, ch = 280 / im.h;
  for (let y = 0; y < im.h; y++) for (let x = 0; x < im.w; x++) {
    const g = Math.max(0, Math.min(255, Math.round(values[y * im.w + x] / current.pixelMax * 255)));
    ctx.fillStyle = "rgb(" + g + "," + g + "," + g + ")"; ctx.fillRect(x * cw, y * ch, Math.ceil(cw), Math.ceil(ch));
  }
}
function showError(msg){ $("error").textContent = msg; $("result").dataset.status = "error"; }
async function predict(){
  const m = current; $("error").textContent = "";
  const values = $("csv").value.split(",").map(s => s.trim()).filter(s => s.length).map(Number);
  if (values.length !== m.featureCount || values.some(v => !isFinite(v))) {
    return showError("expected " + m.featureCount + " numbers, got " + values.length);
  }
  if (canDraw(m) && !drawing) preview(values);
  const integral = values.every(v => Number.isInteger(v) && v >= 0 && v <= 255);
  const body = { inputs: [{ name: "input", shape: [1].concat(m.rawShape), datatype: m.datatype === "UINT8" && integral ? "UINT8" : "FP32", data: values }] };
  $("result").dataset.status = "running";
  let r, j;
  try {
    r = await fetch("/v2/models/" + encodeURIComponent(m.name) + "/infer", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    j = await r.json();
  } catch (e) { return showError("request failed: " + e); }
  if (!r.ok) return showError(j.error || ("HTTP " + r.status));
  const out = {}; for (const o of j.outputs) out[o.name] = o.data;
  const res = $("result"), bars = $("bars"); bars.textContent = "";
  if (out.probabilities) {
    const p = out.probabilities, label = out.label[0];
    $("answer").textContent = out["class"][0] + "  (" + (100 * p[label]).toFixed(1) + "%)";
    m.classes.forEach((name, i) => {
      const row = document.createElement("div"); row.className = "bar" + (i === label ? " best" : "");
      row.dataset.class = name; row.dataset.p = p[i];
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill" style="display:block"></span></span><span class="pct"></span>';
      row.querySelector(".name").textContent = name; row.querySelector(".fill").style.width = (100 * p[i]).toFixed(2) + "%";
      row.querySelector(".pct").textContent = (100 * p[i]).toFixed(1) + "%"; bars.appendChild(row);
    });
    res.dataset.class = out["class"][0]; res.dataset.label = label; res.dataset.probabilities = p.join(",");
  } else {
    $("answer").textContent = out.values.map(v => v.toPrecision(5)).join(", ");
    res.dataset.values = out.values.join(",");
  }
  res.dataset.model = m.name; res.dataset.status = "done";
}
$("predict").onclick = predict;
const q = new URLSearchParams(location.search);
select(q.get("model") || (models[0] && models[0].name));
if (q.get("input")) { $("csv").value = q.get("input"); predict(); }
</script>
</body></html>
"""#
}
