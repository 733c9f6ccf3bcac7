'use strict';
/*
 * fdscope origins for Node.js: `node --require .../track.js app.js`.
 *
 * Records, for every handle that holds a descriptor (TCP/UNIX/UDP sockets,
 * servers, pipes, child processes, fs.open* descriptors, file streams,
 * watchers) and for ref'd timers (they keep the event loop alive), the
 * user's line: the first stack frame that is neither Node's internals
 * (`node:`), `node_modules`, the runtime client nor fdscope. When the
 * creating stack has no such frame (a connection the kernel hands a server,
 * a socket a library opens in a callback), the async trigger chain leads to
 * the tracked handle whose context created it, and its site is used.
 *
 * Reports: one `fdscope.origins/1` JSON line to the descriptor named in
 * FDSCOPE_REPORT_FD (fs.writeSync, no new descriptor), after each invocation
 * of a Lambda runtime client, shortly before an invocation's deadline
 * (trigger "timeout", with the handles keeping the loop alive), near the
 * descriptor limit, at EMFILE in an uncaught exception, every
 * FDSCOPE_REPORT_INTERVAL seconds and at exit; a text report to stderr on
 * FDSCOPE_SIGNAL (USR1) and at exit.
 *
 * Fails open: any exception inside fdscope's own code turns tracking off
 * (one line on stderr) and the program goes on. Node's own modules only.
 */

const asyncHooks = require('async_hooks');
const fs = require('fs');
const pathMod = require('path');

const env = process.env;
const FAULT = env.FDSCOPE_NODE_FAULT || ''; // tests only: "init", "report", "start"

const SCHEMA = 'fdscope.origins/1';
const FDSCOPE_ROOT = pathMod.resolve(__dirname, '..', '..') + pathMod.sep;
const DEPTH = Math.max(1, parseInt(env.FDSCOPE_TRACK_DEPTH || '8', 10) || 8);
const STACK_LIMIT = 40;
const FIRST_LIMIT = 16;
const TRACK_TIMERS = env.FDSCOPE_NODE_TIMERS !== '0';
const RUNTIME_DIRS = ['/var/runtime/', '/opt/fdscope/'];

// async resource types whose handle holds a descriptor (or a process)
const HANDLE_TYPES = {
  TCPWRAP: 'tcp',
  TCPSERVERWRAP: 'tcp',
  PIPEWRAP: 'unix',
  PIPESERVERWRAP: 'unix',
  PIPECONNECTWRAP: null,
  UDPWRAP: 'udp',
  PROCESSWRAP: 'process',
  FSEVENTWRAP: 'inotify',
  // FILEHANDLE: fs.promises.open's own wrapper records it (the hook's stack holds no user frame)
  FILEHANDLE: null,
  TTYWRAP: 'chr',
};

const SOCKET_KINDS = { tcp: 1, udp: 1, unix: 1 };

// requests after whose callback a handle is often made; their stack is kept on the resource
const CARRIERS = { GETADDRINFOREQWRAP: 1, GETNAMEINFOREQWRAP: 1, QUERYWRAP: 1 };

let scope = null; // the carrier of a call whose handle comes in a later tick (Server.listen)
let active = false;
let broken = false;
let hook = null;
const records = new Map(); // id -> record (handles, timers)
const fdRecords = new Map(); // fd -> record (fs.open*, file streams)
let nextId = -1; // ids for fd records (negative: never an async id)
let inits = 0;
let nextSweep = 256; // amortised: a sweep walks every record, so it comes after as many inits
const kOwner = Symbol('fdscope.owner');
const kRecord = Symbol('fdscope.record'); // on a tracked handle: its record
const siteCache = new Map();
let reserveFd = -1;
const reportFd = /^\d+$/.test((env.FDSCOPE_REPORT_FD || '').trim())
  ? parseInt(env.FDSCOPE_REPORT_FD, 10)
  : -1;
let invocation = 0;
let deadlineTimer = null;
let warned = false;
let warnAt = Infinity;

function fail(where, err) {
  // fail open: stop tracking, say so once, never throw into the program
  if (broken) return;
  broken = true;
  active = false;
  try {
    if (hook) hook.disable();
  } catch (_) {}
  try {
    fs.writeSync(2, `fdscope: origins tracking stopped (${where}): ${err && err.stack ? err.stack.split('\n')[0] : err}\n`);
  } catch (_) {}
}

// ------------------------------------------------------------------ stacks
/*
 * A captured stack is reduced at once to its call site: {site, lib}, shared by every
 * capture with the same frames (siteCache). Nothing of V8's CallSites is kept: an
 * unformatted stack holds each frame's receiver and function, and the init hook's own
 * frame (emitInitNative) has the new handle as its receiver, so keeping one kept every
 * handle alive (a FileHandle then was never closed by the garbage collector).
 */
