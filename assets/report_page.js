// assets/report_page.js - the interactive part of report.html (embedded by attnscope/io/html.hpp).
//
// Reads the page's data (format "attnscope.report_page", a JSON script element written by
// render_html_report) and builds every section with DOM calls: text always goes in through
// textContent, never as markup, since token strings and file names are data from outside.
// Plain ES2017, no library, no network.
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var data = JSON.parse(document.getElementById('attnscope-data').textContent);
  var state = { example: 0, layer: 0, head: 0, scale: 'linear' };
  var exampleAxis = data.example_axis || 'example';  // "group" on the page of an aggregate

  // ------------------------------------------------------------------------------------------
  // Small helpers.

  function byId(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svgEl(tag, attrs, text) {
    var e = document.createElementNS(SVG_NS, tag);
    setAttrs(e, attrs);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  }

  /// A value as the page shows it: 4 significant digits, exponent for very small or large values.
  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return 'NaN';
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(Number(v.toPrecision(4)));
  }

  /// A value short enough for a grid cell: 3 significant digits, or one for tiny values.
  function fmtShort(v) {
    if (v === null || v === undefined || !isFinite(v)) return 'NaN';
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-2 || a >= 1e4)) return v.toExponential(0);
    return String(Number(v.toPrecision(3)));
  }

  function withUnit(v, unit) { return fmt(v) + (unit && isFinite(v) && v !== null ? ' ' + unit : ''); }

  /// Little-endian float32 values from base64.
  function decode(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; ++i) bytes[i] = bin.charCodeAt(i);
    var view = new DataView(bytes.buffer);
    var out = new Float32Array(bytes.length / 4);
    for (var k = 0; k < out.length; ++k) out[k] = view.getFloat32(4 * k, true);
    return out;
  }

  /// A link that can only name a file next to the page (no scheme, no script).
  function fileLink(name, text) {
    var safe = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(name) ? './' + name : name;
    return el('a', { href: safe.split('/').map(encodeURIComponent).join('/') }, text || name);
  }

  // ------------------------------------------------------------------------------------------
  // Colors: the same maps and interpolation as attnscope/io/colormap.hpp.

  function hexToRgb(h) { return [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)]; }
  var maps = {};
  Object.keys(data.colormaps).forEach(function (k) {
    var m = data.colormaps[k];
    maps[k] = { anchors: m.anchors.map(hexToRgb), nan: m.nan, name: m.name };
  });

  function colorAt(map, t) {
    if (t === null || isNaN(t)) return map.nan;
    t = Math.min(1, Math.max(0, t));
    var n = map.anchors.length - 1, x = t * n, i = Math.min(Math.floor(x), n - 1), f = x - i;
    var a = map.anchors[i], b = map.anchors[i + 1];
    return 'rgb(' + Math.round(a[0] + (b[0] - a[0]) * f) + ',' + Math.round(a[1] + (b[1] - a[1]) * f) + ',' +
           Math.round(a[2] + (b[2] - a[2]) * f) + ')';
  }

  /// Position of v in [lo, hi] on a linear, power (gamma 0.5) or log scale.
  function scalePosition(v, lo, hi, scale) {
    if (v === null || !isFinite(v)) return NaN;
    if (scale === 'log') {
      var l = Math.max(lo, hi * 1e-4);
      return Math.log(Math.max(v, l) / l) / Math.log(hi / l);
    }
    var t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
    if (scale === 'power') return Math.pow(Math.min(1, Math.max(0, t)), 0.5);
    return t;
  }

  function textColorOn(map, t) {
    var c = colorAt(map, t);
    var m = /rgb\((\d+),(\d+),(\d+)\)/.exec(c);
    if (!m) return '#000';
    var lum = 0.299 * m[1] + 0.587 * m[2] + 0.114 * m[3];
    return lum > 140 ? '#000' : '#fff';
  }

  /// Multiples of a 1-2-5 step from 0 to hi, at most n + 1 of them.
  function niceTicks(hi, n) {
    if (!(hi > 0)) return [0];
    var raw = hi / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = 10 * mag;
    [1, 2, 5, 10].some(function (m) { if (m * mag >= raw) { step = m * mag; return true; } return false; });
    var out = [];
    for (var k = 0; k * step <= hi * (1 + 1e-9); ++k) out.push(Number((k * step).toPrecision(6)));
    return out;
  }

  function finiteRange(values) {
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < values.length; ++i) {
      var v = values[i];
      if (v === null || !isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo === Infinity) return null;
    if (lo === hi) { lo -= 0.5; hi += 0.5; }
    return [lo, hi];
  }

  // ------------------------------------------------------------------------------------------
  // The tooltip.

  var tip = byId('tooltip');
  function showTip(text, ev) {
    tip.textContent = text;
    tip.style.display = 'block';
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - 10;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - 10;
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  }
  function hideTip() { tip.style.display = 'none'; }

  // ------------------------------------------------------------------------------------------
  // Header, summary, notes.

  function renderSummary() {
    document.title = data.title;
    byId('title').textContent = data.title;
    byId('subtitle').textContent = data.writer;
    var facts = byId('facts');
    (data.facts || []).forEach(function (f) {
      var tr = el('tr');
      tr.appendChild(el('th', null, f[0]));
      tr.appendChild(el('td', null, f[1]));
      facts.appendChild(tr);
    });
    var notes = byId('notes');
    (data.notes || []).forEach(function (n) { notes.appendChild(el('p', { 'class': 'note' }, n)); });
    byId('summary-json').textContent = JSON.stringify(data.summary, null, 2);
  }

  // ------------------------------------------------------------------------------------------
  // Selectors.

  function fillSelect(id, labels, value) {
    var s = byId(id);
    s.textContent = '';
    labels.forEach(function (t, i) { s.appendChild(el('option', { value: i }, t)); });
    s.value = String(value);
  }

  function renderControls() {
    byId('sel-example-name').textContent = exampleAxis;
    fillSelect('sel-example', data.examples, state.example);
    fillSelect('sel-layer', data.layers, state.layer);
    fillSelect('sel-head', data.heads, state.head);
    byId('sel-example').parentNode.style.display = data.examples.length > 1 ? '' : 'none';
    byId('sel-example').addEventListener('change', function (e) { select({ example: Number(e.target.value) }); });
    byId('sel-layer').addEventListener('change', function (e) { select({ layer: Number(e.target.value) }); });
    byId('sel-head').addEventListener('change', function (e) { select({ head: Number(e.target.value) }); });
    byId('sel-scale').addEventListener('change', function (e) { state.scale = e.target.value; renderPattern(); });
  }

  // ------------------------------------------------------------------------------------------
  // Layer x head grids.

  var L = data.layers.length, H = data.heads.length;
  // A page without patterns and per-query entropy (an aggregate's) has no head viewer.
  var hasViewer = data.patterns.length > 0 || !!data.entropy || !!data.patterns_note;

  /// The [layer, head] values of a grid for the chosen example (pooled grids ignore it).
  function gridSlice(g, values) {
    values = values || g.values;
    if (!g.per_example) return values;
    var e = Math.min(state.example, g.shape[0] - 1);
    return values.slice(e * L * H, (e + 1) * L * H);
  }

  function gridCard(g, index) {
    var card = el('div', { 'class': 'grid-card', 'data-grid': g.name });
    card.appendChild(el('h3', null, g.title + (g.per_example && data.examples.length > 1 ? ' (per ' + exampleAxis + ')' : '')));
    if (g.description) card.appendChild(el('p', { 'class': 'desc' }, g.description));
    var cell = Math.max(10, Math.min(34, Math.floor(340 / Math.max(H, 1))));
    var left = 34, top = 18, w = cell * H, h = cell * L, barH = 10;
    var svg = svgEl('svg', { width: left + w + 8, height: top + h + 44, 'class': 'grid', 'data-grid': g.name });
    var range = finiteRange(g.values) || [0, 1];  // the same range for every example
    var map = maps[g.colormap] || maps.grid;
    var labelStep = Math.ceil(13 / cell);
    for (var hh = 0; hh < H; hh += labelStep)
      svg.appendChild(svgEl('text', { x: left + (hh + 0.5) * cell, y: top - 5, 'font-size': 10, 'text-anchor': 'middle' }, data.heads[hh]));
    for (var ll = 0; ll < L; ll += labelStep)
      svg.appendChild(svgEl('text', { x: left - 4, y: top + (ll + 0.5) * cell + 3.5, 'font-size': 10, 'text-anchor': 'end' }, data.layers[ll]));
    var cells = svgEl('g', { 'class': 'cells' });
    svg.appendChild(cells);
    for (var l = 0; l < L; ++l)
      for (var k = 0; k < H; ++k) {
        var r = svgEl('rect', { x: left + k * cell, y: top + l * cell, width: cell, height: cell, 'class': 'cell',
                                'data-layer': l, 'data-head': k });
        cells.appendChild(r);
        if (cell >= 30) {
          cells.appendChild(svgEl('text', { x: left + (k + 0.5) * cell, y: top + (l + 0.5) * cell + 3, 'font-size': 9,
                                            'text-anchor': 'middle', 'pointer-events': 'none', 'class': 'cell-value',
                                            'data-layer': l, 'data-head': k }));
        }
      }
    // Color bar with the range ends.
    var gid = 'grad' + index;
    var defs = svgEl('defs');
    var grad = svgEl('linearGradient', { id: gid, x1: 0, y1: 0, x2: 1, y2: 0 });
    map.anchors.forEach(function (a, i) {
      grad.appendChild(svgEl('stop', { offset: i / (map.anchors.length - 1), 'stop-color': 'rgb(' + a.join(',') + ')' }));
    });
    defs.appendChild(grad);
    svg.appendChild(defs);
    var by = top + h + 8;
    svg.appendChild(svgEl('rect', { x: left, y: by, width: w, height: barH, fill: 'url(#' + gid + ')', stroke: '#333', 'stroke-width': 0.5 }));
    svg.appendChild(svgEl('text', { x: left, y: by + barH + 12, 'font-size': 10 }, fmt(range[0])));
    svg.appendChild(svgEl('text', { x: left + w, y: by + barH + 12, 'font-size': 10, 'text-anchor': 'end' }, fmt(range[1])));
    if (g.unit) svg.appendChild(svgEl('text', { x: left + w / 2, y: by + barH + 24, 'font-size': 10, 'text-anchor': 'middle' }, g.unit));
    card.appendChild(svg);
    svg.addEventListener('mousemove', function (ev) {
      var t = ev.target;
      if (!t.classList || !t.classList.contains('cell')) { hideTip(); return; }
      var l = Number(t.getAttribute('data-layer')), k = Number(t.getAttribute('data-head'));
      var v = gridSlice(g)[l * H + k];
      var who = data.layers[l] + data.heads[k] + (g.per_example && data.examples.length > 1 ? ' · ' + data.examples[state.example] : '');
      var text = who + '\n' + g.name + ' = ' + withUnit(v, g.unit);
      (g.on_hover || []).forEach(function (x) { text += '\n' + x.name + ' = ' + withUnit(gridSlice(g, x.values)[l * H + k], x.unit); });
      showTip(text, ev);
    });
    svg.addEventListener('mouseleave', hideTip);
    svg.addEventListener('click', function (ev) {
      var t = ev.target;
      if (!t.classList || !t.classList.contains('cell')) return;
      select({ layer: Number(t.getAttribute('data-layer')), head: Number(t.getAttribute('data-head')) });
      if (hasViewer) byId('viewer').scrollIntoView({ behavior: 'auto', block: 'start' });
    });
    if (g.files && g.files.length) {
      var links = el('div', { 'class': 'links' });
      g.files.forEach(function (f) {
        var ext = f.split('.').pop();
        links.appendChild(fileLink(f, f.indexOf('_per_example.') >= 0 ? 'per-example ' + ext : ext));
      });
      card.appendChild(links);
    }
    card._paint = function () {
      var vals = gridSlice(g);
      var rects = svg.querySelectorAll('rect.cell');
      var texts = svg.querySelectorAll('text.cell-value');
      for (var i = 0; i < rects.length; ++i) {
        var v = vals[i];
        var pos = scalePosition(v, range[0], range[1], 'linear');
        rects[i].setAttribute('fill', colorAt(map, pos));
        rects[i].setAttribute('data-value', v === null ? 'NaN' : String(v));
        rects[i].classList.toggle('selected', Math.floor(i / H) === state.layer && i % H === state.head);
        if (texts.length) {
          texts[i].textContent = fmtShort(v);
          texts[i].setAttribute('fill', textColorOn(map, pos));
        }
      }
    };
    return card;
  }

  var gridCards = [];
  function renderGrids() {
    var box = byId('grids');
    data.grids.forEach(function (g, i) {
      var card = gridCard(g, i);
      gridCards.push(card);
      box.appendChild(card);
    });
    if (!data.grids.length) box.appendChild(el('p', { 'class': 'muted' }, 'No grid in this report.'));
  }
  function paintGrids() { gridCards.forEach(function (c) { c._paint(); }); }

  // ------------------------------------------------------------------------------------------
  // The chosen head's pattern (a canvas: patterns can have 256 x 256 cells).

  var patternIndex = {};
  data.patterns.forEach(function (p, i) { patternIndex[p.example + '/' + p.layer + '/' + p.head] = i; });
  var decoded = {};

  function renderPattern() {
    var info = byId('pattern-info');
    var canvas = byId('pattern');
    var title = byId('pattern-title');
    var who = data.layers[state.layer] + data.heads[state.head] + (data.examples.length > 1 ? ' · ' + data.examples[state.example] : '');
    title.textContent = 'Pattern of ' + who;
    info.textContent = '';
    var idx = patternIndex[state.example + '/' + state.layer + '/' + state.head];
    canvas.setAttribute('data-head', data.layers[state.layer] + data.heads[state.head]);
    canvas.setAttribute('data-example', state.example);
    if (idx === undefined) {
      canvas.width = 0; canvas.height = 0; canvas.style.width = '0px'; canvas.style.height = '0px';
      canvas._hit = null;
      info.appendChild(document.createTextNode(data.patterns_note || 'This head\'s pattern is not in the page.'));
      return;
    }
    var p = data.patterns[idx];
    if (!decoded[idx]) decoded[idx] = decode(p.data);
    var v = decoded[idx];
    var R = p.shape[0], C = p.shape[1];
    var full = p.full_shape;
    var cs = Math.max(2, Math.min(22, Math.floor(620 / Math.max(R, C))));
    var ctx = canvas.getContext('2d');
    var font = 10;
    ctx.font = font + 'px DejaVu Sans, Helvetica, Arial, sans-serif';
    var step = Math.ceil((font + 2) / cs);
    function label(t) { return t.length > 14 ? t.slice(0, 13) + '\u2026' : t; }
    var lw = 0;
    for (var i = 0; i < R; i += step) lw = Math.max(lw, ctx.measureText(label(p.rows[i])).width);
    var bw = 0;
    for (var j = 0; j < C; j += step) bw = Math.max(bw, ctx.measureText(label(p.cols[j])).width);
    var scaleLabel = state.scale === 'linear' ? 'weight' : state.scale === 'power' ? 'weight (sqrt scale)' : 'weight (log scale)';
    var right = Math.max(90, 18 + Math.ceil(ctx.measureText(scaleLabel).width));  // the color bar's ticks and label
    var x0 = Math.ceil(lw) + 26, y0 = 8, W = x0 + C * cs + right, Hh = y0 + R * cs + Math.ceil(bw) + 30;
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(Hh * dpr);
    canvas.style.width = W + 'px'; canvas.style.height = Hh + 'px';
    ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, W, Hh);
    var range = finiteRange(v) || [0, 1];
    var lo = 0, hi = Math.max(range[1], 1e-12);
    var map = maps.pattern;
    for (var r = 0; r < R; ++r)
      for (var c = 0; c < C; ++c) {
        ctx.fillStyle = colorAt(map, scalePosition(v[r * C + c], lo, hi, state.scale));
        ctx.fillRect(x0 + c * cs, y0 + r * cs, cs + 0.5, cs + 0.5);
      }
    ctx.strokeStyle = '#333'; ctx.lineWidth = 0.8;
    ctx.strokeRect(x0, y0, C * cs, R * cs);
    ctx.fillStyle = '#1d2330';
    ctx.font = font + 'px DejaVu Sans, Helvetica, Arial, sans-serif';
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    for (i = 0; i < R; i += step) ctx.fillText(label(p.rows[i]), x0 - 4, y0 + (i + 0.5) * cs);
    ctx.save();
    ctx.textAlign = 'right';
    for (j = 0; j < C; j += step) {
      ctx.save();
      ctx.translate(x0 + (j + 0.5) * cs, y0 + R * cs + 4);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(label(p.cols[j]), 0, 0);
      ctx.restore();
    }
    ctx.restore();
    ctx.textAlign = 'center'; ctx.textBaseline = 'alphabetic';
    ctx.fillText('key', x0 + C * cs / 2, Hh - 6);
    ctx.save();
    ctx.translate(10, y0 + R * cs / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText('query', 0, 0);
    ctx.restore();
    // Color bar.
    var bx = x0 + C * cs + 14, bh = Math.min(R * cs, 240);
    for (var s = 0; s < bh; ++s) {
      var t = 1 - s / bh;
      ctx.fillStyle = colorAt(map, t);
      ctx.fillRect(bx, y0 + s, 12, 1.5);
    }
    ctx.strokeRect(bx, y0, 12, bh);
    ctx.fillStyle = '#1d2330';
    ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
    var ticks = state.scale === 'log' ? [hi, hi * 1e-1, hi * 1e-2, hi * 1e-3, Math.max(lo, hi * 1e-4)] : [hi, (lo + hi) / 2, lo];
    ticks.forEach(function (tv) {
      var ty = y0 + bh * (1 - scalePosition(tv, lo, hi, state.scale));
      ctx.fillText(fmt(tv), bx + 16, ty);
    });
    ctx.fillText(scaleLabel, bx, y0 + bh + 14);

    canvas._hit = { x0: x0, y0: y0, cs: cs, R: R, C: C, p: p, v: v };
    canvas.setAttribute('data-x0', x0);
    canvas.setAttribute('data-y0', y0);
    canvas.setAttribute('data-cell', cs);
    canvas.setAttribute('data-rows', R);
    canvas.setAttribute('data-cols', C);
    var text = 'shown: ' + R + ' x ' + C + ' (query x key)';
    if (full[0] !== R || full[1] !== C)
      text = 'shown downsampled to ' + R + ' x ' + C + ' (block mean) of the exact ' + full[0] + ' x ' + full[1] + ' matrix';
    info.appendChild(document.createTextNode(text + (p.file ? '; exact values: ' : '')));
    if (p.file) info.appendChild(fileLink(p.file));
  }

  function patternHover(ev) {
    var canvas = byId('pattern'), h = canvas._hit;
    if (!h) return;
    var rect = canvas.getBoundingClientRect();
    var x = ev.clientX - rect.left - h.x0, y = ev.clientY - rect.top - h.y0;
    var c = Math.floor(x / h.cs), r = Math.floor(y / h.cs);
    if (x < 0 || y < 0 || r >= h.R || c >= h.C) { hideTip(); return; }
    var p = h.p, v = h.v[r * h.C + c];
    var fr = p.row_block, fc = p.col_block;
    var q = fr > 1 ? 'queries ' + (r * fr) + '-' + Math.min(p.full_shape[0] - 1, (r + 1) * fr - 1) : 'query ' + r + ' ' + JSON.stringify(p.rows[r]);
    var k = fc > 1 ? 'keys ' + (c * fc) + '-' + Math.min(p.full_shape[1] - 1, (c + 1) * fc - 1) : 'key ' + c + ' ' + JSON.stringify(p.cols[c]);
    var what = isFinite(v) ? fmt(v) + (fr > 1 || fc > 1 ? ' (block mean)' : '') : 'NaN (no key that counts)';
    showTip(q + '\n' + k + '\nweight = ' + what, ev);
  }

  // ------------------------------------------------------------------------------------------
  // The chosen head's per-query entropy.

  var entropyValues = data.entropy ? decode(data.entropy.data) : null;

  function renderEntropy() {
    var box = byId('entropy');
    box.textContent = '';
    var info = byId('entropy-info');
    info.textContent = '';
    if (!entropyValues) { info.textContent = 'No per-query entropy in this report.'; return; }
    var e = data.entropy, B = e.shape[0], Q = e.shape[3];
    var ex = Math.min(state.example, B - 1);
    var off = ((ex * L + state.layer) * H + state.head) * Q;
    var ys = Array.prototype.slice.call(entropyValues, off, off + Q);
    var labels = e.query_labels.length ? e.query_labels[Math.min(ex, e.query_labels.length - 1)] : [];
    var range = finiteRange(entropyValues) || [0, 1];
    var ymax = range[1] > 0 ? range[1] : 1;
    var W = 620, Hh = 220, left = 58, right = 10, top = 10, bottom = 34;
    var pw = W - left - right, ph = Hh - top - bottom;
    var svg = svgEl('svg', { width: W, height: Hh, id: 'entropy-svg' });
    var xs = function (q) { return left + (Q > 1 ? q / (Q - 1) : 0.5) * pw; };
    var yv = function (v) { return top + ph * (1 - v / ymax); };
    svg.appendChild(svgEl('rect', { x: left, y: top, width: pw, height: ph, fill: 'none', stroke: '#999', 'stroke-width': 0.6 }));
    niceTicks(ymax, 4).forEach(function (t) {
      svg.appendChild(svgEl('line', { x1: left - 3, x2: left + pw, y1: yv(t), y2: yv(t), stroke: '#ddd' }));
      svg.appendChild(svgEl('text', { x: left - 5, y: yv(t) + 3.5, 'font-size': 10, 'text-anchor': 'end' }, fmt(t)));
    });
    var xstep = Math.max(1, Math.ceil(Q / 12));
    for (var q = 0; q < Q; q += xstep)
      svg.appendChild(svgEl('text', { x: xs(q), y: top + ph + 13, 'font-size': 10, 'text-anchor': 'middle' }, String(q)));
    svg.appendChild(svgEl('text', { x: left + pw / 2, y: Hh - 4, 'font-size': 11, 'text-anchor': 'middle' }, 'query position'));
    svg.appendChild(svgEl('text', { x: 14, y: top + ph / 2, 'font-size': 11, 'text-anchor': 'middle',
                                    transform: 'rotate(-90 14 ' + (top + ph / 2) + ')' }, 'entropy' + (e.unit ? ' (' + e.unit + ')' : '')));
    var d = '', pen = false;
    for (q = 0; q < Q; ++q) {
      var v = ys[q];
      if (!isFinite(v)) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + xs(q).toFixed(1) + ' ' + yv(v).toFixed(1);
      pen = true;
    }
    svg.appendChild(svgEl('path', { d: d, fill: 'none', stroke: '#1f77b4', 'stroke-width': 1.6 }));
    var r = Q <= 128 ? 2.6 : 1.4;
    for (q = 0; q < Q; ++q) {
      if (!isFinite(ys[q])) continue;
      svg.appendChild(svgEl('circle', { cx: xs(q), cy: yv(ys[q]), r: r, fill: '#1f77b4', 'class': 'point', 'data-query': q }));
    }
    svg.addEventListener('mousemove', function (ev) {
      var rect = svg.getBoundingClientRect();
      var x = ev.clientX - rect.left;
      if (x < left - 4 || x > left + pw + 4) { hideTip(); return; }
      var qq = Math.round((x - left) / pw * (Q - 1));
      qq = Math.max(0, Math.min(Q - 1, qq));
      var lab = labels[qq] !== undefined ? ' ' + JSON.stringify(labels[qq]) : '';
      showTip('query ' + qq + lab + '\nentropy = ' + withUnit(ys[qq], e.unit), ev);
    });
    svg.addEventListener('mouseleave', hideTip);
    box.appendChild(svg);
    var finite = ys.filter(function (x) { return isFinite(x); });
    var mean = finite.length ? finite.reduce(function (a, b) { return a + b; }, 0) / finite.length : NaN;
    info.textContent = data.layers[state.layer] + data.heads[state.head] + ': mean ' + withUnit(mean, e.unit) + ' over ' + finite.length + ' queries';
  }

  // ------------------------------------------------------------------------------------------
  // Head roles: every head ranked by its strongest role score.

  function renderRoles() {
    var box = byId('roles');
    var roles = data.grids.filter(function (g) { return g.role; });
    if (!roles.length) {
      box.appendChild(el('p', { 'class': 'muted' }, data.roles_note || 'No head-role score in this report.'));
      return;
    }
    var wrap = el('div', { 'class': 'roles-wrap' });
    var table = el('table', { 'class': 'roles', id: 'roles-table' });
    var thead = el('thead'), hr = el('tr');
    ['rank', 'head', 'strongest role', 'score'].forEach(function (t, i) {
      hr.appendChild(el('th', { 'class': i === 1 ? 'head' : i === 2 ? 'role' : '' }, t));
    });
    roles.forEach(function (g) { hr.appendChild(el('th', null, g.name)); });
    thead.appendChild(hr);
    table.appendChild(thead);
    var tbody = el('tbody');
    table.appendChild(tbody);
    wrap.appendChild(table);
    box.appendChild(wrap);
    if (data.roles_note) box.appendChild(el('p', { 'class': 'muted' }, data.roles_note));
    table._fill = function () {
      tbody.textContent = '';
      var rows = [];
      for (var l = 0; l < L; ++l)
        for (var k = 0; k < H; ++k) {
          var best = -Infinity, role = '', scores = [];
          roles.forEach(function (g) {
            var v = gridSlice(g)[l * H + k];
            scores.push(v);
            if (v !== null && isFinite(v) && v > best) { best = v; role = g.name; }
          });
          rows.push({ l: l, k: k, best: best, role: role, scores: scores });
        }
      rows.sort(function (a, b) { return b.best - a.best || a.l - b.l || a.k - b.k; });
      rows.forEach(function (row, i) {
        var tr = el('tr', { 'data-layer': row.l, 'data-head': row.k });
        if (row.l === state.layer && row.k === state.head) tr.classList.add('selected');
        tr.appendChild(el('td', null, i + 1));
        tr.appendChild(el('td', { 'class': 'head' }, data.layers[row.l] + data.heads[row.k]));
        tr.appendChild(el('td', { 'class': 'role' }, row.role || '-'));
        tr.appendChild(el('td', null, fmt(isFinite(row.best) ? row.best : NaN)));
        row.scores.forEach(function (v) { tr.appendChild(el('td', null, fmt(v))); });
        tr.addEventListener('click', function () { select({ layer: row.l, head: row.k }); });
        tbody.appendChild(tr);
      });
    };
  }

  // ------------------------------------------------------------------------------------------
  // Files.

  function renderFiles() {
    var ul = byId('files');
    data.files.forEach(function (f) {
      var li = el('li');
      li.appendChild(fileLink(f));
      ul.appendChild(li);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Selection: every view follows (example, layer, head).

  function select(change) {
    Object.keys(change).forEach(function (k) { state[k] = change[k]; });
    byId('sel-example').value = String(state.example);
    byId('sel-layer').value = String(state.layer);
    byId('sel-head').value = String(state.head);
    byId('selection').textContent = data.layers[state.layer] + data.heads[state.head] +
      (data.examples.length > 1 ? ' · ' + data.examples[state.example] : '');
    paintGrids();
    renderPattern();
    renderEntropy();
    var t = byId('roles-table');
    if (t) t._fill();
  }

  renderSummary();
  if (!hasViewer) {
    byId('viewer').style.display = 'none';
    byId('sel-scale').parentNode.style.display = 'none';
    byId('grids-hint').textContent = 'Hover a cell for its values; click it to select that head.';
  }
  renderControls();
  renderGrids();
  renderRoles();
  renderFiles();
  byId('pattern').addEventListener('mousemove', patternHover);
  byId('pattern').addEventListener('mouseleave', hideTip);
  var start = data.start || {};
  if (start.scale === 'power' || start.scale === 'log') {
    state.scale = start.scale;
    byId('sel-scale').value = start.scale;
  }
  select({ example: start.example || 0, layer: start.layer || 0, head: start.head || 0 });
  document.body.setAttribute('data-ready', '1');
})();
