/*
 * fdscope's Node.js entry: the exec wrapper (/opt/fdscope-wrapper) points _HANDLER
 * here and keeps the function's own handler in FDSCOPE_HANDLER. This module loads
 * that handler as the runtime would (CommonJS or ES module, aws-lambda-ric's rules)
 * and exports it wrapped by the monitor (./monitor.js), with its shape kept: arity
 * (callback or async), response streaming, name.
 *
 * Fails open: when the monitor cannot be loaded or configured, the handler is
 * exported untouched (one line on stderr). Errors loading the function's own
 * module are the function's: they reach the runtime as they would without fdscope.
 */
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';

const require = createRequire(import.meta.url);
const env = process.env;

let mod = null;
try {
  mod = require('./monitor.js');
} catch (err) {
  try {
    process.stderr.write(
      `fdscope: internal error in require (the handler is unaffected; reported once per process): ${err && err.stack ? String(err.message) : err}\n`,
    );
  } catch (_) {}
}
let monitor = null;
if (mod) {
  try {
    monitor = mod.fromEnv();
  } catch (err) {
    mod.reportOnce('config', err);
  }
}
// creation sites (origins tracking) before the function's module is loaded, unless
// a preload already started it
if (monitor && env.FDSCOPE_TRACK === '1' && !globalThis[Symbol.for('fdscope.origins')]) {
  try {
    require('./origins/node/track.js');
  } catch (err) {
    process.stderr.write(`fdscope: origins tracking unavailable: ${err}\n`);
  }
}

// -- the function's handler, loaded by aws-lambda-ric 3.x's rules (UserFunction.js)
function named(name, message) {
  const e = new Error(message);
  e.name = name;
  return e;
}

function tryRequireFile(file, ext) {
  const p = file + (ext || '');
  return fs.existsSync(p) ? require(p) : undefined;
}

async function tryImport(file, ext) {
  const p = file + (ext || '');
  return fs.existsSync(p) ? await import(p) : undefined;
}

function typeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (_) {
      return false;
    }
  }
  if (folder === '/') return false;
  return typeModule(path.resolve(folder, '..'));
}

async function loadUser(appRoot, full) {
  if (!full) throw named('Runtime.HandlerNotFound', 'fdscope: FDSCOPE_HANDLER is empty (no _HANDLER to wrap)');
  if (full.includes('..')) {
    throw named(
      'Runtime.MalformedHandlerName',
      `'${full}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.indexOf(base));
  const m = /^([^.]*)\.(.*)$/.exec(base);
  if (!m) throw named('Runtime.MalformedHandlerName', 'Bad handler');
  const [, module, handlerPath] = m;
  const file = path.resolve(appRoot, moduleRoot, module);
  let app = tryRequireFile(file);
  if (!app) {
    const esm = fs.existsSync(file + '.js') && typeModule(path.dirname(file + '.js'));
    if (!esm) app = tryRequireFile(file, '.js');
    if (!app) app = (esm && (await tryImport(file, '.js'))) || (await tryImport(file, '.mjs')) || tryRequireFile(file, '.cjs');
    if (!app) app = require(require.resolve(module, { paths: [appRoot, moduleRoot] }));
  }
  const fn = handlerPath.split('.').reduce((o, k) => o && o[k], app);
  if (!fn) throw named('Runtime.HandlerNotFound', `${full} is undefined or not exported`);
  if (typeof fn !== 'function') throw named('Runtime.HandlerNotFound', `${full} is not a function`);
  return fn;
}

const original = await loadUser(env.LAMBDA_TASK_ROOT || process.cwd(), env.FDSCOPE_HANDLER);
let wrapped = original;
if (monitor) {
  try {
    wrapped = monitor.wrap(original);
  } catch (err) {
    monitor.internal('wrap', err);
  }
}

export const handler = wrapped;
