'use strict';
/*
 * fdscope's in-function monitor for Node.js: the Node part of the layer.
 *
 * The same per-invocation EMF record as the Python monitor (fdscope.monitor,
 * docs/formats.md section 4: names, units, namespace, dimension sets and the
 * FDSCOPE_* variables), the leak and near-limit WARNINGs with the projection
 * of the same trend (./trend.js, a port of fdscope.trend), and at EMFILE the
 * handle report (creation sites when origins tracking is on).
 *
 * Fails open: every stage runs guarded; an error inside fdscope is written
 * once per process to stderr and never changes the handler's result, its
 * error object or its output. Node's own modules only, loaded lazily where a
 * cold start can spare them.
 */

const IMPORTED_AT = Date.now();
const fs = require('fs');

const FAULT = process.env.FDSCOPE_NODE_MONITOR_FAULT || ''; // tests only: the stage to break
if (FAULT === 'require') throw new Error('injected fault (require)');

const UNITS = {
  fd_use: 'Count',
  fd_max: 'Count',
  fd_opened: 'Count',
  fd_closed: 'Count',
  fd_net: 'Count',
  new_connections: 'Count',
  threads_max: 'Count',
  used_memory_max: 'Megabytes',
  memory_utilization: 'Percent',
  total_memory: 'Megabytes',
  cpu_user_time: 'Milliseconds',
  cpu_system_time: 'Milliseconds',
  cpu_total_time: 'Milliseconds',
  tmp_used: 'Bytes',
  tmp_max: 'Bytes',
  rx_bytes: 'Bytes',
  tx_bytes: 'Bytes',
  total_network: 'Bytes',
  duration: 'Milliseconds',
  billed_duration: 'Milliseconds',
  init_duration: 'Milliseconds',
};
const DEFAULT_METRICS = ['fd_use', 'fd_net', 'new_connections', 'threads_max', 'duration', 'used_memory_max'];
const DEFAULT_DIMENSIONS = [['function_name'], ['function_name', 'version']];
const STRING_MEMBERS = ['function_name', 'version'];
const DETAIL_FIRST = 8;
const DETAIL_EVERY = 16;
const TOP_SITES = 5;
const MAX_LISTED = 2048;
const NO_FD = new Set(['EMFILE', 'ENFILE']);
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const ORIGINS = Symbol.for('fdscope.origins');

class ConfigError extends Error {
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.name = 'EmfValidationError';
    this.field = field;
  }
}

