'use strict';
/*
 * The robust trend of a descriptor-count series: a port of fdscope.trend
 * (src/fdscope/trend/_trend.py), the same method and thresholds, checked
 * against the Python one on the same series (tests/monitor/test_node_monitor.py).
 * Node's own modules only (none at all).
 */

const FULL_EVIDENCE = 20;
const MIN_GROWTH = 2.0;
const PAIRS_CAP = 96;

const num = (a, b) => a - b;

function median(xs) {
  const n = xs.length;
  if (n === 0) return 0;
  const s = Array.from(xs).sort(num);
  const mid = n >> 1;
  return n % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function mad(xs) {
  if (!xs.length) return 0;
  const m = median(xs);
  return 1.4826 * median(xs.map((x) => Math.abs(x - m)));
}

function pyRound(x) {
  // Python's round(x): halves to even (the ties the port can meet)
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function thin(xs, ys) {
  const n = xs.length;
  if (n <= PAIRS_CAP) return [Array.from(xs), Array.from(ys)];
  const idx = [...new Set(Array.from({ length: PAIRS_CAP }, (_, i) => pyRound((i * (n - 1)) / (PAIRS_CAP - 1))))].sort(num);
  return [idx.map((i) => xs[i]), idx.map((i) => ys[i])];
}

function theilSen(xs, ys) {
  const n = xs.length;
  if (n < 2) return [0, n ? ys[0] : 0, 0];
  const [tx, ty] = thin(xs, ys);
  const slopes = [];
  const m = tx.length;
  for (let i = 0; i < m - 1; i++) {
    for (let j = i + 1; j < m; j++) if (tx[j] !== tx[i]) slopes.push((ty[j] - ty[i]) / (tx[j] - tx[i]));
  }
  if (!slopes.length) return [0, median(ys), 0];
  let up = 0;
  let down = 0;
  for (const v of slopes) {
    if (v > 0) up++;
    else if (v < 0) down++;
  }
  const slope = median(slopes);
  const intercept = median(xs.map((x, i) => ys[i] - slope * x));
  return [slope, intercept, (up - down) / slopes.length];
}

function mannKendallThreshold(n, z = 2.58) {
  if (n < 3) return 1;
  return z * Math.sqrt((2 * (2 * n + 5)) / (9 * n * (n - 1)));
}

function drops(ys, thr, typical) {
  const out = [];
  for (let i = 1; i < ys.length - 1; i++) {
    const fall = ys[i - 1] - ys[i];
    if (fall <= thr) continue;
    if (ys[i + 1] - ys[i] - typical > fall / 2) continue;
    if (i >= 2 && ys[i - 1] - ys[i - 2] - typical > fall / 2) continue;
    out.push(i);
  }
  return out;
}

const r4 = (x) => Math.round(x * 1e4) / 1e4;

class Trend {
  constructor(f) {
    Object.assign(this, f);
  }

  get leaking() {
    return this.significant && this.rate > 0 && (this.shape === 'growing' || this.shape === 'sawtooth');
  }

  invocationsToLimit(limit) {
    if (!this.leaking) return null;
    const start = Math.max(this.level, this.last, this.shape === 'sawtooth' ? this.peak : this.level);
    if (start >= limit) return 0;
    return Math.max(0, Math.ceil((limit - start) / this.rate));
  }

  toJSON() {
    const { rate, shape, confidence, points, last, peak, level, noise, drops: d, restarts, significant } = this;
    return { rate, shape, confidence, points, last, peak, level, noise, drops: d, restarts, significant, leaking: this.leaking };
  }
}

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

function insufficient(seg, restarts) {
  const n = seg.length;
  const [slope, intercept] = n >= 2 ? theilSen(range(0, n), seg) : [0, 0, 0];
  return new Trend({
    rate: slope,
    shape: 'insufficient',
    confidence: 0,
    points: n,
    last: n ? seg[n - 1] : 0,
    peak: n ? Math.max(...seg) : 0,
    level: n ? intercept + slope * (n - 1) : 0,
    noise: 0,
    drops: 0,
    restarts,
    significant: false,
  });
}

function analyze(counts, { restarts = [], window = null, minPoints = 6 } = {}) {
  const marks = restarts.filter((i) => i > 0 && i <= counts.length).sort(num);
  let seg = Array.from(counts.slice(marks.length ? marks[marks.length - 1] : 0), Number);
  if (window != null && window > 0) seg = seg.slice(-window);
  const n = seg.length;
  if (n < Math.max(2, minPoints)) return insufficient(seg, marks.length);
  const xs = range(0, n);
  const coverage = Math.min(1, n / FULL_EVIDENCE);
  const [slope, intercept, tau] = theilSen(xs, seg);
  const resid = xs.map((x) => seg[x] - (intercept + slope * x));
  const noise = mad(resid);
  const steps = range(1, n).map((i) => seg[i] - seg[i - 1]);
  const typical = median(steps);
  const thr = Math.max(2, 3 * mad(steps), 2 * Math.abs(typical));
  const dropAt = drops(seg, thr, typical);
  const peak = Math.max(...seg);
  const base = { points: n, last: seg[n - 1], peak, restarts: marks.length };

  if (dropAt.length >= 2) {
    const bounds = [0, ...dropAt, n];
    const tx = [];
    const ty = [];
    const amplitudes = [];
    for (let c = 0; c + 1 < bounds.length; c++) {
      const a = bounds[c];
      const b = bounds[c + 1];
      const order = range(a, b).sort((p, q) => seg[p] - seg[q]);
      const j = order.length >= 3 ? order[1] : order[0];
      tx.push(j);
      ty.push(seg[j]);
      if (b - a >= 2) amplitudes.push(Math.max(...seg.slice(a, b)) - seg[j]);
    }
    const [tSlope, tIcpt, tTau] = theilSen(tx, ty);
    const tNoise = mad(tx.map((x, i) => ty[i] - (tIcpt + tSlope * x)));
    const growth = tSlope * (n - 1);
    const rise = median(ty.slice(-2)) - Math.min(...ty.slice(0, Math.max(1, Math.floor(ty.length / 3))));
    const amplitude = amplitudes.length ? median(amplitudes) : 0;
    const significant =
      Math.abs(growth) >= MIN_GROWTH &&
      Math.abs(growth) > 3 * tNoise &&
      tx.length >= 3 &&
      (tSlope <= 0 || rise >= Math.max(MIN_GROWTH, amplitude / 4));
    const agree = significant
      ? Math.abs(tTau)
      : Math.max(1 - Math.abs(tTau), 1 - Math.max(0, rise) / Math.max(MIN_GROWTH, amplitude / 4));
    const conf = coverage * Math.min(1, dropAt.length / 3) * Math.max(0, agree);
    return new Trend({
      rate: tSlope,
      shape: 'sawtooth',
      confidence: r4(conf),
      level: tIcpt + tSlope * (n - 1),
      noise,
      drops: dropAt.length,
      significant,
      ...base,
    });
  }

  const growth = slope * (n - 1);
  const significant =
    Math.abs(growth) >= MIN_GROWTH && Math.abs(growth) > 3 * noise && Math.abs(tau) > mannKendallThreshold(Math.min(n, PAIRS_CAP));
  const level = intercept + slope * (n - 1);
  const h = n >> 1;
  const fx = xs.slice(0, h + 1);
  const fy = seg.slice(0, h + 1);
  const [fSlope, fIcpt, fTau] = theilSen(fx, fy);
  const fGrowth = fSlope * h;
  if (fGrowth >= MIN_GROWTH) {
    const fNoise = mad(fx.map((x, i) => fy[i] - (fIcpt + fSlope * x)));
    const rx = xs.slice(h);
    const ry = seg.slice(h);
    const [rSlope, rIcpt, rTau] = theilSen(rx, ry);
    const rGrowth = rSlope * (n - 1 - h);
    const rNoise = mad(rx.map((x, i) => ry[i] - (rIcpt + rSlope * x)));
    const rise = median(ry) - fIcpt;
    if (fGrowth > 3 * fNoise && rGrowth < 2 && rGrowth < fGrowth / 4 && rise >= MIN_GROWTH && rise > 3 * rNoise) {
      return new Trend({
        rate: rSlope,
        shape: 'plateau',
        confidence: r4(coverage * Math.max(0, fTau) * (1 - Math.abs(rTau))),
        level: rIcpt + rSlope * (n - 1),
        noise: rNoise,
        drops: dropAt.length,
        significant: false,
        ...base,
      });
    }
  }
  let shape;
  let agree;
  if (significant) {
    shape = slope > 0 ? 'growing' : 'shrinking';
    agree = slope > 0 ? tau : -tau;
  } else {
    shape = noise >= 2 ? 'noisy' : 'flat';
    agree = 1 - Math.abs(tau);
  }
  return new Trend({
    rate: slope,
    shape,
    confidence: r4(coverage * Math.max(0, agree)),
    level,
    noise,
    drops: dropAt.length,
    significant,
    ...base,
  });
}

/* The streaming form, as fdscope.trend.LeakWatch: update(count) per invocation,
 * a re-analysis every `every` updates, skipped while the window is flat. */
class LeakWatch {
  constructor({ window = 48, every = 8, minPoints = 8, minConfidence = 0.5 } = {}) {
    this.window = window;
    this.every = Math.max(1, every);
    this.minPoints = minPoints;
    this.minConfidence = minConfidence;
    this.counts = [];
    this.since = 0;
    this.trend = null;
    this.warned = false;
    this.updates = 0;
  }

  update(count) {
    const c = this.counts;
    c.push(Number(count));
    if (c.length > this.window) c.shift();
    this.updates++;
    this.since++;
    if (this.since < this.every || c.length < this.minPoints) return null;
    this.since = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of c) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi - lo < MIN_GROWTH) {
      this.trend = new Trend({
        rate: 0,
        shape: 'flat',
        confidence: r4(Math.min(1, c.length / FULL_EVIDENCE)),
        points: c.length,
        last: c[c.length - 1],
        peak: hi,
        level: median(c),
        noise: 0,
        drops: 0,
        restarts: 0,
        significant: false,
      });
      return this.trend;
    }
    this.trend = analyze(c, { minPoints: this.minPoints });
    return this.trend;
  }

  warning(limit, within) {
    const t = this.trend;
    if (this.warned || !t || !t.leaking || t.confidence < this.minConfidence) return null;
    const steps = t.invocationsToLimit(limit);
    if (steps == null || steps > within) return null;
    this.warned = true;
    return t;
  }
}

module.exports = { analyze, theilSen, mannKendallThreshold, LeakWatch, Trend, MIN_GROWTH };
