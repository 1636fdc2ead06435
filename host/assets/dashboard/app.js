// The Accrue dashboard: signs in with an API key (kept in this tab's sessionStorage),
// asks /v1/me who the key is, and draws the partner's or the admin's view from the same
// API every client reads. No framework, no build step; charts are SVG drawn here.
//
// Money: the API sends decimal strings ("1234.50"). Shown figures are the API's own
// strings, formatted by Intl.NumberFormat, which formats a string exactly (no float);
// Number() is used only to place chart points. The page never adds money up.
//
// Content security policy: no inline script or style; elements are built with the DOM
// (textContent, never innerHTML), SVG with presentation attributes.

'use strict';

(() => {
  const KEY_STORE = 'accrue.apiKey';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

  // ---------------------------------------------------------------- DOM helpers

  /** An HTML element: `props` are attributes, plus `text`, `dataset`, `on` and `class`. */
  function h(tag, props, ...children) {
    return build(document.createElement(tag), props, children);
  }

  /** An SVG element, same conventions. */
  function s(tag, props, ...children) {
    return build(document.createElementNS(SVG_NS, tag), props, children);
  }

  function build(el, props, children) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'class') el.setAttribute('class', v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const $ = (id) => document.getElementById(id);

  /** Replace `el`'s children, skipping the absent ones. */
  function fill(el, ...children) {
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }
  const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));

  // ---------------------------------------------------------------- formatting

  const formatters = new Map();
  function cached(key, make) {
    if (!formatters.has(key)) formatters.set(key, make());
    return formatters.get(key);
  }

  /** A money string as the API gave it, formatted for its currency (exactly: a string). */
  function money(value, currency) {
    if (value === null || value === undefined) return '—';
    const f = cached(`m:${currency}`, () => new Intl.NumberFormat(undefined, { style: 'currency', currency }));
    return f.format(String(value));
  }

  /** A chart axis label: compact, from a float (positions only, never a shown total). */
  function moneyAxis(value, currency) {
    const f = cached(`ma:${currency}`, () => new Intl.NumberFormat(undefined, {
      style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1,
    }));
    return f.format(value);
  }

  function count(n) {
    if (n === null || n === undefined) return '—';
    return cached('n', () => new Intl.NumberFormat(undefined)).format(n);
  }

  /** A ratio string ("0.1234") as a percentage; `null` (no denominator) as a dash. */
  function pct(ratio, digits = 1) {
    if (ratio === null || ratio === undefined || ratio === '') return '—';
    const f = cached(`p:${digits}`, () => new Intl.NumberFormat(undefined, {
      style: 'percent', minimumFractionDigits: 0, maximumFractionDigits: digits,
    }));
    return f.format(String(ratio));
  }

  /** A signed percentage (growth): "+25 %". */
  function signedPct(ratio) {
    if (ratio === null || ratio === undefined) return '—';
    const f = cached('sp', () => new Intl.NumberFormat(undefined, {
      style: 'percent', maximumFractionDigits: 1, signDisplay: 'exceptZero',
    }));
    return f.format(String(ratio));
  }

  /** A score with exactly `digits` places ("0.30"). */
  function fixed(value, digits) {
    if (value === null || value === undefined) return '—';
    const f = cached(`f:${digits}`, () => new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
    return f.format(String(value));
  }

  function ago(days) {
    if (days === null || days === undefined) return 'none in 120 d';
    if (days === 0) return 'today';
    return days === 1 ? 'yesterday' : `${count(days)} days ago`;
  }

  function decimal(value, digits = 2) {
    if (value === null || value === undefined) return '—';
    const f = cached(`d:${digits}`, () => new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }));
    return f.format(String(value));
  }

  function parseDay(iso) {
    const [y, m, d] = iso.split('-').map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  }

  /** A bucket's label on an axis: "Mar 4", or "Mar 26" for months. */
  function dayLabel(iso, interval) {
    const opts = interval === 'month'
      ? { month: 'short', year: '2-digit', timeZone: 'UTC' }
      : { month: 'short', day: 'numeric', timeZone: 'UTC' };
    return cached(`dl:${interval}`, () => new Intl.DateTimeFormat(undefined, opts)).format(parseDay(iso));
  }

  function longDay(iso) {
    return cached('ld', () => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }))
      .format(parseDay(iso));
  }

  function dateTime(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return cached('dt', () => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })).format(d);
  }

  function monthLabel(ym) {
    return cached('ml', () => new Intl.DateTimeFormat(undefined, { month: 'short', year: 'numeric', timeZone: 'UTC' }))
      .format(parseDay(`${ym}-01`));
  }

  function bucketRange(p, interval) {
    return p.from === p.to || interval === 'day' ? longDay(p.from) : `${longDay(p.from)} – ${longDay(p.to)}`;
  }

  // ---------------------------------------------------------------- dates (browser's zone)

  const pad = (n) => String(n).padStart(2, '0');
  const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const localDay = (y, m, d) => new Date(y, m, d);

  /** The range a preset names, ending today in the browser's time zone. */
  function presetRange(name, now = new Date()) {
    const y = now.getFullYear(), m = now.getMonth(), d = now.getDate();
    const to = isoDate(localDay(y, m, d));
    switch (name) {
      case '7d': return { from: isoDate(localDay(y, m, d - 6)), to, interval: 'day' };
      case '90d': return { from: isoDate(localDay(y, m, d - 89)), to, interval: 'week' };
      case 'month': return { from: isoDate(localDay(y, m, 1)), to, interval: 'day' };
      case '12m': return { from: isoDate(localDay(y, m - 11, 1)), to, interval: 'month' };
      default: return { from: isoDate(localDay(y, m, d - 29)), to, interval: 'day' };
    }
  }

  // ---------------------------------------------------------------- the API

  /** An answer that was not a success: the problem document's fields. */
  class ApiError extends Error {
    constructor(status, problem) {
      const p = problem && typeof problem === 'object' ? problem : {};
      super(p.detail || p.title || (typeof problem === 'string' && problem) || `HTTP ${status}`);
      this.status = status;
      this.type = p.type || '';
      this.title = p.title || '';
      this.detail = this.message;
      this.field = p.field || null;
    }
    is(kind) { return this.type === `urn:accrue:problem:${kind}`; }
  }

  function qs(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
    const t = q.toString();
    return t ? `?${t}` : '';
  }

  async function api(path, { method = 'GET', body, key } = {}) {
    const secret = key || sessionStorage.getItem(KEY_STORE) || '';
    const headers = { Authorization: `Bearer ${secret}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: 'no-store', credentials: 'omit',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, { detail: `The service could not be reached (${e.message}).` });
    }
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
    if (!res.ok) {
      const err = new ApiError(res.status, data);
      if (res.status === 401 && !key) expired(err);
      throw err;
    }
    return data;
  }

  // ---------------------------------------------------------------- state

  const state = {
    me: null,
    range: presetRange('30d'),
    program: null,
    programs: [],
    rankBy: 'revenue',
    horizon: 30,
    session: 0,
    loading: 0,
    figures: {},
    memo: new Map(),
  };

  // ---------------------------------------------------------------- charts

  const PLOT_HEIGHT = 240;
  const redraws = new WeakMap();
  const observed = new Set();
  const resizer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const r = redraws.get(e.target);
      if (r && Math.abs(e.contentRect.width - r.width) > 4) r.draw();
    }
  });

  /** Draw `draw(width)` into `host` now and again whenever its width changes. */
  function drawInto(host, draw) {
    const entry = {
      width: 0,
      draw() {
        entry.width = host.clientWidth;
        host.replaceChildren(draw(Math.max(entry.width, 280)));
      },
    };
    redraws.set(host, entry);
    entry.draw();
    // Charts replaced by a newer drawing are no longer watched.
    for (const old of observed) {
      if (!old.isConnected) {
        resizer.unobserve(old);
        observed.delete(old);
      }
    }
    resizer.observe(host);
    observed.add(host);
  }

  /** About five round steps from `lo` to `hi`. */
  function ticks(lo, hi, n = 5) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((k) => k >= raw) || raw;
    const start = Math.floor(lo / step) * step;
    const out = [];
    for (let v = start; v <= hi + step * 1e-9; v += step) out.push(Number(v.toFixed(10)));
    if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
    return out;
  }

  function svgRoot(width, height, label) {
    return s('svg', {
      class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label,
    });
  }

  /** Indices to label on an x axis of `n` points, about every `gap` pixels. */
  function labelIndices(n, plotWidth, gap = 80) {
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotWidth / gap))));
    const out = [];
    for (let i = 0; i < n; i += every) out.push(i);
    if (n > 1 && out[out.length - 1] !== n - 1 && (n - 1 - out[out.length - 1]) * (plotWidth / n) > gap / 2) out.push(n - 1);
    return out;
  }

  function legend(items) {
    return h('ul', { class: 'legend', 'aria-hidden': 'true' },
      items.map((it) => h('li', null, h('span', { class: `swatch ${it.cls}` }), it.name)));
  }

  /**
   * A line chart over `labels` (days): `series` of {name, cls, values}, an optional
   * `band` {lower, upper, cls} (NaN where absent), y labels by `yFormat`, a native
   * tooltip per point by `tip(i)`.
   */
  function lineChart({ labels, series, band, interval = 'day', yFormat, tip, label, marker, height = PLOT_HEIGHT }) {
    return (width) => {
      const m = { l: 64, r: 16, t: 14, b: 28 };
      const pw = width - m.l - m.r, ph = height - m.t - m.b;
      const n = labels.length;
      const all = series.flatMap((x) => x.values).concat(band ? band.lower.concat(band.upper) : [])
        .filter((v) => Number.isFinite(v));
      const lo = Math.min(0, ...all), hi = Math.max(0, ...all);
      const yt = ticks(lo, hi);
      const y0 = yt[0], y1 = yt[yt.length - 1];
      const x = (i) => m.l + (n <= 1 ? pw / 2 : (i * pw) / (n - 1));
      const y = (v) => m.t + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
      const svg = svgRoot(width, height, label);
      const grid = s('g', { class: 'grid-lines' });
      for (const t of yt) {
        grid.append(s('line', { x1: m.l, x2: width - m.r, y1: y(t), y2: y(t), class: t === 0 ? 'axis-zero' : 'grid-line' }));
        grid.append(s('text', { x: m.l - 8, y: y(t) + 4, class: 'axis-label', 'text-anchor': 'end', text: yFormat(t) }));
      }
      for (const i of labelIndices(n, pw)) {
        grid.append(s('text', { x: x(i), y: height - 8, class: 'axis-label', 'text-anchor': n <= 1 ? 'middle' : i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle', text: dayLabel(labels[i], interval) }));
      }
      svg.append(grid);
      if (marker !== undefined && marker > 0 && marker < n) {
        svg.append(s('line', { x1: x(marker - 0.5), x2: x(marker - 0.5), y1: m.t, y2: m.t + ph, class: 'marker-line' }));
        svg.append(s('text', { x: x(marker - 0.5) + 6, y: m.t + 10, class: 'axis-label', text: 'forecast' }));
      }
      if (band) {
        const idx = labels.map((_, i) => i).filter((i) => Number.isFinite(band.lower[i]) && Number.isFinite(band.upper[i]));
        if (idx.length) {
          const up = idx.map((i, k) => `${k ? 'L' : 'M'}${x(i).toFixed(1)},${y(band.upper[i]).toFixed(1)}`).join('');
          const down = idx.slice().reverse().map((i) => `L${x(i).toFixed(1)},${y(band.lower[i]).toFixed(1)}`).join('');
          svg.append(s('path', { d: `${up}${down}Z`, class: `band ${band.cls || ''}`, 'data-testid': 'chart-band' }));
        }
      }
      for (const ser of series) {
        let d = '';
        let pen = false;
        ser.values.forEach((v, i) => {
          if (!Number.isFinite(v)) { pen = false; return; }
          d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
          pen = true;
        });
        if (n === 1 && Number.isFinite(ser.values[0])) d = `M${m.l},${y(ser.values[0]).toFixed(1)}L${width - m.r},${y(ser.values[0]).toFixed(1)}`;
        svg.append(s('path', { d, class: `line ${ser.cls}`, fill: 'none' }));
        if (n <= 45 && !ser.noDots) {
          const dots = s('g', { class: `dots ${ser.cls}` });
          ser.values.forEach((v, i) => { if (Number.isFinite(v)) dots.append(s('circle', { cx: x(i), cy: y(v), r: 2.5 })); });
          svg.append(dots);
        }
      }
      if (tip) {
        const hover = s('g', { class: 'hover' });
        const w = n <= 1 ? pw : pw / (n - 1);
        for (let i = 0; i < n; i += 1) {
          hover.append(s('rect', { x: x(i) - w / 2, y: m.t, width: w, height: ph, class: 'hover-target' }, s('title', { text: tip(i) })));
        }
        svg.append(hover);
      }
      return svg;
    };
  }

  /** Columns, stacked when there are several `stacks` of {name, cls, values}. */
  function columnChart({ labels, stacks, yFormat = count, label, labelOf = (l) => l, tip, everyLabel = false }) {
    return (width) => {
      const height = PLOT_HEIGHT;
      const m = { l: 48, r: 12, t: 14, b: 38 };
      const pw = width - m.l - m.r, ph = height - m.t - m.b;
      const n = labels.length;
      const totals = labels.map((_, i) => stacks.reduce((a, st) => a + (st.values[i] || 0), 0));
      const yt = ticks(0, Math.max(1, ...totals));
      const top = yt[yt.length - 1];
      const y = (v) => m.t + ph - (v / top) * ph;
      const band = pw / Math.max(n, 1);
      const bw = Math.max(2, Math.min(48, band * 0.7));
      const svg = svgRoot(width, height, label);
      const grid = s('g', { class: 'grid-lines' });
      for (const t of yt) {
        grid.append(s('line', { x1: m.l, x2: width - m.r, y1: y(t), y2: y(t), class: t === 0 ? 'axis-zero' : 'grid-line' }));
        grid.append(s('text', { x: m.l - 8, y: y(t) + 4, class: 'axis-label', 'text-anchor': 'end', text: yFormat(t) }));
      }
      const shown = new Set(everyLabel ? labels.map((_, i) => i) : labelIndices(n, pw, 64));
      labels.forEach((l, i) => {
        if (!shown.has(i)) return;
        const text = String(labelOf(l));
        const words = text.split(' ');
        // Two lines when a label of several words is long for its column (a date stays whole).
        const cut = words.length > 2 && text.length * 6 > band ? Math.ceil(words.length / 2) : words.length;
        const t = s('text', { x: m.l + band * (i + 0.5), y: height - 22, class: 'axis-label', 'text-anchor': 'middle' });
        t.append(s('tspan', { x: m.l + band * (i + 0.5), dy: 0, text: words.slice(0, cut).join(' ') }));
        if (cut < words.length) t.append(s('tspan', { x: m.l + band * (i + 0.5), dy: 13, text: words.slice(cut).join(' ') }));
        grid.append(t);
      });
      svg.append(grid);
      labels.forEach((l, i) => {
        let base = 0;
        const g = s('g', { class: 'column' });
        for (const st of stacks) {
          const v = st.values[i] || 0;
          if (v > 0) {
            g.append(s('rect', {
              x: m.l + band * (i + 0.5) - bw / 2, y: y(base + v), width: bw, height: Math.max(1, y(base) - y(base + v)),
              class: `bar ${st.cls}`, rx: 2,
            }));
          }
          base += v;
        }
        if (!g.childNodes.length) {
          g.append(s('rect', { x: m.l + band * (i + 0.5) - bw / 2, y: y(0) - 1, width: bw, height: 1, class: 'bar empty' }));
        }
        if (tip) g.append(s('title', { text: tip(i) }));
        svg.append(g);
      });
      return svg;
    };
  }

  /** The funnel: one horizontal bar per step, with each step's rate. */
  function funnelChart(totals, label) {
    const steps = [
      { name: 'Clicks', value: totals.clicks, cls: 's1' },
      { name: 'Leads', value: totals.leads, cls: 's2', rate: totals.click_to_lead, rateName: 'of clicks' },
      { name: 'Sales', value: totals.sales, cls: 's3', rate: totals.lead_to_sale, rateName: 'of leads' },
    ];
    return (width) => {
      const rowH = 56, top = 8, labelW = 64, valueW = 150;
      const height = top + steps.length * rowH;
      const max = Math.max(1, ...steps.map((st) => st.value));
      const pw = Math.max(40, width - labelW - valueW - 8);
      const svg = svgRoot(width, height, label);
      steps.forEach((st, i) => {
        const yy = top + i * rowH;
        const w = Math.max(2, (st.value / max) * pw);
        svg.append(s('text', { x: 0, y: yy + 24, class: 'bar-label', text: st.name }));
        svg.append(s('rect', { x: labelW, y: yy + 8, width: pw, height: 26, rx: 4, class: 'bar track' }));
        svg.append(s('rect', { x: labelW, y: yy + 8, width: w, height: 26, rx: 4, class: `bar ${st.cls}` },
          s('title', { text: `${st.name}: ${count(st.value)}` })));
        svg.append(s('text', { x: labelW + pw + 10, y: yy + 20, class: 'bar-value', text: count(st.value) }));
        if (st.rate !== undefined) {
          svg.append(s('text', { x: labelW + pw + 10, y: yy + 36, class: 'axis-label', text: `${pct(st.rate)} ${st.rateName}` }));
        }
      });
      return svg;
    };
  }

  /** Horizontal bars, one per label, with its count at the end. */
  function barChart({ labels, values, label }) {
    return (width) => {
      const rowH = 26, labelW = 104, valueW = 44;
      const height = labels.length * rowH;
      const max = Math.max(1, ...values);
      const pw = Math.max(40, width - labelW - valueW);
      const svg = svgRoot(width, height, label);
      labels.forEach((l, i) => {
        const yy = i * rowH;
        svg.append(s('text', { x: labelW - 10, y: yy + 17, class: 'axis-label', 'text-anchor': 'end', text: l }));
        svg.append(s('rect', { x: labelW, y: yy + 5, width: pw, height: 16, rx: 3, class: 'bar track' }));
        if (values[i] > 0) {
          svg.append(s('rect', { x: labelW, y: yy + 5, width: Math.max(2, (values[i] / max) * pw), height: 16, rx: 3, class: 'bar c1' },
            s('title', { text: `${l}: ${count(values[i])} sales` })));
        }
        svg.append(s('text', { x: labelW + pw + 8, y: yy + 17, class: 'bar-count', text: count(values[i]) }));
      });
      return svg;
    };
  }

  // ---------------------------------------------------------------- building blocks

  function kpi(label, value, { testid, raw, sub, tone } = {}) {
    return h('div', { class: `kpi${tone ? ` ${tone}` : ''}` },
      h('div', { class: 'kpi-label', text: label }),
      h('div', { class: 'kpi-value', text: value, dataset: raw === undefined ? (testid ? { testid } : {}) : { testid: testid || '', value: raw } }),
      sub ? h('div', { class: 'kpi-sub', text: sub }) : null);
  }

  /** A table: `columns` of {label, num, cell(row) → text | Node, value(row) → raw}. */
  function table({ columns, rows, testid, caption, rowKey }) {
    const thead = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null, text: c.label }))));
    const tbody = h('tbody', null, rows.map((r) => h('tr', { dataset: rowKey ? { key: rowKey(r) } : {} },
      columns.map((c, j) => {
        const v = c.cell(r);
        const raw = c.value ? c.value(r) : undefined;
        const props = { class: [c.num ? 'num' : '', c.cls ? c.cls(r) : ''].join(' ').trim() || null, dataset: raw === undefined || raw === null ? {} : { value: String(raw) } };
        return j === 0 && c.header ? h('th', { scope: 'row', ...props }, v) : h('td', props, v);
      }))));
    return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
      h('table', { class: 'data', 'data-testid': testid }, h('caption', { class: 'visually-hidden', text: caption }), thead, tbody));
  }

  function empty(text, testid) {
    return h('div', { class: 'empty', 'data-testid': testid, text });
  }

  function badge(text, tone) {
    return h('span', { class: `badge ${tone}`, text });
  }

  /** A panel: a card with a heading, optional controls, an error line and a body. */
  function panel(id, title, { span = 6, controls = null, subtitle = null } = {}) {
    const body = h('div', { class: 'panel-body' });
    const error = h('p', { class: 'error panel-error', role: 'alert', hidden: true, 'data-testid': `${id}-error` });
    const sub = h('p', { class: 'panel-sub muted', text: subtitle || '', hidden: !subtitle });
    const el = h('section', { class: `card panel span-${span}`, 'aria-labelledby': `${id}-title`, 'data-panel': id },
      h('div', { class: 'panel-head' }, h('div', null, h('h2', { id: `${id}-title`, text: title }), sub), controls),
      error, body);
    return { id, el, body, error, sub };
  }

  // ---------------------------------------------------------------- loading

  /**
   * Load panels: each `{panel, load}` runs on its own, so one failing shows its problem
   * and leaves the others drawn. When no panel is loading any more, the page says it is
   * ready and records when the last chart was drawn.
   */
  function refresh(list) {
    state.memo = new Map();
    document.body.dataset.ready = 'false';
    // A fault of the page itself (not an API error) goes to the console, where the browser
    // test looks for it.
    return Promise.all(list.map((p) => runPanel(p).catch((e) => console.error('dashboard:', e))));
  }

  async function runPanel(p) {
    const gen = p.gen = (p.gen || 0) + 1;
    const session = state.session;
    const current = () => gen === p.gen && session === state.session;
    state.loading += 1;
    p.panel.el.setAttribute('aria-busy', 'true');
    p.panel.el.classList.add('loading');
    try {
      const data = await p.fetch();
      if (!current()) return;
      p.panel.error.hidden = true;
      p.panel.error.textContent = '';
      p.render(data);
    } catch (e) {
      if (!current()) return;
      const err = e instanceof ApiError ? e : new ApiError(0, { detail: String((e && e.message) || e) });
      if (!(e instanceof ApiError)) console.error(e);
      if (p.fail && p.fail(err)) return;
      fill(p.panel.body);
      p.panel.error.textContent = err.detail;
      p.panel.error.hidden = false;
      state.figures[p.panel.id] = { error: err.detail, status: err.status };
    } finally {
      if (current()) {
        p.panel.el.removeAttribute('aria-busy');
        p.panel.el.classList.remove('loading');
      }
      state.loading -= 1;
      if (state.loading === 0 && session === state.session) await settled(session);
    }
  }

  /** Every panel drawn: say so once the frame is painted. */
  async function settled(session) {
    await nextFrame();
    if (state.loading !== 0 || session !== state.session) return;
    markReady();
  }

  function markReady() {
    window.__accrue = {
      drawnAt: performance.now(),
      view: state.me ? state.me.scope : 'signin',
      figures: JSON.parse(JSON.stringify(state.figures)),
    };
    document.body.dataset.ready = 'true';
  }

  function rangeQuery(extra = {}) {
    return { ...extra, from: state.range.from, to: state.range.to, time_zone: TIME_ZONE, interval: state.range.interval };
  }

  /** One request per refresh, shared by the panels that read it. */
  function shared() {
    return (path) => {
      if (!state.memo.has(path)) state.memo.set(path, api(path));
      return state.memo.get(path);
    };
  }

  // ---------------------------------------------------------------- shared panels

  function revenuePanel(get, q, title, { span = 8, height = PLOT_HEIGHT } = {}) {
    const p = panel('revenue', title, { span });
    return {
      panel: p,
      fetch: () => get(`/affiliate/analytics/revenue${qs(q())}`),
      render(r) {
        const c = r.program_currency;
        const t = r.program_currency_totals;
        state.figures.revenue = {
          currency: c, net_revenue: t.net_revenue, revenue: t.revenue, refunded: t.refunded,
          earnings: t.earnings, conversions: t.conversions, points: r.series.length, unconverted: r.unconverted,
        };
        const kpis = h('div', { class: 'kpis' },
          kpi('Net revenue', money(t.net_revenue, c), { testid: 'revenue-total', raw: t.net_revenue, sub: `${money(t.revenue, c)} gross` }),
          kpi('Refunded', money(t.refunded, c), { testid: 'refunded-total', raw: t.refunded }),
          kpi('Partner earnings', money(t.earnings, c), { testid: 'earnings-total', raw: t.earnings, sub: `${money(t.commissions, c)} commissions` }),
          kpi('Conversions', count(t.conversions), { testid: 'conversions-total', raw: String(t.conversions), sub: `${count(t.new_customers)} new · ${count(t.returning_customers)} returning` }));
        const chart = h('div', { class: 'chart-host', 'data-testid': 'revenue-chart' });
        const labels = r.series.map((pt) => pt.from);
        fill(p.body, kpis, legend([{ name: 'Net revenue', cls: 'c1' }, { name: 'Earnings', cls: 'c2' }]), chart);
        if (r.unconverted) p.body.append(h('p', { class: 'muted small', text: `${count(r.unconverted)} facts in a currency with no rate recorded are left out.` }));
        drawInto(chart, lineChart({
          labels,
          height,
          interval: r.interval,
          label: `Net revenue and partner earnings per ${r.interval}, ${longDay(r.from)} to ${longDay(r.to)}, in ${c}. Net revenue in all: ${money(t.net_revenue, c)}.`,
          series: [
            { name: 'Net revenue', cls: 'c1', values: r.series.map((pt) => Number(pt.program_currency.net_revenue)) },
            { name: 'Earnings', cls: 'c2', values: r.series.map((pt) => Number(pt.program_currency.earnings)) },
          ],
          yFormat: (v) => moneyAxis(v, c),
          tip: (i) => {
            const pt = r.series[i];
            return `${bucketRange(pt, r.interval)}\nNet revenue ${money(pt.program_currency.net_revenue, c)}\nEarnings ${money(pt.program_currency.earnings, c)}\nConversions ${count(pt.program_currency.conversions)}`;
          },
        }));
      },
    };
  }

  // ---------------------------------------------------------------- the partner's view

  function partnerView() {
    const me = state.me;
    const get = shared();
    const q = () => rangeQuery();
    const pid = encodeURIComponent(me.partner_id);

    const revenue = revenuePanel(get, q, 'Revenue');

    const roiP = panel('roi', 'Return on investment', { span: 3, subtitle: 'Net revenue against what partners cost' });
    const roi = {
      panel: roiP,
      fetch: () => Promise.all([get(`/affiliate/analytics/roi${qs(q())}`)]),
      render([r]) {
        const c = r.program_currency;
        state.figures.roi = r.total;
        fill(roiP.body, h('div', { class: 'kpis stack' },
          kpi('ROI', pct(r.total.roi), { testid: 'roi-value', raw: r.total.roi === null ? '' : r.total.roi, tone: 'big' }),
          kpi('Net revenue', money(r.total.revenue, c), { testid: 'roi-revenue', raw: r.total.revenue }),
          kpi('Cost', money(r.total.cost, c), { testid: 'roi-cost', raw: r.total.cost })));
      },
    };

    const funnelP = panel('funnel', 'Funnel', { span: 5, subtitle: 'Clicks → leads → sales' });
    const funnel = {
      panel: funnelP,
      fetch: () => get(`/affiliate/analytics/conversions${qs(q())}`),
      render(r) {
        const t = r.totals;
        state.figures.funnel = t;
        const chart = h('div', { class: 'chart-host', 'data-testid': 'funnel-chart' });
        fill(funnelP.body, chart, h('dl', { class: 'facts' },
          h('div', null, h('dt', { text: 'Clicks' }), h('dd', { 'data-testid': 'funnel-clicks', 'data-value': String(t.clicks), text: count(t.clicks) })),
          h('div', null, h('dt', { text: 'Leads' }), h('dd', { 'data-testid': 'funnel-leads', 'data-value': String(t.leads), text: count(t.leads) })),
          h('div', null, h('dt', { text: 'Sales' }), h('dd', { 'data-testid': 'funnel-sales', 'data-value': String(t.sales), text: count(t.sales) })),
          h('div', null, h('dt', { text: 'Click → sale' }), h('dd', { 'data-testid': 'funnel-click-to-sale', 'data-value': t.click_to_sale ?? '', text: pct(t.click_to_sale, 2) }))));
        drawInto(chart, funnelChart(t, `Funnel: ${count(t.clicks)} clicks, ${count(t.leads)} leads (${pct(t.click_to_lead)} of clicks), ${count(t.sales)} sales (${pct(t.lead_to_sale)} of leads).`));
      },
    };

    const ttcP = panel('ttc', 'Time to convert', { span: 4, subtitle: 'Click to sale, for sales that named their click' });
    const ttc = {
      panel: ttcP,
      fetch: () => get(`/affiliate/analytics/conversions${qs(q())}`),
      render(r) {
        const b = r.time_to_convert;
        state.figures.time_to_convert = b;
        const chart = h('div', { class: 'chart-host', 'data-testid': 'ttc-chart' });
        fill(ttcP.body, chart);
        drawInto(chart, barChart({
          labels: b.map((x) => x.bucket),
          values: b.map((x) => x.sales),
          label: `Sales by time from click to sale: ${b.map((x) => `${x.bucket} ${x.sales}`).join(', ')}.`,
        }));
      },
    };

    const custP = panel('customers', 'Customers', { span: 7, subtitle: 'First purchases against returning customers' });
    const customers = {
      panel: custP,
      fetch: () => get(`/affiliate/analytics/customers${qs(q())}`),
      render(r) {
        const clv = r.clv;
        state.figures.customers = { new: r.new, returning: r.returning, customers: r.customers, clv };
        const chart = h('div', { class: 'chart-host', 'data-testid': 'customers-chart' });
        fill(custP.body, 
          h('div', { class: 'kpis' },
            kpi('First purchases', count(r.new), { testid: 'customers-new', raw: String(r.new) }),
            kpi('Returning purchases', count(r.returning), { testid: 'customers-returning', raw: String(r.returning) }),
            kpi('Customers to date', count(r.customers), { testid: 'customers-acquired', raw: String(r.customers), sub: 'every cohort, all time' })),
          legend([{ name: 'New', cls: 'c1' }, { name: 'Returning', cls: 'c3' }]),
          chart);
        drawInto(chart, columnChart({
          labels: r.series.map((pt) => pt.from),
          labelOf: (l) => dayLabel(l, r.interval),
          stacks: [
            { name: 'New', cls: 'c1', values: r.series.map((pt) => pt.new) },
            { name: 'Returning', cls: 'c3', values: r.series.map((pt) => pt.returning) },
          ],
          label: `Purchases per ${r.interval}: ${count(r.new)} first purchases and ${count(r.returning)} by returning customers.`,
          tip: (i) => `${bucketRange(r.series[i], r.interval)}\nNew ${count(r.series[i].new)}\nReturning ${count(r.series[i].returning)}`,
        }));
      },
    };

    const cohortP = panel('cohorts', 'Lifetime value and cohorts', { span: 5, subtitle: 'Customers by first-purchase month, and the share who bought again in each month after' });
    const cohorts = {
      panel: cohortP,
      fetch: () => get(`/affiliate/analytics/customers${qs(q())}`),
      render(r) {
        const clv = r.clv;
        state.figures.cohorts = r.cohorts.map((c) => ({ month: c.month, size: c.size, retention: c.retention }));
        state.figures.clv = clv;
        const value = [
          h('div', { class: 'kpis' },
            kpi('Lifetime value so far', money(clv.historical, clv.currency), { testid: 'clv-historical', raw: clv.historical, sub: `${money(clv.average_order, clv.currency)} per order` }),
            kpi(`Projected, ${clv.horizon_months} months`, clv.projected === null ? '—' : money(clv.projected, clv.currency), {
              testid: 'clv-projected', raw: clv.projected ?? '',
              sub: clv.projected === null ? 'not enough history' : (clv.monthly_retention === null ? null : `${pct(clv.monthly_retention)} kept each month`),
            })),
          h('p', { class: 'muted small method', 'data-testid': 'clv-method', text: clv.method }),
        ];
        if (!r.cohorts.length) {
          fill(cohortP.body, ...value, empty('No customers acquired in this range.', 'cohort-table'));
          return;
        }
        const width = Math.max(...r.cohorts.map((c) => c.retention.length));
        const cols = [
          { label: 'Cohort', header: true, cell: (c) => monthLabel(c.month) },
          { label: 'Customers', num: true, cell: (c) => count(c.size), value: (c) => c.size },
        ];
        for (let k = 0; k < width; k += 1) {
          cols.push({
            label: k === 0 ? 'M0' : `M${k}`, num: true,
            cell: (c) => (k < c.retention.length ? pct(c.retention[k], 0) : ''),
            value: (c) => (k < c.retention.length ? c.retention[k] : null),
            cls: (c) => (k < c.retention.length ? `heat heat-${heat(c.retention[k])}` : 'heat-none'),
          });
        }
        const avg = r.retention.slice(0, width);
        fill(cohortP.body, ...value,
          table({ columns: cols, rows: r.cohorts, testid: 'cohort-table', caption: 'Retention by cohort', rowKey: (c) => c.month }),
          h('p', { class: 'muted small' }, 'Average retention: ',
            avg.map((v, k) => `M${k} ${pct(v, 0)}`).join(' · ')));
      },
    };

    const balanceP = panel('balance-panel', 'Balance', { span: 4, subtitle: 'Commissions by state, per payout currency' });
    const balance = {
      panel: balanceP,
      fetch: () => api(`/v1/partners/${pid}/balance`),
      render(b) {
        state.figures.balance = b.balances;
        if (!b.balances.length) {
          fill(balanceP.body, empty('No commissions yet.', 'balance'));
          return;
        }
        const rows = [
          ['Pending (in hold)', 'pending'], ['Approved', 'approved'], ['Payable next run', 'payable'],
          ['In a payout', 'in_payout'], ['Frozen (disputes)', 'frozen'], ['Paid out', 'paid'],
          ['Tax withheld', 'withheld'], ['Fees', 'fees'], ['Total', 'total'],
        ];
        fill(balanceP.body, h('div', { 'data-testid': 'balance', class: 'balances' },
          b.balances.map((x) => h('div', { class: 'balance', 'data-currency': x.currency },
            h('div', { class: 'kpis' },
              kpi(`Payable (${x.currency})`, money(x.payable, x.currency), { testid: 'balance-payable', raw: x.payable, tone: 'big' }),
              kpi('Pending', money(x.pending, x.currency), { testid: 'balance-pending', raw: x.pending })),
            h('dl', { class: 'ledger' }, rows.map(([label, k]) => h('div', { class: k === 'total' ? 'total' : null },
              h('dt', { text: label }),
              h('dd', { 'data-field': k, 'data-value': x[k], text: money(x[k], x.currency) }))))))));
      },
    };

    const payoutsP = panel('payouts', 'Payouts', { span: 12, subtitle: 'Payout items, newest first' });
    const payouts = {
      panel: payoutsP,
      fetch: () => api(`/v1/partners/${pid}/payouts`),
      render(r) {
        state.figures.payouts = r.items.map((i) => ({ id: i.id, net: i.net, currency: i.currency, status: i.status }));
        if (!r.items.length) {
          fill(payoutsP.body, empty('No payouts yet. Approved commissions are paid on the program\'s payout schedule.', 'payouts-table'));
          return;
        }
        fill(payoutsP.body, table({
          testid: 'payouts-table', caption: 'Payouts', rowKey: (i) => i.id,
          rows: r.items,
          columns: [
            { label: 'Created', header: true, cell: (i) => dateTime(i.created_at) },
            { label: 'Status', cell: (i) => badge(i.status, statusTone(i.status)) },
            { label: 'Method', cell: (i) => i.method || '—' },
            { label: 'Gross', num: true, cell: (i) => money(i.gross, i.currency), value: (i) => i.gross },
            { label: 'Withheld', num: true, cell: (i) => money(i.withholding, i.currency), value: (i) => i.withholding },
            { label: 'Fee', num: true, cell: (i) => money(i.fee, i.currency), value: (i) => i.fee },
            { label: 'Net', num: true, cell: (i) => money(i.net, i.currency), value: (i) => i.net },
            { label: 'Note', cell: (i) => i.hold_reason || '' },
          ],
        }));
      },
    };

    return [revenue, balance, roi, funnel, ttc, customers, cohorts, payouts];
  }

  function heat(ratio) {
    const v = Number(ratio);
    if (!Number.isFinite(v) || v <= 0) return 0;
    return Math.min(10, Math.max(1, Math.round(v * 10)));
  }

  function statusTone(status) {
    return { paid: 'good', sent: 'info', pending: 'info', held: 'warn', failed: 'bad', returned: 'bad' }[status] || 'info';
  }

  // ---------------------------------------------------------------- the admin's view

  function adminView() {
    const get = shared();
    const program = () => state.program;
    const q = () => rangeQuery({ program_id: program().id });

    const revenue = revenuePanel(get, q, 'Program revenue', { span: 7, height: 270 });

    const byId = 'ranking-by';
    const bySelect = h('select', { id: byId, 'data-testid': 'ranking-by' },
      [['revenue', 'Net revenue'], ['conversions', 'Conversions'], ['roi', 'ROI'], ['growth', 'Growth']]
        .map(([v, t]) => h('option', { value: v, text: t, selected: v === state.rankBy })));
    const rankP = panel('ranking', 'Partner ranking', {
      span: 12,
      controls: h('div', { class: 'field inline' }, h('label', { for: byId, text: 'Rank by' }), bySelect),
    });
    const ranking = {
      panel: rankP,
      fetch: () => api(`/affiliate/analytics/ranking${qs({ program_id: program().id, from: state.range.from, to: state.range.to, time_zone: TIME_ZONE, by: state.rankBy })}`),
      render(r) {
        const c = r.program_currency;
        state.figures.ranking = { by: r.by, partners: r.partners };
        if (!r.partners.length) {
          fill(rankP.body, empty('No partner has figures in this range.', 'ranking-table'));
          return;
        }
        fill(rankP.body, table({
          testid: 'ranking-table', caption: `Partners ranked by ${r.by}`, rowKey: (x) => x.partner_id, rows: r.partners,
          columns: [
            { label: '#', header: true, num: true, cell: (x) => String(x.rank), value: (x) => x.rank },
            { label: 'Partner', cell: (x) => x.partner_id, value: (x) => x.partner_id },
            { label: 'Net revenue', num: true, cell: (x) => money(x.revenue, c), value: (x) => x.revenue },
            { label: 'Conversions', num: true, cell: (x) => count(x.conversions), value: (x) => x.conversions },
            { label: 'ROI', num: true, cell: (x) => pct(x.roi), value: (x) => x.roi },
            { label: 'Growth', num: true, cell: (x) => signedPct(x.growth), value: (x) => x.growth, cls: (x) => tone(x.growth) },
            { label: 'Previous period', num: true, cell: (x) => money(x.previous_revenue, c), value: (x) => x.previous_revenue },
          ],
        }));
      },
    };
    bySelect.addEventListener('change', () => {
      state.rankBy = bySelect.value;
      refresh([ranking]);
    });

    const toggle = h('div', { class: 'segmented small', role: 'group', 'aria-label': 'Forecast horizon' },
      [30, 90].map((d) => h('button', { type: 'button', 'data-horizon': String(d), 'aria-pressed': String(state.horizon === d), 'aria-label': `${d} days`, text: `${d} d` })));
    const foreP = panel('forecast', 'Revenue forecast', { span: 5, controls: toggle, subtitle: 'Daily net revenue (UTC), with the forecast\'s interval' });
    let lastForecast = null;
    const forecast = {
      panel: foreP,
      fetch: () => api(`/affiliate/analytics/forecast${qs({ program_id: program().id })}`),
      fail(err) {
        if (err.status !== 409) return false;
        // Too little history: the API's own words instead of a chart.
        state.figures.forecast = { error: err.detail, status: 409 };
        fill(foreP.body, empty(err.detail, 'forecast-unavailable'));
        return true;
      },
      render(f) {
        lastForecast = f;
        drawForecast();
      },
    };
    function drawForecast() {
      const f = lastForecast;
      if (!f) return;
      const hz = state.horizon === 90 ? f.next_90_days : f.next_30_days;
      state.figures.forecast = {
        currency: f.currency,
        next_30_days: { total: f.next_30_days.total, total_lower: f.next_30_days.total_lower, total_upper: f.next_30_days.total_upper },
        next_90_days: { total: f.next_90_days.total, total_lower: f.next_90_days.total_lower, total_upper: f.next_90_days.total_upper },
        horizon: hz.horizon_days,
      };
      const history = f.history.slice(-Math.max(30, Math.min(90, hz.horizon_days)));
      const labels = history.map((p) => p.day).concat(hz.points.map((p) => p.day));
      const nH = history.length;
      const nan = (k) => new Array(k).fill(NaN);
      // The forecast line starts at the last day of history so the two join.
      const lastHist = nH ? [Number(history[nH - 1].revenue)] : [];
      const chart = h('div', { class: 'chart-host', 'data-testid': 'forecast-chart' });
      const bt = hz.backtest;
      fill(foreP.body, 
        h('div', { class: 'kpis' },
          kpi(`Expected, next ${hz.horizon_days} days`, money(hz.total, f.currency), { testid: 'forecast-total', raw: hz.total, tone: 'big',
            sub: `${pct(hz.level, 0)} interval ${money(hz.total_lower, f.currency)} – ${money(hz.total_upper, f.currency)}` })),
        legend([{ name: 'History', cls: 'c1' }, { name: 'Forecast', cls: 'c2' }, { name: `${pct(hz.level, 0)} interval`, cls: 'band-swatch' }]),
        chart,
        h('p', { class: 'muted small method', 'data-testid': 'forecast-method' }, hz.method,
          bt ? ` · backtest on ${count(bt.holdout_days)} days: sMAPE ${pct(bt.smape)}, coverage ${pct(bt.coverage, 0)}${bt.mase !== null ? `, MASE ${decimal(bt.mase)}` : ''}` : ' · history too short for a backtest'));
      drawInto(chart, lineChart({
        labels,
        marker: nH,
        label: `Daily net revenue for the last ${nH} days and the forecast for the next ${hz.horizon_days}: ${money(hz.total, f.currency)} expected, ${pct(hz.level, 0)} interval ${money(hz.total_lower, f.currency)} to ${money(hz.total_upper, f.currency)}.`,
        series: [
          { name: 'History', cls: 'c1', values: history.map((p) => Number(p.revenue)).concat(nan(hz.points.length)), noDots: true },
          { name: 'Forecast', cls: 'c2 dashed', values: nan(Math.max(0, nH - 1)).concat(lastHist, hz.points.map((p) => Number(p.mean))), noDots: true },
        ],
        band: {
          lower: nan(nH).concat(hz.points.map((p) => Number(p.lower))),
          upper: nan(nH).concat(hz.points.map((p) => Number(p.upper))),
        },
        yFormat: (v) => moneyAxis(v, f.currency),
        tip: (i) => (i < nH
          ? `${longDay(history[i].day)}\nNet revenue ${money(history[i].revenue, f.currency)}`
          : `${longDay(hz.points[i - nH].day)}\nExpected ${money(hz.points[i - nH].mean, f.currency)}\nInterval ${money(hz.points[i - nH].lower, f.currency)} – ${money(hz.points[i - nH].upper, f.currency)}`),
      }));
    }
    toggle.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-horizon]');
      if (!b) return;
      state.horizon = Number(b.dataset.horizon);
      for (const x of toggle.querySelectorAll('button')) x.setAttribute('aria-pressed', String(x === b));
      drawForecast();
      if (window.__accrue) window.__accrue.figures = JSON.parse(JSON.stringify(state.figures));
    });

    const churnP = panel('churn', 'Churn risk', { span: 12, subtitle: 'Partners likeliest to stop converting, riskiest first' });
    const churn = {
      panel: churnP,
      fetch: () => api(`/affiliate/analytics/churn${qs({ program_id: program().id })}`),
      render(r) {
        state.figures.churn = { as_of: r.as_of, partners: r.partners.map((p) => ({ partner_id: p.partner_id, score: p.score, band: p.band })), evaluation: r.evaluation };
        const e = r.evaluation;
        const scores = [e.auc !== null ? `AUC ${fixed(e.auc, 2)}` : null, e.brier !== null ? `Brier score ${fixed(e.brier, 3)}` : null,
          e.precision_at_high !== null ? `precision in the high band ${pct(e.precision_at_high, 0)}` : null].filter(Boolean);
        const evalText = `The score checked on history: of ${count(e.partners)} partners scored ${count(e.horizon_days)} days before, ${count(e.churned)} churned` +
          (scores.length ? `; ${scores.join(', ')}` : '');
        if (!r.partners.length) {
          fill(churnP.body, empty('No partner has conversions in the last 120 days.', 'churn-table'));
          return;
        }
        fill(churnP.body, table({
          testid: 'churn-table', caption: 'Churn risk by partner', rowKey: (x) => x.partner_id, rows: r.partners,
          columns: [
            { label: 'Partner', header: true, cell: (x) => x.partner_id, value: (x) => x.partner_id },
            { label: 'Risk', cell: (x) => badge(x.band, { high: 'bad', medium: 'warn', low: 'good' }[x.band] || 'info'), value: (x) => x.band },
            { label: 'Score', num: true, cell: (x) => fixed(x.score, 2), value: (x) => x.score },
            { label: 'Last sale', num: true, cell: (x) => ago(x.days_since_last) },
            { label: 'Last 30 d', num: true, cell: (x) => count(x.recent_30_days) },
            { label: 'Before, a month', num: true, cell: (x) => decimal(x.prior_monthly, 1) },
            { label: 'Why', cell: (x) => h('ul', { class: 'reasons' }, x.reasons.map((t) => h('li', { text: t }))), cls: () => 'wrap' },
          ],
        }), h('p', { class: 'muted small', text: `As of ${longDay(r.as_of)}. ${evalText}.` }));
      },
    };

    const fraudP = panel('fraud', 'Fraud alerts', { span: 12, subtitle: 'Open alerts raised by the fraud rules' });
    const fraud = {
      panel: fraudP,
      fetch: () => api(`/v1/fraud-alerts${qs({ program_id: program().id, status: 'open', limit: 25 })}`),
      fail(err) {
        if (err.status === 404 && err.is('no-such-route')) {
          state.figures.fraud = 'unavailable';
          fill(fraudP.body, empty('Fraud alerts unavailable on this service.', 'fraud-unavailable'));
          return true;
        }
        return false;
      },
      render(r) {
        state.figures.fraud = { items: r.items.map((a) => ({ id: a.id, partner_id: a.partner_id, rule: a.rule, severity: a.severity, status: a.status })), more: Boolean(r.next_cursor) };
        if (!r.items.length) {
          fill(fraudP.body, empty('No open alerts.', 'fraud-table'));
          return;
        }
        fill(fraudP.body, table({
          testid: 'fraud-table', caption: 'Open fraud alerts', rowKey: (a) => a.id, rows: r.items,
          columns: [
            { label: 'Raised', header: true, cell: (a) => dateTime(a.created_at) },
            { label: 'Partner', cell: (a) => a.partner_id || '—', value: (a) => a.partner_id },
            { label: 'Rule', cell: (a) => String(a.rule).replaceAll('_', ' '), value: (a) => a.rule },
            { label: 'Severity', cell: (a) => badge(a.severity, { high: 'bad', medium: 'warn', low: 'info' }[a.severity] || 'info'), value: (a) => a.severity },
            { label: 'Evidence', cell: (a) => evidence(a), cls: () => 'wrap' },
            { label: 'Resolve', cell: (a) => resolveControls(a) },
          ],
        }), r.next_cursor ? h('p', { class: 'muted small', text: 'More open alerts exist; resolve these to see the next ones.' }) : null);
      },
    };
    function evidence(a) {
      const e = a.evidence && typeof a.evidence === 'object' ? a.evidence : {};
      const parts = Object.entries(e).slice(0, 6).map(([k, v]) => `${k.replaceAll('_', ' ')}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
      if (a.conversion_id) parts.unshift(`conversion ${a.conversion_id}`);
      return parts.join(' · ');
    }
    function resolveControls(a) {
      const noteId = `note-${a.id}`;
      const note = h('input', { id: noteId, type: 'text', class: 'note', maxlength: '500', placeholder: 'Note', 'aria-label': `Note on alert ${a.id}` });
      const msg = h('span', { class: 'error small', role: 'alert' });
      const act = (outcome) => async (ev) => {
        const btns = ev.target.parentElement.querySelectorAll('button');
        btns.forEach((b) => { b.disabled = true; });
        msg.textContent = '';
        try {
          await api(`/v1/fraud-alerts/${encodeURIComponent(a.id)}/resolve`, {
            method: 'POST', body: { outcome, note: note.value.trim() || `${outcome} from the dashboard` },
          });
          refresh([fraud]);
        } catch (e) {
          msg.textContent = e.detail || String(e);
          btns.forEach((b) => { b.disabled = false; });
        }
      };
      return h('div', { class: 'actions' }, note,
        h('button', { type: 'button', class: 'button small danger', 'data-action': 'confirm', on: { click: act('confirmed') }, text: 'Confirm' }),
        h('button', { type: 'button', class: 'button small secondary', 'data-action': 'dismiss', on: { click: act('dismissed') }, text: 'Dismiss' }),
        msg);
    }

    return [revenue, forecast, ranking, churn, fraud];
  }

  function tone(ratio) {
    if (ratio === null || ratio === undefined) return '';
    return String(ratio).startsWith('-') ? 'neg' : Number(ratio) > 0 ? 'pos' : '';
  }

  // ---------------------------------------------------------------- the page

  const views = { list: [] };

  function showOnly(id) {
    for (const x of ['signin', 'no-dashboard', 'dashboard']) $(x).hidden = x !== id;
  }

  function signedOut(message) {
    sessionStorage.removeItem(KEY_STORE);
    state.me = null;
    state.session += 1;
    state.figures = {};
    $('panels').replaceChildren();
    $('who').hidden = true;
    $('view-title').textContent = 'Dashboard';
    showOnly('signin');
    const err = $('signin-error');
    err.textContent = message || '';
    err.hidden = !message;
    document.body.dataset.view = 'signin';
    markReady();
    $('api-key').value = '';
    $('api-key').focus();
  }

  /** A 401 after signing in: the key was revoked, or expired. */
  function expired(err) {
    if (state.me) signedOut(`Signed out: ${err.detail}`);
  }

  async function start(key) {
    document.body.dataset.ready = 'false';
    let me;
    try {
      me = await api('/v1/me', { key });
    } catch (e) {
      signedOut(e.detail || String(e));
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    state.me = me;
    $('who').hidden = false;
    $('who-text').textContent = me.scope === 'partner'
      ? `Partner ${me.partner_id} · program ${me.program_id}`
      : me.scope === 'admin' ? 'Administrator' : `Plug-in author · program ${me.program_id}`;
    document.body.dataset.view = me.scope;
    if (me.scope === 'plugin_author') {
      $('no-dashboard-program').textContent = me.program_id || '';
      showOnly('no-dashboard');
      $('view-title').textContent = 'Dashboard';
      markReady();
      return;
    }
    showOnly('dashboard');
    setRangeInputs();
    $('time-zone').textContent = TIME_ZONE;
    if (me.scope === 'admin') {
      $('view-title').textContent = 'Program overview';
      $('program-field').hidden = false;
      const sel = $('program');
      try {
        const list = await api('/v1/programs');
        state.programs = list.items;
      } catch (e) {
        showPanels([]);
        $('panels').replaceChildren(h('p', { class: 'error card', role: 'alert', 'data-testid': 'programs-error', text: e.detail }));
        markReady();
        return;
      }
      if (!state.programs.length) {
        $('panels').replaceChildren(empty('No programs yet: create one with POST /v1/programs.', 'no-programs'));
        markReady();
        return;
      }
      sel.replaceChildren(...state.programs.map((p) => h('option', { value: p.id, text: `${p.name} (${p.currency})` })));
      const remembered = sessionStorage.getItem('accrue.program');
      state.program = state.programs.find((p) => p.id === remembered) || state.programs[0];
      sel.value = state.program.id;
      showPanels(adminView());
    } else {
      $('view-title').textContent = 'Partner';
      $('program-field').hidden = true;
      showPanels(partnerView());
    }
    refresh(views.list);
  }

  function showPanels(list) {
    // Answers still coming for the panels replaced are dropped.
    state.session += 1;
    views.list = list;
    state.figures = {};
    $('panels').replaceChildren(...list.map((p) => p.panel.el));
  }

  function setRangeInputs() {
    $('from').value = state.range.from;
    $('to').value = state.range.to;
    $('interval').value = state.range.interval;
    for (const b of $('presets').querySelectorAll('button')) {
      const r = presetRange(b.dataset.preset);
      b.setAttribute('aria-pressed', String(r.from === state.range.from && r.to === state.range.to));
    }
  }

  let rangeTimer = 0;
  function rangeChanged() {
    const from = $('from').value, to = $('to').value;
    const err = $('range-error');
    if (!from || !to || from > to) {
      err.textContent = !from || !to ? 'Choose both days.' : '"From" is after "to".';
      err.hidden = false;
      return;
    }
    err.hidden = true;
    state.range = { from, to, interval: $('interval').value };
    setRangeInputs();
    clearTimeout(rangeTimer);
    rangeTimer = setTimeout(() => refresh(views.list), 250);
  }

  function wire() {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const key = $('api-key').value.trim();
      if (!key) {
        $('signin-error').textContent = 'Enter an API key.';
        $('signin-error').hidden = false;
        return;
      }
      $('sign-in').disabled = true;
      start(key).finally(() => { $('sign-in').disabled = false; });
    });
    $('sign-out').addEventListener('click', () => signedOut(''));
    $('controls').addEventListener('submit', (e) => e.preventDefault());
    $('from').addEventListener('change', rangeChanged);
    $('to').addEventListener('change', rangeChanged);
    $('interval').addEventListener('change', rangeChanged);
    $('presets').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-preset]');
      if (!b) return;
      const r = presetRange(b.dataset.preset);
      $('from').value = r.from;
      $('to').value = r.to;
      $('interval').value = r.interval;
      rangeChanged();
    });
    $('program').addEventListener('change', () => {
      state.program = state.programs.find((p) => p.id === $('program').value) || state.program;
      sessionStorage.setItem('accrue.program', state.program.id);
      showPanels(adminView());
      refresh(views.list);
    });
  }

  wire();
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) {
    document.body.dataset.ready = 'false';
    start(saved);
  } else {
    signedOut('');
  }
})();