function intVar(env, name, dflt) {
  const raw = (env[name] || '').trim();
  if (!raw) return dflt;
  if (!/^[+-]?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got '${raw}'`);
  const v = parseInt(raw, 10);
  if (v < 0) throw new ConfigError(name, `must be >= 0, got ${v}`);
  return v;
}

/* The configuration the environment asks for (fdscope.monitor.Config.from_env's rules);
 * an invalid value throws ConfigError. */
function configFromEnv(env = process.env) {
  if (FAULT === 'config') throw new Error('injected fault (config)');
  const constants = {};
  for (const k of Object.keys(env)) {
    if (k.startsWith('FDSCOPE_DIM_') && env[k]) constants[k.slice('FDSCOPE_DIM_'.length)] = env[k];
  }
  const setsRaw = (env.FDSCOPE_DIMENSIONS || '').trim();
  const sets = setsRaw
    ? setsRaw
        .split(';')
        .filter((p) => p.trim())
        .map((p) =>
          p
            .split(',')
            .map((k) => k.trim())
            .filter(Boolean),
        )
    : DEFAULT_DIMENSIONS;
  const known = new Set([...STRING_MEMBERS, ...Object.keys(constants)]);
  for (const s of sets) {
    for (const k of s) {
      if (!known.has(k)) {
        throw new ConfigError('FDSCOPE_DIMENSIONS', `'${k}' is not a string member (known: ${[...known].sort().join(', ')})`);
      }
    }
  }
  const metricsRaw = (env.FDSCOPE_METRICS || '').trim();
  const metrics = metricsRaw
    ? metricsRaw
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean)
    : DEFAULT_METRICS;
  for (const m of metrics) if (!(m in UNITS)) throw new ConfigError('FDSCOPE_METRICS', `'${m}' is not a numeric member`);
  const scan = (env.FDSCOPE_SCAN || 'auto').trim() || 'auto';
  if (!['auto', 'always', 'never'].includes(scan)) throw new ConfigError('FDSCOPE_SCAN', `must be auto, always or never, got '${scan}'`);
  const mem = (env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE || '').trim();
  return {
    enabled: (env.FDSCOPE_MONITOR || '1').trim() !== '0',
    emf: (env.FDSCOPE_EMF || '1').trim() !== '0',
    namespace: (env.FDSCOPE_NAMESPACE || '').trim() || 'fdscope',
    dimensionSets: sets,
    metrics,
    constants,
    warnWithin: intVar(env, 'FDSCOPE_WARN_WITHIN', 200),
    emfileMargin: (env.FDSCOPE_EMFILE_MARGIN || '').trim() ? intVar(env, 'FDSCOPE_EMFILE_MARGIN', 0) : null,
    window: Math.max(8, intVar(env, 'FDSCOPE_WINDOW', 48)),
    scan,
    functionName: (env.AWS_LAMBDA_FUNCTION_NAME || '').trim() || 'unknown',
    version: (env.AWS_LAMBDA_FUNCTION_VERSION || '').trim() || '$LATEST',
    memoryMb: /^\d+$/.test(mem) ? parseInt(mem, 10) : null,
  };
}

// ------------------------------------------------------------ EMFILE evidence
function describe(e) {
  let text;
  try {
    text = e && e.message !== undefined ? String(e.message) : String(e);
  } catch (_) {
    text = '?';
  }
  let name = 'Error';
  try {
    name = (e && e.name) || (e && e.constructor && e.constructor.name) || typeof e;
  } catch (_) {}
  return `${name}: ${text.slice(0, 200)}`;
}

/* Links of an error chain: cause, AggregateError's errors, and the fields libraries
 * wrap the original in (error, originalError, reason). */
function* chain(err) {
  const seen = new Set();
  const queue = [err];
  while (queue.length && seen.size < 32) {
    const e = queue.shift();
    if (e === null || e === undefined || (typeof e !== 'object' && typeof e !== 'function') || seen.has(e)) continue;
    seen.add(e);
    yield e;
    for (const k of ['cause', 'error', 'originalError', 'reason']) {
      try {
        if (e[k] && typeof e[k] === 'object') queue.push(e[k]);
      } catch (_) {}
    }
    try {
      if (Array.isArray(e.errors)) queue.push(...e.errors.slice(0, 16));
    } catch (_) {}
  }
}

/* Why `err` means EMFILE (one line per reason), [] when it does not: the exhaustion
 * table's Node rows (node-uv-emfile, node-uv-enfile: libuv's code and errno, its
 * message) and the 'Too many open files' words, anywhere in the chain. */
function evidence(err) {
  if (err === null || err === undefined) return [];
  const out = [];
  for (const e of chain(err)) {
    let code;
    let errno;
    let msg = '';
    try {
      code = e.code;
      errno = e.errno;
      msg = typeof e.message === 'string' ? e.message : '';
    } catch (_) {
      continue;
    }
    if (code === 'EMFILE' || errno === -24 || msg.includes('EMFILE: too many open files')) {
      out.push(`EMFILE (libuv errno -24) in the error chain: ${describe(e)}`);
    } else if (code === 'ENFILE' || errno === -23 || msg.includes('ENFILE: file table overflow')) {
      out.push(`ENFILE (libuv errno -23, the system's file table) in the error chain: ${describe(e)}`);
    } else if (/Too many open files in system/.test(msg)) {
      out.push(`'Too many open files in system' (ENFILE) in the error chain: ${describe(e)}`);
    } else if (/[Tt]oo many open files/.test(msg)) {
      out.push(`'Too many open files' in the error chain: ${describe(e)}`);
    }
  }
  return out;
}

// ------------------------------------------------------------ connections
let made = 0;
let connectInstalled = false;
function countConnect() {
  made++;
}
/* Count TCP connections made through net.Socket#connect (net.connect, http/https
 * agents, tls.connect, undici's fetch): one on each socket's 'connect' event. */
function installConnections() {
  if (connectInstalled) return true;
  const net = require('net');
  const orig = net.Socket.prototype.connect;
  if (typeof orig !== 'function') return false;
  const counted = function connect(...args) {
    try {
      let o = args[0];
      if (Array.isArray(o)) o = o[0];
      const tcp =
        typeof o === 'number' ||
        (typeof o === 'string' && /^\d+$/.test(o)) ||
        (o !== null && typeof o === 'object' && !o.path && o.port !== undefined);
      if (tcp) this.once('connect', countConnect);
    } catch (_) {}
    return orig.apply(this, args);
  };
  counted.fdscopeOriginal = orig;
  net.Socket.prototype.connect = counted;
  connectInstalled = true;
  return true;
}

// ------------------------------------------------------------ the monitor
const round = (x, d) => {
  const f = 10 ** d;
  return Math.round(x * f) / f;
};