const NO_SITE = { site: null, lib: null };
const userFiles = new Map(); // file name -> isUser(file)

function passCallSites(_e, cs) {
  return cs;
}

function capture(api, top) {
  // a short stack first (each frame costs ~1 us to materialise): the user's frame is
  // usually among the first; the full depth only when it is not and the stack went on
  const at = top || capture;
  return captureAt(api || '', at, FIRST_LIMIT, false) || captureAt(api || '', at, STACK_LIMIT, true);
}

function captureAt(api, top, depth, last) {
  const holder = {};
  const limit = Error.stackTraceLimit;
  const prev = Error.prepareStackTrace;
  let cs;
  Error.stackTraceLimit = depth;
  Error.prepareStackTrace = passCallSites;
  try {
    Error.captureStackTrace(holder, top);
    cs = holder.stack;
  } finally {
    Error.prepareStackTrace = prev;
    Error.stackTraceLimit = limit;
  }
  return Array.isArray(cs) ? shape(api, cs, last || cs.length < depth) : NO_SITE;
}

function userFile(file) {
  let u = userFiles.get(file);
  if (u === undefined) {
    u = isUser(fileOf(file));
    if (userFiles.size > 10000) userFiles.clear();
    userFiles.set(file, u);
  }
  return u;
}

function shape(api, cs, whole) {
  // the cache key: the frames up to the user's and the stack shown after it; null when
  // there is no user frame in a stack cut short (``whole`` false)
  let key = api;
  let end = cs.length;
  let found = false;
  for (let i = 0; i < end; i++) {
    const c = cs[i];
    const f = c.getFileName();
    key += f + ':' + c.getPosition() + ';';
    if (!found && f && userFile(f)) {
      found = true;
      end = Math.min(end, i + DEPTH);
    }
  }
  if (!found && !whole) return null;
  let entry = siteCache.get(key);
  if (entry === undefined) {
    entry = found ? { site: siteOf(api, cs), lib: null } : { site: null, lib: libraryOf(cs) };
    if (siteCache.size > 10000) siteCache.clear();
    siteCache.set(key, entry);
  }
  return entry;
}

function fileOf(cs) {
  let f = typeof cs === 'string' ? cs : cs.getFileName && cs.getFileName();
  if (!f) return null;
  if (f.startsWith('file://')) {
    try {
      f = decodeURIComponent(f.slice(7));
    } catch (_) {
      f = f.slice(7);
    }
  }
  return f;
}

function isUser(file) {
  if (!file) return false;
  if (file.startsWith('node:') || file.startsWith('internal/') || !file.includes('/')) return false;
  if (file.includes('/node_modules/')) return false;
  if (file.startsWith(FDSCOPE_ROOT)) return false;
  for (const d of RUNTIME_DIRS) if (file.startsWith(d)) return false;
  return true;
}

function fnName(cs) {
  let name = cs.getFunctionName && cs.getFunctionName();
  if (!name) {
    const method = cs.getMethodName && cs.getMethodName();
    if (method) {
      let type = null;
      try {
        type = cs.getTypeName && cs.getTypeName();
      } catch (_) {}
      name = type && type !== 'Object' ? `${type}.${method}` : method;
    }
  }
  if (!name) name = cs.isAsync && cs.isAsync() ? '<async>' : '<anonymous>';
  return name;
}

function packageOf(file) {
  const i = file.lastIndexOf('/node_modules/');
  const rest = file.slice(i + 14).split('/');
  return rest[0].startsWith('@') && rest.length > 1 ? `${rest[0]}/${rest[1]}` : rest[0];
}

function describeFrame(cs) {
  const file = fileOf(cs) || '';
  const fn = fnName(cs);
  if (file.includes('/node_modules/')) return `${packageOf(file)} ${fn}`;
  if (file.startsWith(FDSCOPE_ROOT)) return `fdscope ${fn}`;
  return fn;
}

/* The site of one captured stack: {file, line, function, call, chain, stack} or null. */
function siteOf(api, cs) {
  for (let i = 0; i < cs.length; i++) {
    const file = fileOf(cs[i]);
    if (!isUser(file)) continue;
    // the calls between the user's line and Node: one step per package, then Node's API
    const chain = [];
    let lastPkg = null;
    for (let j = i - 1; j >= 0; j--) {
      const f = fileOf(cs[j]) || '';
      if (f.includes('/node_modules/')) {
        const pkg = packageOf(f);
        if (pkg !== lastPkg) chain.push(describeFrame(cs[j]));
        lastPkg = pkg;
      } else if (f.startsWith('node:') || !f.includes('/')) {
        chain.push(fnName(cs[j]));
        break;
      } else if (f.startsWith(FDSCOPE_ROOT)) {
        continue;
      }
    }
    if (api && chain[chain.length - 1] !== api) chain.push(api);
    const stack = [];
    for (let j = i; j < cs.length && stack.length < DEPTH; j++) {
      const f = fileOf(cs[j]);
      if (!f || f.startsWith('node:') || f.startsWith(FDSCOPE_ROOT)) continue;
      stack.push({ file: f, line: cs[j].getLineNumber(), function: fnName(cs[j]) });
    }
    return {
      file,
      line: cs[i].getLineNumber(),
      function: fnName(cs[i]),
      call: chain.length ? chain[0] : null,
      chain,
      stack,
    };
  }
  return null;
}

