/*
 * The local Lambda's Node.js entry point: plays /var/runtime/index.mjs.
 *
 * `node bootstrap.mjs` reads the handler from _HANDLER and the function's folder
 * from LAMBDA_TASK_ROOT (as Lambda's runtime does), loads the runtime interface
 * client named by _FDSCOPE_NODE_CLIENT (the real aws-lambda-ric's
 * dist/index.mjs, or fdscope's standin.mjs) and hands over to its run().
 * With _FDSCOPE_GC_BETWEEN=1 it calls gc() (node --expose-gc, as Lambda starts
 * node) before each invocation but the first: the client marks the start of
 * an invocation by setting the request id its console uses, for both clients.
 * With FDSCOPE_TRACK=1 it first loads the creation-site preload named by
 * _FDSCOPE_NODE_PRELOAD (fdscope.origins' track.js). Node's own modules only.
 */
import { createRequire } from "module";
import { pathToFileURL } from "url";

const clientPath = process.env._FDSCOPE_NODE_CLIENT;
delete process.env._FDSCOPE_NODE_CLIENT;
const gcBetween = process.env._FDSCOPE_GC_BETWEEN === "1";
delete process.env._FDSCOPE_GC_BETWEEN;
const preload = process.env._FDSCOPE_NODE_PRELOAD;
delete process.env._FDSCOPE_NODE_PRELOAD;

// creation sites (fdscope.origins' preload) when tracking is on; fails open
if (preload && process.env.FDSCOPE_TRACK === "1") {
  try {
    createRequire(import.meta.url)(preload);
  } catch (err) {
    process.stderr.write(`fdscope: origins tracking unavailable: ${err}\n`);
  }
}

if (!clientPath) {
  throw new Error("fdscope: _FDSCOPE_NODE_CLIENT is not set");
}
const handler = process.env._HANDLER || process.argv[2];
if (!handler) {
  throw new Error("No handler specified");
}
const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();

if (gcBetween && typeof globalThis.gc === "function") {
  const REQUEST_ID = Symbol.for("aws.lambda.runtime.requestId");
  let current;
  let seen = 0;
  Object.defineProperty(globalThis, REQUEST_ID, {
    configurable: true,
    get: () => current,
    set: (id) => {
      if (id !== current && seen++ > 0) {
        globalThis.gc();
      }
      current = id;
    },
  });
}

const { run } = await import(pathToFileURL(clientPath).href);
await run(appRoot, handler);