class Monitor {
  constructor(config, { write = null, err = null, proc = '/proc' } = {}) {
    this.config = config || configFromEnv();
    this.writeOut = write;
    this.writeErr = err;
    this.proc = proc;
    this.invocations = 0;
    this.internalErrors = 0;
    this.logged = false;
    this.watch = null;
    this.lastTrend = null;
    this.lastRecord = null;
    this.lastCount = null;
    this.ownCount = null;
    this.fastCount = null;
    this.near = false;
    this.nearWarned = false;
    this.reportedEmfile = false;
    this.emfileInvocations = 0;
    this.heads = new Map();
    this.reserve = [];
    this.limitCache = null;
    this.buf = Buffer.allocUnsafe(4096);
    this.connections = null;
  }

  // -- plumbing
  guard(stage, fn) {
    try {
      if (FAULT === stage) throw new Error(`injected fault (${stage})`);
      return fn();
    } catch (exc) {
      this.internal(stage, exc);
      return null;
    }
  }

  internal(stage, exc) {
    this.internalErrors++;
    if (this.logged) return;
    this.logged = true;
    try {
      const line = `fdscope: internal error in ${stage} (the handler is unaffected; reported once per process): ${describe(exc)}\n`;
      if (this.writeErr) this.writeErr(line);
      else process.stderr.write(line);
    } catch (_) {}
  }

  write(line) {
    if (this.writeOut) this.writeOut(line + '\n');
    else process.stdout.write(line + '\n');
  }

  // -- wrapping: the handler's shape is kept (arity, streaming, name)
  wrap(user) {
    const mon = this;
    let w;
    if (user[HANDLER_STREAMING] !== undefined && user[HANDLER_STREAMING] !== null && user[HANDLER_STREAMING] !== false) {
      w = function (event, responseStream, context) {
        const st = mon.guard('start', () => mon.start(context));
        let r;
        try {
          r = user.apply(this, arguments);
        } catch (e) {
          if (st) mon.end(st, e);
          throw e;
        }
        if (st) mon.after(st, r, true);
        return r;
      };
      w[HANDLER_STREAMING] = user[HANDLER_STREAMING];
      if (user[HANDLER_HIGHWATERMARK] !== undefined) w[HANDLER_HIGHWATERMARK] = user[HANDLER_HIGHWATERMARK];
    } else {
      w = function (event, context, callback) {
        const st = mon.guard('start', () => mon.start(context));
        const args = Array.from(arguments);
        if (st && typeof callback === 'function') {
          args[2] = function (e) {
            mon.end(st, e === undefined || e === null ? null : e);
            return callback.apply(this, arguments);
          };
          mon.guard('context', () => mon.wrapContext(st, context));
        }
        let r;
        try {
          r = user.apply(this, args);
        } catch (e) {
          if (st) mon.end(st, e);
          throw e;
        }
        if (st) mon.after(st, r, user.length < 3);
        return r;
      };
    }
    try {
      Object.defineProperty(w, 'length', { value: user.length });
      Object.defineProperty(w, 'name', { value: user.name });
    } catch (_) {}
    return w;
  }

  wrapContext(st, context) {
    // context.done/succeed/fail end an invocation as the callback does
    if (!context || typeof context !== 'object') return;
    for (const k of ['done', 'succeed', 'fail']) {
      const f = context[k];
      if (typeof f !== 'function') continue;
      const mon = this;
      context[k] = function (a) {
        mon.end(st, k === 'fail' ? a : k === 'done' && a !== undefined && a !== null ? a : null);
        return f.apply(this, arguments);
      };
    }
  }