function libraryOf(cs) {
  // the first non-internal frame when no user frame: "(created by aws-lambda-ric ...)"
  for (const c of cs) {
    const f = fileOf(c);
    if (f && !f.startsWith('node:') && f.includes('/')) return describeFrame(c);
  }
  return null;
}

/* The user's site of a record, following the async trigger chain when its own stack has none. */
function approx(via) {
  // attributed through an async parent that is neither a server (accepted) nor a listen call
  return via !== null && !/SERVERWRAP$|^Server\.listen$/.test(via);
}

function resolve(rec) {
  let r = rec;
  let via = null;
  for (let n = 0; r && n < 32; n++) {
    const s = r.stack.site;
    if (s) return { site: s, via };
    r = r.owner;
    // a handle made by a later tick of its own Server.listen call is the call's own
    if (r && via === null && !(r.kind === 'carrier' && r.type === 'Server.listen' && n === 0)) via = r.type;
  }
  return null;
}

// ------------------------------------------------------------------ the hook
function ownerFor(triggerId) {
  if (scope) return scope;
  const t = records.get(triggerId);
  if (t) return t;
  const cur = asyncHooks.executionAsyncResource();
  return cur ? cur[kOwner] || null : null;
}

function init(asyncId, type, triggerAsyncId, resource) {
  if (!active) return;
  try {
    if (FAULT === 'init') throw new Error('injected fault (init)');
    if (type === 'PROMISE') return;
    const kind = HANDLE_TYPES[type];
    if (kind === undefined) {
      if (type === 'Timeout' && TRACK_TIMERS && resource && resource.hasRef && resource.hasRef()) {
        track(asyncId, type, 'timer', triggerAsyncId, resource);
        return;
      }
      if (!resource || typeof resource !== 'object') return;
      if (scope) {
        resource[kOwner] = scope; // made inside a call that creates its handle later
        return;
      }
      if (CARRIERS[type]) {
        // a request whose callback may create a handle (listen after a DNS lookup): its stack
        resource[kOwner] = { id: asyncId, type, kind: 'carrier', stack: capture('', init), owner: ownerFor(triggerAsyncId) };
        return;
      }
      // propagate the owning handle through untracked resources (ticks, requests, ...)
      const o = ownerFor(triggerAsyncId);
      if (o) resource[kOwner] = o;
      return;
    }
    if (kind === null) return;
    track(asyncId, type, kind, triggerAsyncId, resource);
  } catch (err) {
    fail('init', err);
  }
}

function track(asyncId, type, kind, triggerAsyncId, resource) {
  // an http.Agent's keep-alive socket reused for a new request is initialised again
  // (asyncReset, with a ReusedHandle holding the socket's handle): its creation site is
  // the first one; no new stack
  const h = resource.handle;
  if (h !== undefined && h !== null && typeof h === 'object' && kind !== 'timer') resource = h;
  const seen = resource[kRecord];
  if (seen !== undefined) {
    records.delete(seen.id);
    seen.id = asyncId;
    records.set(asyncId, seen);
    return;
  }
  const owner = ownerFor(triggerAsyncId);
  // a server's handle made by its Server.listen call, in the call or in a later tick of it
  // (a host to look up): the call's own stack, captured once, names its site
  const listen = owner !== null && owner.type === 'Server.listen' && type.endsWith('SERVERWRAP');
  const rec = {
    id: asyncId,
    type,
    kind,
    ref: new WeakRef(resource),
    stack: listen ? owner.stack : capture('', init),
    owner,
    fd: -1,
  };
  records.set(asyncId, rec);
  resource[kRecord] = rec;
  // never touch the handle being made: the init hook runs inside its constructor
  if (++inits >= nextSweep) {
    sweep(asyncId);
    nextSweep = inits + Math.max(256, records.size);
  }
}

function liveResource(rec) {
  const res = rec.ref ? rec.ref.deref() : null;
  if (!res) return null;
  if (rec.kind === 'timer') return res._destroyed ? null : res;
  return res;
}

function sweep(skip) {
  // drop records whose object is gone or closed; check the early-warning threshold
  let maxFd = -1;
  for (const [id, rec] of records) {
    if (id === skip) continue;
    const res = liveResource(rec);
    if (!res) {
      records.delete(id);
      continue;
    }
    if (rec.kind === 'timer') continue;
    const fd = handleFd(res);
    if (fd > maxFd) maxFd = fd;
  }
  if (maxFd >= warnAt) nearLimit(maxFd);
}

