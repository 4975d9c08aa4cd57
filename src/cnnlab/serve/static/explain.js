"use strict";
// A thin client: every number comes from the server's JSON (GET /model, /images, /images/ID/trace|unit|gradcam).
const $ = (id) => document.getElementById(id);
const state = { info: null, image: null, maps: null, unit: null };
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function colour(v) {
  const x = (v / 255) * (VIRIDIS.length - 1), i = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
}
const LUT = Array.from({ length: 256 }, (_, v) => colour(v));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function number(value, digits = 4) {
  if (value === null || value === undefined) return "–";
  if (!isFinite(value)) return value > 0 ? "∞" : "−∞";
  const text = Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(digits - 1) : value.toFixed(digits);
  return text.replace(/\.?0+(e|$)/, "$1") || "0";
}

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(err) { $("error").textContent = err ? String(err.message || err) : ""; }

function shapeText(shape) { return shape ? shape.join("×") : "–"; }

async function start() {
  const [info, images] = await Promise.all([getJSON("/model"), getJSON("/images")]);
  state.info = info;
  $("model").textContent = `${info.name} · ${info.classes.length} classes · input ${info.input.channels}×${info.input.height}×${info.input.width}`;
  $("note").textContent = info.random
    ? "Random weights (a zoo model by name): the maps and numbers are real, the predictions mean nothing yet."
    : `Trained weights from ${info.path}` + (info.epoch != null ? `, epoch ${info.epoch}` : "") + ".";
  for (const [i, name] of info.classes.entries()) $("camclass").append(element("option", { value: i, text: name }));
  for (const image of images) {
    const thumb = element("img", { src: image.thumbnail, alt: image.name, title: `${image.name} (${image.class})`, "data-id": image.id });
    thumb.addEventListener("click", () => choose(image.id, thumb).catch(showError));
    $("images").append(thumb);
  }
  drawShapes(info);
  drawFilters();
  buildLayers(info);
}

function drawShapes(info) {
  const rows = info.layers.filter((layer) => layer.output_shape && !layer.shortcut);
  const shapes = $("shapes");
  shapes.append(element("span", { class: "shape" }, element("b", { text: "input" }), `${info.input.channels}×${info.input.height}×${info.input.width}`));
  for (const layer of rows) {
    shapes.append("→", element("span", { class: "shape", title: layer.name }, element("b", { text: layer.type }), shapeText(layer.output_shape)));
  }
  $("pipeline").hidden = false;
}

async function drawFilters() {
  const filters = await getJSON("/filters");
  const [out, inChans, kh, kw] = filters.shape;
  $("filtertitle").textContent = `First layer's filters: ${filters.layer}, ${out} filters ${kh}×${kw} over ${inChans} channel${inChans > 1 ? "s" : ""}` +
    (inChans === 3 ? " (in colour; grey is a zero weight)" : " (one tile per input channel; grey is zero)");
  for (const [i, tile] of filters.tiles.entries()) $("filters").append(element("img", { src: tile, alt: `filter ${i}`, title: `filter ${i}` }));
  $("filterpanel").hidden = false;
}

function layerTitle(layer) {
  const field = Array.isArray(layer.receptive_field) ? `field ${layer.receptive_field.join("×")}, stride ${layer.stride.join("×")}` : `field ${layer.receptive_field}`;
  return element("div", { class: "layername" }, `${layer.index} ${layer.name} `, element("span", { text: `${layer.type} → ${shapeText(layer.output_shape)} · ${field}` }));
}