  after(st, r, endNow) {
    if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
      // a side branch, attached before the runtime's own: the record is written
      // before the response is sent; the promise returned is the handler's own
      r.then(
        () => this.end(st, null),
        (e) => this.end(st, e === undefined ? new Error('undefined rejection') : e),
      );
    } else if (endNow) {
      this.end(st, null);
    }
  }

  end(st, err) {
    if (st.done) return;
    st.done = true;
    if (st.timer) {
      clearTimeout(st.timer);
      st.timer = null;
    }
    this.guard('finish', () => this.finish(st, err, false));
  }

  // -- the invocation
  wantDetail(k) {
    const mode = this.config.scan;
    if (mode === 'always') return true;
    if (mode === 'never') return false;
    const every = Math.max(DETAIL_EVERY, Math.floor((this.lastCount || 0) / 16));
    return k <= DETAIL_FIRST || k % every === 0;
  }

  start(context) {
    const k = ++this.invocations;
    let before = this.lastCount;
    if (this.reserve.length === 0 && !this.reportedEmfile) this.guard('reserve', () => this.keepReserve());
    if (before === null) before = this.guard('count', () => this.countTree());
    let fds = null;
    let net = null;
    let noFd = false;
    if (this.wantDetail(k)) {
      try {
        fds = this.fdNumbers();
        net = this.netBytes();
      } catch (exc) {
        if (NO_FD.has(exc && exc.code)) noFd = true;
        else this.internal('scan', exc);
        fds = net = null;
      }
    }
    if (this.connections === null) this.connections = this.guard('connections', installConnections) === true;
    let rid = '';
    try {
      rid = context && typeof context.awsRequestId === 'string' ? context.awsRequestId : '';
    } catch (_) {}
    const st = {
      invocation: k,
      wall: Date.now(),
      t: process.hrtime.bigint(),
      cpu: process.cpuUsage(),
      before,
      fds,
      net,
      requestId: rid,
      noFd,
      connects: this.connections ? made : null,
      done: false,
      timer: null,
    };
    if (context && typeof context.getRemainingTimeInMillis === 'function') {
      this.guard('deadline', () => this.armDeadline(st, context.getRemainingTimeInMillis()));
    }
    return st;
  }

  /* Shortly before the deadline, an invocation still running is checked: when no
   * descriptor can be had (an open fails: evidence), its record and the EMFILE report
   * are written now, since a handler stuck at EMFILE often never returns. */
  armDeadline(st, left) {
    if (!(left > 0)) return;
    const margin = parseInt(process.env.FDSCOPE_TIMEOUT_MARGIN_MS || '', 10) || Math.min(150, Math.max(20, left / 10));
    st.timer = setTimeout(() => {
      st.timer = null;
      if (st.done) return;
      this.guard('deadline', () => {
        try {
          fs.closeSync(fs.openSync('/dev/null', 'r'));
          return;
        } catch (exc) {
          if (!NO_FD.has(exc && exc.code)) throw exc;
        }
        st.done = true;
        st.noFd = true;
        st.atDeadline = true;
        this.finish(st, null, true);
      });
    }, Math.max(0, left - margin));
    st.timer.unref();
  }

  // -- probes (each may throw; the caller guards)
  softLimit() {
    if (this.limitCache === null) {
      const text = fs.readFileSync(`${this.proc}/self/limits`, 'latin1');
      const m = /^Max open files\s+(\S+)/m.exec(text);
      this.limitCache = m && m[1] !== 'unlimited' ? parseInt(m[1], 10) : 1 << 20;
    }
    return this.limitCache;
  }

  readSmall(path) {
    const fd = fs.openSync(path, 'r');
    try {
      let n = 0;
      for (;;) {
        if (n === this.buf.length) {
          const b = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(b);
          this.buf = b;
        }
        const got = fs.readSync(fd, this.buf, n, this.buf.length - n, null);
        if (got === 0) break;
        n += got;
      }
      return this.buf.toString('latin1', 0, n);
    } finally {
      fs.closeSync(fd);
    }
  }

  fdSize(pid) {
    const n = fs.statSync(`${this.proc}/${pid}/fd`).size;
    if (n <= 0) throw Object.assign(new Error('no fast path'), { noFast: true });
    return n;
  }

  children(pid) {
    // the children of the thread that spawned them: libuv spawns from the loop thread
    try {
      return this.readSmall(`${this.proc}/${pid}/task/${pid}/children`)
        .split(' ')
        .filter((x) => x.trim())
        .map(Number);
    } catch (exc) {
      if (exc && exc.code === 'ENOENT') return [];
      throw exc;
    }
  }

  /* Descriptors of this process and its descendants (Lambda Insights' fd_use): the size
   * of /proc/PID/fd (Linux >= 6.2, no descriptor needed), else a listing. */
  countTree() {
    this.ownCount = null;
    let own;
    if (this.fastCount !== false) {
      try {
        own = this.fdSize('self');
      } catch (exc) {
        if (!exc.noFast) throw exc;
        this.fastCount = false;
      }
    }
    if (own === undefined) own = fs.readdirSync(`${this.proc}/self/fd`).length - 1;
    this.ownCount = own;
    let total = own;
    let queue;
    try {
      queue = this.children(process.pid);
    } catch (exc) {
      if (NO_FD.has(exc && exc.code)) return total;
      throw exc;
    }
    const seen = new Set();
    while (queue.length) {
      const child = queue.pop();
      if (seen.has(child)) continue;
      seen.add(child);
      try {
        total += this.fastCount === false ? fs.readdirSync(`${this.proc}/${child}/fd`).length - 1 : this.fdSize(child);
        queue.push(...this.children(child));
      } catch (exc) {
        if (NO_FD.has(exc && exc.code)) break;
      }
    }
    return total;
  }

  fdNumbers() {
    const probe = fs.openSync('/dev/null', 'r');
    fs.closeSync(probe); // the listing gets this number: the lowest free one
    const out = new Set();
    for (const n of fs.readdirSync(`${this.proc}/self/fd`)) {
      const v = +n;
      if (v !== probe) out.add(v);
    }
    return out;
  }

  netBytes() {
    const lines = this.readSmall(`${this.proc}/self/net/dev`).split('\n');
    let rx = 0;
    let tx = 0;
    for (let i = 2; i < lines.length; i++) {
      const c = lines[i].indexOf(':');
      if (c < 0 || lines[i].slice(0, c).trim() === 'lo') continue;
      const cols = lines[i].slice(c + 1).trim().split(/\s+/);
      if (cols.length >= 9) {
        rx += Number(cols[0]);
        tx += Number(cols[8]);
      }
    }
    return [rx, tx];
  }

  threads() {
    const n = fs.statSync(`${this.proc}/self/task`).nlink - 2;
    return n >= 1 ? n : fs.readdirSync(`${this.proc}/self/task`).length;
  }

  keepReserve() {
    // two descriptors held until EMFILE, when they are let go for the report's reads
    try {
      for (let i = 0; i < 2; i++) this.reserve.push(fs.openSync('/dev/null', 'r'));
    } catch (_) {
      this.releaseReserve();
    }
  }

  releaseReserve() {
    const fds = this.reserve;
    this.reserve = [];
    for (const fd of fds) fs.closeSync(fd);
  }

  // -- after the handler
  finish(st, err, atDeadline) {
    const cfg = this.config;
    const rec = this.guard('measure', () => this.measure(st)) || {};
    const limit = rec.fd_max || this.guard('limit', () => this.softLimit()) || 1024;
    const count = rec.fd_use === undefined ? null : rec.fd_use;
    const margin = cfg.emfileMargin !== null ? cfg.emfileMargin : Math.max(2, Math.min(16, Math.floor(limit / 64)));
    const own = this.ownCount !== null ? this.ownCount : count;
    const ownFailed = Boolean(rec._scan_emfile) || st.noFd;
    delete rec._scan_emfile;
    const near = own !== null && own >= limit - margin;
    let ev = this.guard('emfile', () => {
      const out = [];
      if (ownFailed) {
        const where = atDeadline ? 'probe shortly before the deadline' : 'descriptor listing';
        out.push(`the monitor's own ${where} failed: no descriptor could be had (${own === null ? '?' : own} of ${limit} open)`);
      }
      return out.concat(evidence(err));
    });
    ev = ev || [];
    if (ev.length) {
      this.emfileInvocations++;
      rec.emfile = true;
    }
    let trend = null;
    if (count !== null) trend = this.guard('trend', () => this.updateTrend(count));
    this.lastRecord = rec;
    if (cfg.emf) this.guard('emit', () => this.write(this.encode(st, rec)));
    let crossing = false;
    if (near) {
      crossing = !this.near;
      this.near = true;
    } else if (own !== null) {
      this.near = false;
    }
    if (crossing && !ev.length && own !== null) {
      const line = this.guard('warning', () => this.nearLimit(st, own, count, limit, margin));
      if (line) this.guard('write', () => this.write(line));
    }
    const warning = this.guard('warning', () => this.leakWarning(trend, count, limit, ev));
    if (warning) this.guard('write', () => this.write(warning));
    if (ev.length && !this.reportedEmfile) {
      this.reportedEmfile = true;
      this.guard('report', () => this.emfileReport(st, count, limit, ev));
    }
  }

  measure(st) {
    const cfg = this.config;
    const dur = Number(process.hrtime.bigint() - st.t) / 1e6;
    const cpu = process.cpuUsage(st.cpu);
    const rec = {};
    rec.duration = round(dur, 3);
    rec.billed_duration = Math.max(1, Math.ceil(dur));
    const user = cpu.user / 1000;
    const system = cpu.system / 1000;
    rec.cpu_user_time = round(user, 3);
    rec.cpu_system_time = round(system, 3);
    rec.cpu_total_time = round(user + system, 3);
    let scanEmfile = st.noFd && st.atDeadline;
    const count = this.guard('count', () => this.countTree());
    rec.fd_max = this.softLimit();
    if (count !== null) {
      rec.fd_use = count;
      if (st.before !== null) rec.fd_net = count - st.before;
      this.lastCount = count;
    }
    let opened = null;
    if (st.fds !== null && !st.atDeadline) {
      let after = null;
      try {
        after = this.fdNumbers();
      } catch (exc) {
        if (!NO_FD.has(exc && exc.code)) throw exc;
        scanEmfile = true;
      }
      if (after !== null) {
        opened = 0;
        let closed = 0;
        for (const fd of after) if (!st.fds.has(fd)) opened++;
        for (const fd of st.fds) if (!after.has(fd)) closed++;
        rec.fd_opened = opened;
        rec.fd_closed = closed;
      }
    }
    if (st.connects !== null && connectInstalled && !st.atDeadline) rec.new_connections = made - st.connects;
    if (st.net !== null && !scanEmfile) {
      const net = this.guard('network', () => this.netBytes());
      if (net) {
        rec.rx_bytes = net[0] - st.net[0];
        rec.tx_bytes = net[1] - st.net[1];
        rec.total_network = rec.rx_bytes + rec.tx_bytes;
      }
    }
    const threads = this.guard('threads', () => this.threads());
    if (threads !== null) rec.threads_max = threads;
    const used = round(process.resourceUsage().maxRSS / 1024, 1); // KiB
    rec.used_memory_max = used;
    if (cfg.memoryMb) {
      rec.total_memory = cfg.memoryMb;
      rec.memory_utilization = round((100 * used) / cfg.memoryMb, 1);
    }
    if (typeof fs.statfsSync === 'function') {
      try {
        const v = fs.statfsSync('/tmp');
        rec.tmp_max = v.blocks * v.bsize;
        rec.tmp_used = (v.blocks - v.bfree) * v.bsize;
      } catch (_) {}
    }
    if (st.invocation === 1) {
      rec.cold_start = true;
      rec.init_duration = round(Math.max(0, st.wall - IMPORTED_AT), 3);
    } else {
      rec.cold_start = false;
    }
    if (scanEmfile) rec._scan_emfile = true;
    return rec;
  }

  updateTrend(count) {
    if (this.watch === null) {
      const { LeakWatch } = require('./trend.js');
      this.watch = new LeakWatch({ window: this.config.window });
    }
    const fresh = this.watch.update(count);
    if (fresh) this.lastTrend = fresh;
    return fresh;
  }

  /* The EMF document of one invocation as one JSON line (the directive serialised once
   * per set of metrics present). */
  encode(st, rec) {
    const cfg = this.config;
    const names = cfg.metrics.filter((m) => rec[m] !== undefined && Number.isFinite(rec[m]));
    const key = names.join(',');
    let head = this.heads.get(key);
    if (head === undefined) {
      const directive = {
        Namespace: cfg.namespace,
        Dimensions: cfg.dimensionSets.map((s) => Array.from(s)),
        Metrics: names.map((m) => ({ Name: m, Unit: UNITS[m] })),
      };
      const members = JSON.stringify({ event_type: 'performance', function_name: cfg.functionName, version: cfg.version });
      head = ',"CloudWatchMetrics":' + JSON.stringify([directive]) + '},' + members.slice(1, -1);
      this.heads.set(key, head);
    }
    let out = '{"_aws":{"Timestamp":' + st.wall + head + ',"request_id":' + JSON.stringify(st.requestId) + ',"invocation":' + st.invocation;
    for (const k of Object.keys(cfg.constants)) out += ',' + JSON.stringify(k) + ':' + JSON.stringify(cfg.constants[k]);
    const body = JSON.stringify(rec); // NaN/Infinity become null: never declared above
    return body.length > 2 ? out + ',' + body.slice(1) : out + '}';
  }

  document(st, rec) {
    return JSON.parse(this.encode(st, rec));
  }

  sites() {
    const api = globalThis[ORIGINS];
    if (!api || typeof api.report !== 'function' || !(api.isActive && api.isActive())) return [];
    const groups = (api.report(null) || {}).groups || [];
    return groups.slice(0, TOP_SITES).map((g) => {
      const s = g.site || {};
      return {
        site: `${s.file}:${s.line}`,
        function: s.function || null,
        call: s.call || null,
        kind: g.kind || null,
        endpoint: g.endpoint || null,
        count: g.count,
      };
    });
  }

  static sitesText(sites) {
    return sites
      .map((s) => {
        const what = `${s.site} ${s.function || ''}: ${s.call || ''}`.trim();
        const tail = s.endpoint ? ` -> ${s.endpoint}` : '';
        return `${what} (${s.count} ${s.kind || ''}${tail})`;
      })
      .join('; ');
  }

  /* The fd_near_limit WARNING: this process's count crossed into the margin of its
   * limit and no open failed: a warning, never EMFILE. */
  nearLimit(st, own, count, limit, margin) {
    const t = this.lastTrend;
    const rate = t && t.leaking && t.rate > 0 ? t.rate : null;
    const steps = rate === null ? null : Math.max(1, Math.ceil((limit - own) / rate));
    const at = steps === null ? null : st.invocation + steps;
    let msg =
      `fdscope WARNING: ${own} of ${limit} descriptors in use after invocation ` +
      `${st.invocation}, within ${margin} of the limit; no open has failed yet`;
    if (at !== null) msg += `. At ${rate.toFixed(2)} per invocation the limit is projected at invocation ~${at} (in about ${steps})`;
    const sites = this.guard('origins', () => this.sites()) || [];
    if (sites.length) msg += `. Top creation sites: ${Monitor.sitesText(sites)}`;
    return JSON.stringify({
      level: 'WARNING',
      logger: 'fdscope',
      event: 'fd_near_limit',
      message: msg,
      function_name: this.config.functionName,
      request_id: st.requestId,
      invocation: st.invocation,
      fd_use: count,
      fd_process: own,
      fd_max: limit,
      margin,
      rate: rate === null ? null : round(rate, 4),
      invocations_to_limit: steps,
      projected_at: at,
      sites,
    });
  }

  /* The fd_leak_warning: once per process, when the trend projects the limit within
   * FDSCOPE_WARN_WITHIN invocations (or, failing a trend, at 90% of the limit). */
  leakWarning(trend, count, limit, ev) {
    let t = trend && this.watch ? this.watch.warning(limit, this.config.warnWithin) : null;
    const near = t === null && !ev.length && !this.nearWarned && count !== null && count >= 0.9 * limit;
    if (t === null && !near) return null;
    this.nearWarned = true;
    t = t || this.lastTrend;
    const sites = this.guard('origins', () => this.sites()) || [];
    let head;
    let steps = null;
    if (t && t.leaking) {
      steps = t.invocationsToLimit(limit);
      head =
        `fdscope WARNING: open descriptors grow ${t.rate.toFixed(2)} per invocation ` +
        `(${t.shape}, confidence ${t.confidence.toFixed(2)}); ${count} of ${limit} in use, ` +
        `the limit is about ${steps} invocations away`;
    } else {
      head = `fdscope WARNING: ${count} of ${limit} descriptors in use (90% of the limit)`;
    }
    return JSON.stringify({
      level: 'WARNING',
      logger: 'fdscope',
      event: 'fd_leak_warning',
      message: head + (sites.length ? `. Top creation sites: ${Monitor.sitesText(sites)}` : ''),
      function_name: this.config.functionName,
      invocation: this.invocations,
      fd_use: count,
      fd_max: limit,
      rate: t ? round(t.rate, 4) : null,
      shape: t ? t.shape : null,
      confidence: t ? t.confidence : null,
      invocations_to_limit: steps,
      sites,
    });
  }

  /* The open descriptors by kind and endpoint, from /proc/self/fd (the reserve let go
   * first: the listing and the socket tables need a descriptor each, one at a time). */
  inventory() {
    this.releaseReserve();
    const names = fs.readdirSync(`${this.proc}/self/fd`).map(Number).sort((a, b) => a - b);
    const tables = { unix: null, tcp: null };
    const unix = () => (tables.unix = tables.unix || this.unixTable());
    const tcp = () => (tables.tcp = tables.tcp || this.tcpTable());
    const out = [];
    for (const fd of names) {
      let target;
      try {
        target = fs.readlinkSync(`${this.proc}/self/fd/${fd}`);
      } catch (_) {
        continue; // the listing's own descriptor
      }
      let kind = 'file';
      let endpoint = null;
      let detail = target;
      const sock = /^socket:\[(\d+)\]$/.exec(target);
      if (sock) {
        const t = tcp().get(sock[1]);
        const u = t ? null : unix().get(sock[1]);
        if (t) {
          kind = t.kind;
          endpoint = t.remote || t.local;
          detail = t.listening ? `${t.local} LISTEN` : `${t.local} -> ${t.remote}`;
        } else if (u) {
          kind = 'unix';
          endpoint = u.path;
          detail = `${u.path || target}${u.listening ? ' LISTEN' : ''}`;
        } else {
          kind = 'socket';
        }
      } else if (target.startsWith('pipe:')) {
        kind = 'pipe';
      } else if (target.startsWith('anon_inode:')) {
        const name = target.slice(11).replace(/^\[|\]$/g, '');
        kind = ['eventfd', 'eventpoll', 'timerfd', 'signalfd', 'inotify', 'pidfd', 'io_uring'].includes(name) ? name : 'anon';
      } else if (target.startsWith('/dev/')) {
        kind = 'chr';
      } else if (target.startsWith('/')) {
        endpoint = null;
      }
      out.push({ fd, kind, endpoint, detail });
    }
    return out;
  }

  unixTable() {
    const out = new Map();
    const lines = fs.readFileSync(`${this.proc}/self/net/unix`, 'latin1').split('\n');
    for (let i = 1; i < lines.length; i++) {
      const p = lines[i].trim().split(/\s+/);
      if (p.length < 7) continue;
      out.set(p[6], { path: p[7] || null, listening: (parseInt(p[3], 16) & 0x10000) !== 0 });
    }
    return out;
  }

  tcpTable() {
    const out = new Map();
    const hexAddr = (h) => {
      const [a, port] = h.split(':');
      const p = parseInt(port, 16);
      if (a.length === 8) {
        const b = [0, 1, 2, 3].map((i) => parseInt(a.slice(6 - 2 * i, 8 - 2 * i), 16));
        return `${b.join('.')}:${p}`;
      }
      const words = [];
      for (let i = 0; i < 32; i += 8) {
        const w = a.slice(i, i + 8);
        words.push(w.slice(6, 8) + w.slice(4, 6), w.slice(2, 4) + w.slice(0, 2));
      }
      return `[${words.map((w) => w.replace(/^0+(?=.)/, '')).join(':')}]:${p}`;
    };
    for (const [file, kind] of [
      ['tcp', 'tcp'],
      ['tcp6', 'tcp6'],
      ['udp', 'udp'],
      ['udp6', 'udp6'],
    ]) {
      let text;
      try {
        text = fs.readFileSync(`${this.proc}/self/net/${file}`, 'latin1');
      } catch (_) {
        continue;
      }
      const lines = text.split('\n');
      for (let i = 1; i < lines.length; i++) {
        const p = lines[i].trim().split(/\s+/);
        if (p.length < 10) continue;
        const listening = kind.startsWith('tcp') && p[3] === '0A';
        out.set(p[9], { kind, local: hexAddr(p[1]), remote: listening || p[2].endsWith(':0000') ? null : hexAddr(p[2]), listening });
      }
    }
    return out;
  }

  emfileReport(st, count, limit, ev) {
    const handles = this.inventory();
    const byKind = {};
    const ends = new Map();
    for (const h of handles) {
      byKind[h.kind] = (byKind[h.kind] || 0) + 1;
      if (h.endpoint) ends.set(h.endpoint, (ends.get(h.endpoint) || 0) + 1);
    }
    const top = [...ends.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_SITES);
    const sites = this.guard('origins', () => this.sites()) || [];
    const kinds = Object.entries(byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    let msg =
      `fdscope EMFILE: ${count} of ${limit} descriptors open after invocation ${st.invocation} ` +
      `(request ${st.requestId || '?'}). Evidence: ${ev.join('; ')}. By kind: ${kinds || '?'}.`;
    if (top.length) msg += ' Top endpoints: ' + top.map(([e, n]) => `${e} (${n})`).join(', ') + '.';
    if (sites.length) msg += ` Top creation sites: ${Monitor.sitesText(sites)}.`;
    this.write(
      JSON.stringify({
        level: 'ERROR',
        logger: 'fdscope',
        event: 'emfile',
        message: msg,
        function_name: this.config.functionName,
        request_id: st.requestId,
        invocation: st.invocation,
        fd_use: count,
        fd_max: limit,
        evidence: ev,
        by_kind: byKind,
        sites,
        handles: handles.slice(0, MAX_LISTED).map((h) => `${h.fd} ${h.kind} ${h.detail}`),
      }),
    );
  }
}

/* The monitor the environment asks for, or null when FDSCOPE_MONITOR=0 (throws
 * ConfigError for an invalid value). */
function fromEnv(env = process.env) {
  const config = configFromEnv(env);
  return config.enabled ? new Monitor(config) : null;
}

function reportOnce(stage, exc) {
  try {
    process.stderr.write(`fdscope: internal error in ${stage} (the handler is unaffected; reported once per process): ${describe(exc)}\n`);
  } catch (_) {}
}

module.exports = { Monitor, configFromEnv, fromEnv, evidence, reportOnce, UNITS, DEFAULT_METRICS, IMPORTED_AT, ConfigError };