function handleFd(res) {
  try {
    const fd = res.fd;
    return typeof fd === 'number' ? fd : -1;
  } catch (_) {
    return -1;
  }
}

// ------------------------------------------------------------------ fs.open*
function fdRecord(fd, file, holder) {
  if (!active || typeof fd !== 'number' || fd < 0) return;
  let ino = null;
  try {
    ino = fs.fstatSync(fd).ino;
  } catch (_) {}
  fdRecords.set(fd, {
    id: nextId--,
    type: 'open',
    kind: 'file',
    fd,
    path: typeof file === 'string' ? file : String(file),
    ino,
    stack: holder,
    owner: ownerFor(asyncHooks.executionAsyncId()),
  });
  if (fd >= warnAt) nearLimit(fd);
}

function patchFs() {
  const openSync = fs.openSync;
  const open = fs.open;
  const closeSync = fs.closeSync;
  const close = fs.close;
  fs.openSync = function openSync_(file, ...rest) {
    const fd = openSync.call(this, file, ...rest);
    if (active) {
      try {
        fdRecord(fd, file, capture('', openSync_));
      } catch (err) {
        fail('openSync', err);
      }
    }
    return fd;
  };
  fs.open = function open_(file, ...rest) {
    const i = rest.findIndex((a) => typeof a === 'function');
    if (active && i >= 0) {
      try {
        const holder = capture('', open_);
        const cb = rest[i];
        rest[i] = function (err, fd) {
          if (!err && active) {
            try {
              fdRecord(fd, file, holder);
            } catch (e) {
              fail('open', e);
            }
          }
          return cb.apply(this, arguments);
        };
      } catch (err) {
        fail('open', err);
      }
    }
    return open.call(this, file, ...rest);
  };
  fs.closeSync = function closeSync_(fd) {
    fdRecords.delete(fd);
    return closeSync.apply(this, arguments);
  };
  fs.close = function close_(fd) {
    fdRecords.delete(fd);
    return close.apply(this, arguments);
  };
  // streams open in a later tick: the stream's own creation stack names the user's line
  for (const name of ['createReadStream', 'createWriteStream']) {
    const orig = fs[name];
    fs[name] = function createStream_(...args) {
      const stream = orig.apply(this, args);
      if (active) {
        try {
          const holder = capture('', createStream_);
          const file = args[0];
          stream.once('open', (fd) => {
            try {
              fdRecord(fd, file, holder);
              const r = fdRecords.get(fd);
              if (r) r.kind = 'file';
            } catch (e) {
              fail('stream', e);
            }
          });
        } catch (err) {
          fail(name, err);
        }
      }
      return stream;
    };
  }
  const promises = fs.promises;
  const popen = promises.open;
  promises.open = async function open(file, ...rest) {
    const holder = active ? capture('', open) : null;
    const fh = await popen.call(this, file, ...rest);
    if (holder && active) {
      try {
        // no reference to the FileHandle (not even a WeakRef: V8's scavenges keep a WeakRef's
        // or a FinalizationRegistry's target, so one the program drops would wait for a full
        // collection to be closed): its fd and inode, checked at each report
        fdRecord(fh.fd, file, holder);
      } catch (e) {
        fail('promises.open', e);
      }
    }
    return fh;
  };
}

function patchListen() {
  // Server.listen with a host name or an address to look up makes its handle in a later
  // tick: everything made during the call carries the call's own stack.
  const net = require('net');
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen_() {
    if (!active) return listen.apply(this, arguments);
    const prev = scope;
    try {
      scope = { id: 0, type: 'Server.listen', kind: 'carrier', stack: capture('Server.listen', listen_), owner: prev };
    } catch (err) {
      fail('listen', err);
    }
    try {
      return listen.apply(this, arguments);
    } finally {
      scope = prev;
    }
  };
}

// ------------------------------------------------------------------ the inventory
function limits() {
  try {
    const text = withReserve(() => fs.readFileSync('/proc/self/limits', 'latin1'));
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
    if (m) {
      const num = (v) => (v === 'unlimited' ? null : parseInt(v, 10));
      return { soft: num(m[1]), hard: num(m[2]) };
    }
  } catch (_) {}
  return { soft: null, hard: null };
}

function withReserve(fn) {
  // at EMFILE, free the reserved descriptor for the time of one read
  try {
    return fn();
  } catch (err) {
    if ((err.code === 'EMFILE' || err.code === 'ENFILE') && reserveFd >= 0) {
      try {
        fs.closeSync(reserveFd);
      } catch (_) {}
      reserveFd = -1;
      try {
        return fn();
      } finally {
        openReserve();
      }
    }
    throw err;
  }
}