function buildLayers(info) {
  const holder = $("layers");
  const blocks = new Map();
  for (const layer of info.layers.filter((l) => l.maps)) {
    const residual = layer.block in info.blocks;
    const key = residual ? layer.block : `_${layer.index}`;
    if (!blocks.has(key)) {
      const box = element("div", { class: residual ? "block residual" : "block" });
      if (residual) {
        const shortcut = info.blocks[layer.block];
        box.append(element("div", { class: "blocktitle", text: `${layer.block}: residual block, output = ReLU(path + shortcut); shortcut: ${shortcut === "identity" ? "identity (the block's input)" : shortcut}` }));
      }
      const lanes = element("div", { class: "lanes" }, element("div", { class: "lane path" }));
      if (residual) lanes.append(element("div", { class: "lane shortcut" }, element("div", { class: "blocktitle", text: "shortcut" })));
      box.append(lanes);
      holder.append(box);
      blocks.set(key, lanes);
    }
    const lanes = blocks.get(key);
    const lane = lanes.querySelector(layer.shortcut ? ".shortcut" : ".path");
    lane.append(element("div", { class: "layer", "data-index": layer.index }, layerTitle(layer), element("div", { class: "tiles" })));
  }
}

async function choose(id, thumb) {
  showError(null);
  document.querySelectorAll("#images img").forEach((img) => img.classList.toggle("chosen", img === thumb));
  state.image = id;
  state.unit = null;
  const trace = await getJSON(`/images/${id}/trace?channels=${$("channels").value}`);
  if (state.image !== id) return;
  state.maps = trace.maps;
  $("input").src = trace.image;
  $("fieldbox").hidden = true;
  $("effectivefigure").hidden = true;
  $("unit").hidden = true;
  $("seen").hidden = false;
  $("fieldcaption").textContent = "the input; click a unit of a map";
  drawProbabilities(trace.probabilities);
  drawMaps();
  $("camclass").value = trace.probabilities[0].index;
  await drawCam();
  document.body.dataset.ready = id;
}

function drawProbabilities(probabilities) {
  const list = $("probabilities");
  list.replaceChildren();
  for (const p of probabilities.slice(0, 10)) {
    list.append(element("li", { class: "probability" }, element("span", { class: "class", text: p.class }),
      element("div", {}, element("div", { class: "bar", style: `width:${Math.max(1, 100 * p.probability)}%` })),
      element("span", { text: (100 * p.probability).toFixed(1) + "%" })));
  }
  $("classes").hidden = false;
}

function paint(canvas, map, channel) {
  const { height, width } = map;
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(width, height);
  const bytes = map.bytes, offset = channel * height * width;
  for (let i = 0; i < height * width; i++) {
    const [r, g, b] = LUT[bytes[offset + i]];
    pixels.data.set([r, g, b, 255], 4 * i);
  }
  context.putImageData(pixels, 0, 0);
}

function drawMaps() {
  for (const [index, map] of Object.entries(state.maps)) {
    map.bytes = Uint8Array.from(atob(map.data), (c) => c.charCodeAt(0));
    const tiles = document.querySelector(`.layer[data-index="${index}"] .tiles`);
    if (!tiles) continue;
    tiles.replaceChildren();
    for (let channel = 0; channel < map.channels; channel++) {
      const canvas = element("canvas", { class: "tile", "data-channel": channel, title: `channel ${channel} (${map.height}×${map.width})` });
      paint(canvas, map, channel);
      canvas.addEventListener("click", (event) => clicked(event, canvas, Number(index), channel));
      tiles.append(canvas);
    }
    if (map.total > map.channels) tiles.append(element("span", { class: "more", text: `+${map.total - map.channels} more channels` }));
  }
}

function clicked(event, canvas, index, channel) {
  const map = state.maps[index], box = canvas.getBoundingClientRect();
  const row = Math.min(map.height - 1, Math.floor(((event.clientY - box.top) / box.height) * map.height));
  const col = Math.min(map.width - 1, Math.floor(((event.clientX - box.left) / box.width) * map.width));
  explain(index, channel, Math.max(0, row), Math.max(0, col));
}

function place(box, rect, height, width) {
  const scaleY = 240 / height, scaleX = 240 / width;
  box.style.top = `${rect.top * scaleY}px`; box.style.left = `${rect.left * scaleX}px`;
  box.style.height = `${(rect.bottom - rect.top) * scaleY}px`; box.style.width = `${(rect.right - rect.left) * scaleX}px`;
  box.hidden = false;
}

