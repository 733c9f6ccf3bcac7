// Handlers for tests/local/test_node_runtime.py: each export one behaviour of
// Lambda's Node.js runtime client (aws-lambda-ric), run under it and the stand-in.
const fs = require("fs");
const net = require("net");
const path = require("path");

exports.callback = (event, context, callback) => {
  console.log("hello", event, { n: [1, 2] });
  console.warn("two\nlines");
  callback(null, { ok: event.n, fn: context.functionName, left: context.getRemainingTimeInMillis() > 0 });
};
exports.asyncReturn = async (event) => ({ async: true, n: event.n });
exports.nested = { deeper: { fn: async () => "nested" } };
exports.asyncThrow = async () => {
  const err = new TypeError("bad input");
  err.code = "E_BAD";
  throw err;
};
exports.callbackError = (event, context, callback) => callback(new Error("callback failed"));
exports.callbackString = (event, context, callback) => callback("plain words");
exports.noCallback = () => {
  console.info("returns nothing, calls nothing");
};
exports.succeed = (event, context) => context.succeed({ via: "succeed" });
exports.waitsForTimer = (event, context, callback) => {
  setTimeout(() => console.log("timer ran before the answer"), 100);
  callback(null, "after the timer");
};
exports.noWait = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  setTimeout(() => console.log("timer of the previous invocation"), 300);
  callback(null, "at once");
};
// a server per invocation keeps the event loop busy: every callback waits (timeout)
exports.serverPerCall = (event, context, callback) => {
  const server = net.createServer(() => {});
  server.listen(0, "127.0.0.1", () => callback(null, "listening"));
};
exports.uncaughtLater = () => {
  setTimeout(() => {
    throw new Error("thrown in a timer");
  }, 5);
};
exports.rejection = () => {
  Promise.reject(new Error("nobody catches this"));
};
exports.notAFunction = 42;
// a UNIX socket file at a hard-coded /tmp path (as aws-serverless-express does)
exports.socketFile = async (event) => {
  const where = path.join("/tmp", `fdscope-node-test-${event.tag}.sock`);
  const server = net.createServer(() => {});
  await new Promise((resolve) => server.listen(where, resolve));
  return { where, exists: fs.existsSync(where) };
};
exports.env = async () => ({
  handler: process.env._HANDLER,
  taskRoot: process.env.LAMBDA_TASK_ROOT,
  nodePath: process.env.NODE_PATH,
  execEnv: process.env.AWS_EXECUTION_ENV,
  fn: process.env.AWS_LAMBDA_FUNCTION_NAME,
  tmp: require("os").tmpdir(),
  limit: fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files")),
  fdscopeVars: Object.keys(process.env).filter((k) => k.startsWith("_FDSCOPE")),
  gc: typeof globalThis.gc,
});
exports.layer = async () => require("layerlib").hello();