function openReserve() {
  try {
    reserveFd = fs.openSync('/dev/null', 'r');
    fdRecords.delete(reserveFd);
  } catch (_) {
    reserveFd = -1;
  }
}

function unixTable() {
  // inode -> {path, listening}; from /proc/net/unix
  const out = new Map();
  try {
    const text = withReserve(() => fs.readFileSync('/proc/self/net/unix', 'latin1'));
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const p = lines[i].trim().split(/\s+/);
      if (p.length < 7) continue;
      const flags = parseInt(p[3], 16);
      out.set(p[6], { path: p[7] || null, listening: (flags & 0x10000) !== 0, state: p[5] });
    }
  } catch (_) {}
  return out;
}

function kindOfTarget(target, fd) {
  if (target.startsWith('socket:')) return 'socket';
  if (target.startsWith('pipe:')) return 'pipe';
  if (target.startsWith('anon_inode:')) {
    const name = target.slice(11).replace(/^\[|\]$/g, '');
    if (['eventfd', 'eventpoll', 'timerfd', 'signalfd', 'inotify', 'pidfd', 'io_uring'].includes(name)) return name;
    return 'anon';
  }
  if (target.startsWith('/memfd:')) return 'memfd';
  try {
    const st = fs.statSync(`/proc/self/fd/${fd}`);
    if (st.isDirectory()) return 'dir';
    if (st.isCharacterDevice()) return 'chr';
    if (st.isBlockDevice()) return 'blk';
    if (st.isFIFO()) return 'fifo';
  } catch (_) {}
  return 'file';
}