async function explain(index, channel, row, col) {
  showError(null);
  const id = state.image;
  let unit;
  try {
    unit = await getJSON(`/images/${id}/unit?layer=${index}&channel=${channel}&row=${row}&col=${col}`);
  } catch (err) { showError(err); return; }
  if (state.image !== id) return;
  state.unit = unit;
  document.querySelectorAll(".layer.chosen, canvas.tile.chosen").forEach((node) => node.classList.remove("chosen"));
  const layerNode = document.querySelector(`.layer[data-index="${index}"]`);
  layerNode.classList.add("chosen");
  layerNode.querySelector(`canvas[data-channel="${channel}"]`)?.classList.add("chosen");
  const { height, width } = state.info.input;
  const field = unit.field;
  place($("fieldbox"), field.box, height, width);
  $("fieldcaption").textContent = field.kind === "local"
    ? `theoretical receptive field: ${field.size.join("×")} pixels (rows ${field.box.top}–${field.box.bottom - 1}, columns ${field.box.left}–${field.box.right - 1}${field.size[0] > field.box.bottom - field.box.top || field.size[1] > field.box.right - field.box.left ? "; the rest falls on padding" : ""})`
    : `this unit sees the whole image (${field.kind})`;
  $("effective").src = unit.effective.image;
  const extent = unit.effective.box;
  if (extent) place($("effectivebox"), extent, height, width); else $("effectivebox").hidden = true;
  $("effectivecaption").textContent = extent
    ? `effective field: |∂unit/∂pixel| (√-scaled); pixels that move it span rows ${extent.top}–${extent.bottom - 1}, columns ${extent.left}–${extent.right - 1}`
    : "effective field: no input pixel moves this unit (its activation is cut to 0 here)";
  $("effectivefigure").hidden = false;
  drawUnit(unit);
}

function drawUnit(unit) {
  const map = state.maps[unit.layer];
  const zoom = $("zoom");
  paint(zoom, map, unit.channel);
  const context = zoom.getContext("2d");
  context.strokeStyle = "#ff2d55"; context.lineWidth = Math.max(0.15, map.width / 80);
  context.strokeRect(unit.col, unit.row, 1, 1);
  zoom.onclick = (event) => clicked(event, zoom, unit.layer, unit.channel);
  $("unittitle").textContent = `Unit of ${unit.name} (${unit.type})`;
  const where = $("unitwhere");
  where.textContent = `channel ${unit.channel}, row ${unit.row}, column ${unit.col}`;
  Object.assign(where.dataset, { layer: unit.layer, channel: unit.channel, row: unit.row, col: unit.col });
  $("unitvalue").textContent = unit.value.toFixed(6);
  $("unitvalue").dataset.value = unit.value;
  const steps = $("unitsteps");
  steps.replaceChildren(...unit.steps.map(drawStep));
  $("unit").hidden = false;
  $("side").scrollTop = $("seen").offsetTop - $("side").offsetTop;  // the input with the box, then the arithmetic
}

function matrix(values, kind, mark) {
  const table = element("table", { class: `m ${kind}` });
  for (const row of values) table.append(element("tr", {}, ...row.map((v) => element("td", { class: mark !== undefined && v === mark ? "max" : "", text: number(v, 2), title: String(v) }))));
  return table;
}

function formula(text) { return element("div", { class: "formula", text }); }

function drawStep(step) {
  const box = element("div", { class: `step ${step.kind}`, "data-kind": step.kind, "data-layer": step.layer ?? "" });
  const title = (text) => box.append(element("h3", { text }));
  if (step.kind === "conv") {
    title(`${step.name}: convolution, ${step.kernel.join("×")} kernel, stride ${step.stride.join("×")}, padding ${Array.isArray(step.padding) ? step.padding.join("×") : step.padding}` + (step.groups > 1 ? `, ${step.groups} groups` : ""));
    box.append(element("p", { text: `Each input channel's patch under the kernel, multiplied element by element with the kernel's weights for output channel ${state.unit.channel}, and summed (${step.channels.length} channel${step.channels.length > 1 ? "s" : ""}; ${step.channels.filter((c) => c.patch).length} shown in full, largest first):` }));
    const grid = element("div", { class: "channels" });
    for (const c of step.channels.filter((c) => c.patch).sort((a, b) => Math.abs(b.sum) - Math.abs(a.sum))) {
      grid.append(element("div", { class: "mult", title: `input channel ${c.channel}` }, `ch ${c.channel}`, matrix(c.patch, "patch"), "⊙", matrix(c.kernel, "kernel"), `Σ = ${number(c.sum)}`));
    }
    box.append(grid);
    const sums = step.channels.map((c) => number(c.sum)).join(" + ");
    box.append(formula(`sum over channels = ${step.channels.length > 24 ? `(${step.channels.length} channel sums)` : sums} = ${number(step.sum, 6)}`));
    box.append(formula(step.bias === null ? `no bias (a BatchNorm follows) → ${number(step.computed, 6)}` : `+ bias ${number(step.bias, 6)} = ${number(step.computed, 6)}`));
  } else if (step.kind === "maxpool" || step.kind === "avgpool") {
    title(`${step.name}: ${step.kind === "maxpool" ? "max" : "average"} pooling over a ${step.kernel.join("×")} window`);
    const flat = step.window.flat();
    box.append(matrix(step.window, "window", step.kind === "maxpool" ? Math.max(...flat) : undefined));
    box.append(formula(step.kind === "maxpool" ? `max(${flat.map((v) => number(v)).join(", ")}) = ${number(step.computed, 6)}`
      : `(${flat.map((v) => number(v)).join(" + ")}) / ${flat.length} = ${number(step.computed, 6)}`));
  } else if (step.kind === "batchnorm") {
    title(`${step.name}: BatchNorm with the running statistics`);
    box.append(formula(`(x − mean) / √(var + ε) × γ + β = (${number(step.input, 6)} − ${number(step.mean, 6)}) / √(${number(step.var, 6)} + ${step.eps}) × ${number(step.weight, 6)} + ${number(step.bias, 6)} = ${number(step.computed, 6)}`));
  } else if (step.kind === "activation") {
    title(`${step.name}: ${step.function}`);
    box.append(formula(step.function === "relu" ? `max(0, ${number(step.input, 6)}) = ${number(step.computed, 6)}` : `${step.function}(${number(step.input, 6)}) = ${number(step.computed, 6)}`));
  } else if (step.kind === "sum") {
    title(`${step.name}: the residual path plus the shortcut`);
    box.append(formula(step.terms.length ? `${step.terms.map((t) => `${number(t.value, 6)} (${t.from})`).join(" + ")} = ${number(step.value, 6)}` : `the sum of the block's branches = ${number(step.value, 6)}`));
  } else {
    title(`${step.name}: ${step.type}`);
    box.append(formula(`${number(step.input, 6)} → ${number(step.value, 6)}`));
  }
  if (step.value !== undefined && step.kind !== "sum") box.append(element("div", { class: "formula", text: `PyTorch's value: ${number(step.value, 6)}` }));
  return box;
}

async function drawCam() {
  const id = state.image;
  if (!id) return;
  const cam = await getJSON(`/images/${id}/gradcam?class=${$("camclass").value}`);
  if (state.image !== id) return;
  $("cam").src = cam.overlay;
  $("camcaption").textContent = `where the evidence for “${cam.class}” lies (p = ${(100 * cam.probability).toFixed(1)}%)`;
  $("camfigure").hidden = false;
}

async function upload(file) {
  showError(null);
  const body = new FormData();
  body.append("file", file);
  try {
    const { id } = await getJSON("/images", { method: "POST", body });
    await choose(id, null);
  } catch (err) { showError(err); }
}

$("file").addEventListener("change", () => { if ($("file").files.length) upload($("file").files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => { event.preventDefault(); drop.classList.remove("over"); if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]); });
$("camclass").addEventListener("change", () => drawCam().catch(showError));
$("channels").addEventListener("change", () => {
  const chosen = document.querySelector("#images img.chosen");
  if (state.image) choose(state.image, chosen).catch(showError);
});
start().then(() => { document.body.dataset.loaded = "1"; }).catch(showError);