function inventory() {
  const names = withReserve(() => fs.readdirSync('/proc/self/fd'));
  names.sort((a, b) => a - b);
  const out = [];
  for (const n of names) {
    const fd = parseInt(n, 10);
    let target;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${n}`);
    } catch (_) {
      continue; // the directory's own descriptor, closed meanwhile
    }
    out.push({ fd, target, kind: kindOfTarget(target, fd) });
  }
  return out;
}

function addr(a) {
  if (!a || a.address === undefined) return null;
  return a.family === 'IPv6' || a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function socketInfo(rec, res, h, unix) {
  // kind, detail, endpoint of a socket handle; h: the inventory entry
  const server = rec.type.endsWith('SERVERWRAP');
  if (rec.kind === 'tcp' || rec.kind === 'udp') {
    const local = {};
    const remote = {};
    let l = null;
    let r = null;
    try {
      if (res.getsockname && res.getsockname(local) === 0) l = addr(local);
    } catch (_) {}
    try {
      if (!server && res.getpeername && res.getpeername(remote) === 0) r = addr(remote);
    } catch (_) {}
    const six = local.family === 'IPv6' || local.family === 6;
    const kind = rec.kind + (six ? '6' : '');
    const state = server ? ' LISTEN' : '';
    const detail = r ? `${kind} ${l || '?'} -> ${r}${state}` : `${kind} ${l || '?'}${state}`;
    return { kind, detail, endpoint: r || l };
  }
  if (h.kind === 'pipe') return { kind: 'pipe', detail: `pipe ${h.target}`, endpoint: null };
  const ino = (/socket:\[(\d+)\]/.exec(h.target) || [])[1];
  const u = ino ? unix().get(ino) : null;
  const listening = server || (u && u.listening);
  const path = u && u.path ? u.path : null;
  const detail = `unix ${path || h.target}${listening ? ' LISTEN' : ''}`;
  return { kind: 'unix', detail, endpoint: path };
}

// ------------------------------------------------------------------ the report
function build(trigger) {
  if (FAULT === 'report') throw new Error('injected fault (report)');
  const inv = inventory();
  const byFd = new Map();
  for (const h of inv) byFd.set(h.fd, h);
  let unixCache = null;
  const unix = () => (unixCache = unixCache || unixTable());
  const own = new Set([reportFd, reserveFd]);
  const claimed = new Map(); // fd -> {rec, res}
  const procs = [];
  const loop = [];
  let watcher = null;
  for (const [id, rec] of records) {
    const res = liveResource(rec);
    if (!res) {
      records.delete(id);
      continue;
    }
    let refd = false;
    try {
      refd = typeof res.hasRef === 'function' ? res.hasRef() : false;
    } catch (_) {}
    if (rec.kind === 'timer') {
      if (refd) loop.push({ rec, kind: 'timer', fd: null, detail: `timer ${res._idleTimeout} ms${res._repeat ? ' (interval)' : ''}` });
      continue;
    }
    if (rec.kind === 'process') {
      if (res.pid && refd !== null) procs.push({ rec, res });
      if (refd) loop.push({ rec, kind: 'process', fd: null, detail: `pid ${res.pid}` });
      continue;
    }
    if (rec.kind === 'inotify') {
      if (!watcher) watcher = rec;
      if (refd) loop.push({ rec, kind: 'inotify', fd: null, detail: 'fs.watch' });
      continue;
    }
    const fd = handleFd(res);
    if (fd >= 0 && byFd.has(fd)) {
      claimed.set(fd, { rec, res });
      if (refd) loop.push({ rec, fd, res });
    }
  }
  for (const [fd, rec] of fdRecords) {
    const h = byFd.get(fd);
    if (!h) {
      // closed by a path fdscope does not see (a FileHandle's close(), the garbage collector)
      fdRecords.delete(fd);
      continue;
    }
    if (claimed.has(fd)) continue;
    if (rec.ino !== null) {
      try {
        if (fs.fstatSync(fd).ino !== rec.ino) {
          fdRecords.delete(fd);
          continue;
        }
      } catch (_) {
        fdRecords.delete(fd);
        continue;
      }
    }
    claimed.set(fd, { rec, res: null });
  }
  const groups = new Map();
  const unattributed = [];
  const add = (rec, item, endpoint) => {
    const r = resolve(rec);
    if (!r) {
      const lib = rec.stack.lib;
      unattributed.push({ ...item, detail: item.detail + (lib ? ` (created in ${lib})` : '') });
      return;
    }
    const s = r.site;
    const key = `${s.file}\0${s.line}\0${s.function}\0${s.call}\0${item.kind}\0${r.via}`;
    let g = groups.get(key);
    if (!g) {
      g = {
        site: { file: s.file, line: s.line, function: s.function, call: s.call, approximate: approx(r.via) },
        stack: s.stack,
        kind: item.kind,
        endpoint,
        count: 0,
        handles: [],
        chain: s.chain,
        async_parent: r.via,
        eps: new Set(),
      };
      groups.set(key, g);
    }
    g.count++;
    g.handles.push(item);
    g.eps.add(endpoint);
  };
  let count = 0;
  for (const h of inv) {
    count++;
    if (h.fd <= 2) {
      unattributed.push({ fd: h.fd, kind: h.kind, detail: `${h.kind} ${h.target} (stdio)` });
      continue;
    }
    if (own.has(h.fd)) {
      unattributed.push({ fd: h.fd, kind: h.kind, detail: `${h.kind} ${h.target} (fdscope)` });
      continue;
    }
    const c = claimed.get(h.fd);
    if (c && c.res && SOCKET_KINDS[c.rec.kind]) {
      const info = socketInfo(c.rec, c.res, h, unix);
      add(c.rec, { fd: h.fd, kind: info.kind, detail: info.detail }, info.endpoint);
    } else if (c) {
      add(c.rec, { fd: h.fd, kind: h.kind, detail: `${h.kind} ${h.target}` }, h.target);
    } else if (h.kind === 'inotify' && watcher) {
      add(watcher, { fd: h.fd, kind: 'inotify', detail: 'inotify (fs.watch)' }, null);
    } else {
      let detail = `${h.kind} ${h.target}`;
      if (h.kind === 'socket') {
        const ino = (/socket:\[(\d+)\]/.exec(h.target) || [])[1];
        const u = ino ? unix().get(ino) : null;
        if (u) {
          h.kind = 'unix';
          detail = `unix ${u.path || h.target}${u.listening ? ' LISTEN' : ''}`;
        }
      }
      unattributed.push({ fd: h.fd, kind: h.kind, detail });
    }
  }
  for (const { rec, res } of procs) {
    let args = '';
    try {
      args = (res.spawnargs || []).join(' ');
    } catch (_) {}
    add(rec, { fd: null, kind: 'process', detail: `pid ${res.pid}${args ? ': ' + args : ''}` }, null);
  }
  const out = [...groups.values()].map((g) => {
    const { eps, ...rest } = g;
    rest.endpoint = eps.size === 1 ? [...eps][0] : null;
    return rest;
  });
  out.sort((a, b) => b.count - a.count || (a.site.file < b.site.file ? -1 : a.site.file > b.site.file ? 1 : 0) || (a.site.line || 0) - (b.site.line || 0));
  const lim = limits();
  const doc = {
    schema: SCHEMA,
    pid: process.pid,
    time: Date.now() / 1000,
    limit: lim,
    count,
    groups: out,
    unattributed,
    runtime: 'node',
    node: process.version,
    loop: loop.map((l) => loopItem(l, unix, byFd)),
  };
  if (trigger) doc.trigger = trigger;
  return doc;
}

function loopItem(l, unix, byFd) {
  let kind = l.kind;
  let detail = l.detail;
  if (l.res && SOCKET_KINDS[l.rec.kind]) {
    const info = socketInfo(l.rec, l.res, byFd.get(l.fd) || { kind: 'socket', target: '' }, unix);
    kind = info.kind;
    detail = info.detail;
  }
  const r = resolve(l.rec);
  const s = r ? r.site : null;
  return {
    fd: l.fd === undefined ? null : l.fd,
    kind,
    detail,
    site: s ? { file: s.file, line: s.line, function: s.function, call: s.call, approximate: false } : null,
    chain: s ? s.chain : [],
  };
}

function text(doc, title) {
  const lim = doc.limit.soft ? ` of ${doc.limit.soft}` : '';
  const lines = [];
  if (title) lines.push(`fdscope: ${title}`);
  lines.push(`fdscope: ${doc.count}${lim} descriptors open in process ${doc.pid}`);
  for (const g of doc.groups) {
    const via = g.chain && g.chain.length ? ` via ${g.chain.join(' -> ')}` : '';
    const through = g.async_parent ? ` (through ${g.async_parent})` : '';
    lines.push(`  ${g.count} x ${g.kind}${g.endpoint ? ' ' + g.endpoint : ''}  created at ${g.site.file}:${g.site.line} in ${g.site.function}${via}${through}`);
    for (const h of g.handles.slice(0, 3)) lines.push(`      ${h.fd === null ? '-' : 'fd ' + h.fd}: ${h.detail}`);
    if (g.count > 3) lines.push(`      ... and ${g.count - 3} more`);
  }
  if (doc.unattributed.length) {
    lines.push('- Unattributed (opened before tracking, by Node itself, or by fdscope):');
    for (const u of doc.unattributed) lines.push(`  fd ${u.fd}: ${u.detail}`);
  }
  if (doc.loop && doc.loop.length) {
    lines.push('- Keeping the event loop alive:');
    for (const l of doc.loop) {
      const at = l.site ? ` created at ${l.site.file}:${l.site.line} in ${l.site.function}` : '';
      lines.push(`  ${l.detail}${at}`);
    }
  }
  return lines.join('\n') + '\n';
}

function writeAll(fd, str) {
  const buf = Buffer.from(str, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if (err.code === 'EAGAIN') continue;
      throw err;
    }
  }
}

/* One JSON line to FDSCOPE_REPORT_FD; false when there is none. Never throws. */
function send(trigger, inv) {
  if (reportFd < 0 || broken) return false;
  try {
    const doc = build(trigger);
    if (inv !== undefined && inv !== null) doc.invocation = inv;
    writeAll(reportFd, JSON.stringify(doc) + '\n');
    return true;
  } catch (err) {
    fail('report', err);
    return false;
  }
}

function toStderr(title) {
  if (broken) return;
  try {
    writeAll(2, text(build(null), title));
  } catch (err) {
    fail('report', err);
  }
}

function nearLimit(fd) {
  if (warned) return;
  warned = true;
  warnAt = Infinity;
  setImmediate(() => {
    toStderr(`warning: descriptor ${fd} open, over ${Math.round(warnFraction() * 100)}% of the soft limit; where they came from:`);
    send('limit', null);
  }).unref();
}

function warnFraction() {
  const f = parseFloat(env.FDSCOPE_WARN_FRACTION || '0.8');
  return f > 0 && f <= 1 ? f : 0.8;
}

// ------------------------------------------------------------------ invocations
function due(n) {
  const every = parseInt(env.FDSCOPE_REPORT_EVERY || '1', 10) || 1;
  if (every <= 1 || n <= 2 || n % every === 0) return true;
  const soft = limits().soft;
  try {
    return soft !== null && fs.readdirSync('/proc/self/fd').length >= 0.9 * soft;
  } catch (_) {
    return true;
  }
}

/* The runtime client is about to post an invocation's response or error. */
function invocationEnd(errorBody) {
  if (broken) return;
  if (deadlineTimer) {
    clearTimeout(deadlineTimer);
    deadlineTimer = null;
  }
  invocation++;
  const emfile = typeof errorBody === 'string' && /EMFILE|ENFILE|too many open files/i.test(errorBody);
  if (emfile) send('emfile', invocation);
  else if (due(invocation)) send(null, invocation);
}

/* An invocation was received; ``deadlineMs`` is Lambda-Runtime-Deadline-Ms. */
function invocationStart(deadlineMs) {
  if (broken) return;
  if (deadlineTimer) clearTimeout(deadlineTimer);
  deadlineTimer = null;
  const deadline = Number(deadlineMs);
  if (!deadline) return;
  const left = deadline - Date.now();
  const margin = parseInt(env.FDSCOPE_TIMEOUT_MARGIN_MS || '', 10) || Math.min(150, Math.max(20, left / 10));
  deadlineTimer = setTimeout(() => {
    deadlineTimer = null;
    send('timeout', invocation + 1);
  }, Math.max(0, left - margin));
  deadlineTimer.unref();
}

function watchRuntimeClient() {
  // aws-lambda-ric talks to the Runtime API through a native addon (rapid-client.node):
  // wrap its next/done/error; the JavaScript clients go through http (diagnostics_channel).
  const dlopen = process.dlopen;
  process.dlopen = function (module, filename) {
    const r = dlopen.apply(this, arguments);
    try {
      if (/rapid-client|runtime-client/.test(String(filename)) && module && module.exports) wrapNative(module.exports);
    } catch (err) {
      fail('dlopen', err);
    }
    return r;
  };
  let dc;
  try {
    dc = require('diagnostics_channel');
  } catch (_) {
    return;
  }
  const api = env.AWS_LAMBDA_RUNTIME_API || '';
  const isApi = (req) => {
    try {
      const host = req.getHeader ? String(req.getHeader('host') || '') : '';
      return !api || host === api || host.endsWith(api.split(':').pop());
    } catch (_) {
      return true;
    }
  };
  dc.subscribe('http.client.request.start', ({ request }) => {
    try {
      const p = request && request.path;
      if (p && /\/runtime\/invocation\/[^/]+\/(response|error)$/.test(p) && isApi(request)) invocationEnd(p.endsWith('/error') ? 'error' : undefined);
    } catch (err) {
      fail('http', err);
    }
  });
  dc.subscribe('http.client.response.finish', ({ request, response }) => {
    try {
      const p = request && request.path;
      if (p && p.endsWith('/runtime/invocation/next') && response && isApi(request)) invocationStart(response.headers['lambda-runtime-deadline-ms']);
    } catch (err) {
      fail('http', err);
    }
  });
}

function wrapNative(ex) {
  if (typeof ex.done === 'function') {
    const done = ex.done;
    ex.done = function () {
      invocationEnd(undefined);
      return done.apply(this, arguments);
    };
  }
  if (typeof ex.error === 'function') {
    const error = ex.error;
    ex.error = function (_id, body) {
      invocationEnd(typeof body === 'string' ? body : 'error');
      return error.apply(this, arguments);
    };
  }
  if (typeof ex.next === 'function') {
    const next = ex.next;
    ex.next = function () {
      const r = next.apply(this, arguments);
      const seen = (v) => {
        try {
          const h = v && v.headers;
          if (h) invocationStart(h['lambda-runtime-deadline-ms'] || h['Lambda-Runtime-Deadline-Ms']);
        } catch (err) {
          fail('next', err);
        }
        return v;
      };
      return r && typeof r.then === 'function' ? r.then(seen) : seen(r);
    };
  }
}

// ------------------------------------------------------------------ triggers
function isEmfile(err) {
  const seen = new Set();
  let e = err;
  for (let n = 0; e && n < 20 && !seen.has(e); n++) {
    seen.add(e);
    if (e.code === 'EMFILE' || e.code === 'ENFILE' || e.errno === -24 || e.errno === -23) return true;
    const m = typeof e.message === 'string' ? e.message : '';
    if (/\bEMFILE\b|too many open files/i.test(m)) return true;
    e = e.cause;
  }
  return false;
}

function installTriggers() {
  process.on('uncaughtExceptionMonitor', (err) => {
    try {
      if (!isEmfile(err)) return;
    } catch (_) {
      return;
    }
    toStderr('EMFILE in an uncaught exception; where the open descriptors came from:');
    send('emfile', null);
  });
  const sig = (env.FDSCOPE_SIGNAL || 'USR1').toUpperCase();
  if (sig && sig !== '0') {
    const name = sig.startsWith('SIG') ? sig : `SIG${sig}`;
    try {
      if (process.listenerCount(name) === 0) process.on(name, () => toStderr(`report on signal ${name}`));
    } catch (_) {}
  }
  const interval = parseFloat(env.FDSCOPE_REPORT_INTERVAL || '');
  if (interval > 0) setInterval(() => send('interval', null), interval * 1000).unref();
  const atExit = env.FDSCOPE_REPORT_AT_EXIT || '';
  process.on('exit', () => {
    if (!active && !atExit) return;
    if (['1', 'text'].includes(atExit) || (!atExit && !env.AWS_LAMBDA_RUNTIME_API)) toStderr('report at exit');
    send('exit', null);
  });
  const fraction = warnFraction();
  const soft = limits().soft;
  if (soft) warnAt = Math.max(1, Math.floor(soft * fraction) - 1);
}

// ------------------------------------------------------------------ start
function start() {
  if (active || broken) return;
  if (FAULT === 'start') throw new Error('injected fault (start)');
  hook = asyncHooks.createHook({ init });
  patchFs();
  patchListen();
  openReserve();
  watchRuntimeClient();
  installTriggers();
  active = true;
  hook.enable();
}

const api = {
  send,
  report: build,
  text: (title) => text(build(null), title),
  invocationStart,
  invocationEnd,
  isActive: () => active,
  stop: () => {
    active = false;
    if (hook) hook.disable();
  },
};
module.exports = api;
globalThis[Symbol.for('fdscope.origins')] = api;

try {
  start();
} catch (err) {
  fail('start', err);
}
