/*
 * fdscope's stand-in for aws-lambda-ric 3.x: a runtime interface client for
 * Node.js written with Node's own modules only, used by the local Lambda when
 * the real client (a native addon) cannot be had.
 *
 * It exports run(appRoot, handler) like aws-lambda-ric and follows the same
 * rules, ported from aws-lambda-ric 3.3.0's dist/index.mjs (Apache-2.0,
 * Copyright Amazon.com, Inc. or its affiliates):
 *  - Runtime API calls: GET /invocation/next, POST /invocation/ID/response,
 *    POST /invocation/ID/error, POST /init/error, over one keep-alive
 *    connection (the native client holds one curl connection);
 *  - console.* patched to `<ISO time>\t<requestId>\t<LEVEL>\t<message>` (or
 *    Lambda's JSON lines with AWS_LAMBDA_LOG_FORMAT=JSON), written as frames to
 *    _LAMBDA_TELEMETRY_LOG_FD when set, else to stdout;
 *  - handlers: callback handlers wait for an empty event loop unless
 *    context.callbackWaitsForEmptyEventLoop = false; promises are answered when
 *    they settle; context.succeed/fail/done; first answer wins;
 *  - errors: {errorType, errorMessage, trace}; Runtime.ImportModuleError,
 *    Runtime.HandlerNotFound, Runtime.MalformedHandlerName,
 *    Runtime.UserCodeSyntaxError, Runtime.UnhandledPromiseRejection; an
 *    uncaught exception during an invocation reports it and exits 129 (128 for
 *    an unhandled rejection), during init posts /init/error;
 *  - modules: file.handler with nested paths (dir/file.a.b), extensionless,
 *    .js (CommonJS, or ES module under "type": "module"), .mjs, .cjs, then
 *    Node's own resolution.
 * Not ported: response streaming (awslambda.streamifyResponse handlers are
 * refused as Runtime.MalformedStreamingHandler).
 */
import { createRequire } from "module";
import fs from "fs";
import http from "http";
import path from "path";
import util from "util";

const require = createRequire(import.meta.url);

export const CLIENT_NAME = "fdscope-standin";
export const CLIENT_VERSION = "3.3.0";

// ---------------------------------------------------------------- errors
function _isError(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === "string" &&
    typeof obj.message === "string" &&
    typeof obj.stack === "string"
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || _isError(error)) {
      return {
        errorType: error.name?.replace(/\x7F/g, "%7F"),
        errorMessage: error.message?.replace(/\x7F/g, "%7F"),
        trace: error.stack.replace(/\x7F/g, "%7F").split("\n"),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: "handled",
      errorMessage:
        "callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack",
    };
  }
}

function _withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign(
      { errorType: error.name, errorMessage: error.message, code: error.code },
      error,
    );
    if (typeof error.stack == "string") {
      ret.stack = error.stack.split("\n");
    }
    return ret;
  }
  return error;
}

function toFormatted(error) {
  try {
    return "\t" + JSON.stringify(error, (_k, v) => _withEnumerableProperties(v));
  } catch (err) {
    return "\t" + JSON.stringify(toRapidResponse(error));
  }
}

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class MalformedStreamingHandler extends Error {}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
for (const e of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  MalformedStreamingHandler,
  UnhandledPromiseRejection,
]) {
  e.prototype.name = `Runtime.${e.name}`;
}

function xrayFormatted(err) {
  try {
    const stack = [];
    if (err.stack) {
      const lines = err.stack.replace(/\x7F/g, "%7F").split("\n");
      lines.shift();
      for (const stackLine of lines) {
        let line = stackLine.trim().replace(/\(|\)/g, "");
        line = line.substring(line.indexOf(" ") + 1);
        const label = line.lastIndexOf(" ") >= 0 ? line.slice(0, line.lastIndexOf(" ")) : null;
        let where = !label ? line : line.slice(line.lastIndexOf(" ") + 1);
        where = where.split(":");
        stack.push({ path: where[0], line: parseInt(where[1]), label: label || "anonymous" });
      }
    }
    return JSON.stringify({
      working_directory: process.cwd(),
      exceptions: [
        {
          type: err.name?.replace(/\x7F/g, "%7F"),
          message: err.message?.replace(/\x7F/g, "%7F"),
          stack,
        },
      ],
      paths: Array.from(new Set(stack.map((e) => e.path))),
    });
  } catch (_) {
    return "";
  }
}

// ---------------------------------------------------------------- logs
const REQUEST_ID_SYMBOL = Symbol.for("aws.lambda.runtime.requestId");
const TENANT_ID_SYMBOL = Symbol.for("aws.lambda.runtime.tenantId");
const structuredConsole = {};

const jsonErrorReplacer = (_, value) => {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? "UnknownError",
        errorMessage: value.message,
        stackTrace: typeof value.stack === "string" ? value.stack.split("\n") : value.stack,
      },
      value,
    );
  }
  return value;
};

function formatJsonMessage(requestId, timestamp, level, tenantId, ...messageParams) {
  const result = { timestamp, level: level.name, requestId };
  if (tenantId !== undefined && tenantId !== null) {
    result.tenantId = tenantId;
  }
  if (messageParams.length === 1) {
    result.message = messageParams[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...messageParams);
  for (const param of messageParams) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? "UnknownError";
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === "string" ? param.stack.split("\n") : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function textLine(level, message, params) {
  const time = new Date().toISOString();
  return `${time}\t${globalThis[REQUEST_ID_SYMBOL]}\t${level.name}\t${util.format(message, ...params)}`;
}

const logTextToStdout = (level, message, ...params) => {
  process.stdout.write(textLine(level, message, params).replace(/\n/g, "\r") + "\n");
};

const logJsonToStdout = (level, message, ...params) => {
  const line = formatJsonMessage(
    globalThis[REQUEST_ID_SYMBOL],
    new Date().toISOString(),
    level,
    globalThis[TENANT_ID_SYMBOL],
    message,
    ...params,
  );
  process.stdout.write(line.replace(/\n/g, "\r") + "\n");
};

function frameWriter(logTarget, type, format) {
  const typeAndLength = Buffer.alloc(16);
  return (level, message, ...params) => {
    const date = new Date();
    const messageBytes = Buffer.from(format(date, level, message, params), "utf8");
    typeAndLength.writeUInt32BE((type | level.tlvMask) >>> 0, 0);
    typeAndLength.writeInt32BE(messageBytes.length, 4);
    typeAndLength.writeBigInt64BE(BigInt(date.valueOf()) * 1000n, 8);
    fs.writeSync(logTarget, typeAndLength);
    fs.writeSync(logTarget, messageBytes);
  };
}

const logTextToFd = (fd) =>
  frameWriter(fd, 2774138883, (date, level, message, params) => {
    const text = util.format(message, ...params);
    return `${date.toISOString()}\t${globalThis[REQUEST_ID_SYMBOL]}\t${level.name}\t${text}\n`;
  });

const logJsonToFd = (fd) =>
  frameWriter(fd, 2774138882, (date, level, message, params) =>
    formatJsonMessage(
      globalThis[REQUEST_ID_SYMBOL],
      date.toISOString(),
      level,
      globalThis[TENANT_ID_SYMBOL],
      message,
      ...params,
    ),
  );

function patchConsoleWith(log) {
  const NopLog = () => {};
  const levels = Object.freeze({
    TRACE: { name: "TRACE", priority: 1, tlvMask: 4 },
    DEBUG: { name: "DEBUG", priority: 2, tlvMask: 8 },
    INFO: { name: "INFO", priority: 3, tlvMask: 12 },
    WARN: { name: "WARN", priority: 4, tlvMask: 16 },
    ERROR: { name: "ERROR", priority: 5, tlvMask: 20 },
    FATAL: { name: "FATAL", priority: 6, tlvMask: 24 },
  });
  const wanted = levels[process.env["AWS_LAMBDA_LOG_LEVEL"]?.toUpperCase()] ?? levels.TRACE;
  const at = (level) =>
    level.priority >= wanted.priority ? (msg, ...params) => log(level, msg, ...params) : NopLog;
  console.trace = at(levels.TRACE);
  console.debug = at(levels.DEBUG);
  console.info = at(levels.INFO);
  console.log = console.info;
  console.warn = at(levels.WARN);
  console.error = at(levels.ERROR);
  console.fatal = (msg, ...params) => log(levels.FATAL, msg, ...params);
}

function patchConsole() {
  const json = process.env["AWS_LAMBDA_LOG_FORMAT"]?.toUpperCase() === "JSON";
  let logger;
  if (process.env["_LAMBDA_TELEMETRY_LOG_FD"] != null) {
    const logFd = parseInt(process.env["_LAMBDA_TELEMETRY_LOG_FD"]);
    delete process.env["_LAMBDA_TELEMETRY_LOG_FD"];
    logger = json ? logJsonToFd(logFd) : logTextToFd(logFd);
  } else {
    logger = json ? logJsonToStdout : logTextToStdout;
  }
  patchConsoleWith(logger);
  structuredConsole.logError = json
    ? (_, err) => console.error(intoError(err))
    : (msg, err) => console.error(msg, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------- Runtime API
const API = "/2018-06-01/runtime";

class RuntimeApiClient {
  constructor(hostnamePort) {
    const [hostname, port] = hostnamePort.split(":");
    this.hostname = hostname;
    this.port = parseInt(port, 10);
    // one connection, kept alive between calls (free sockets do not hold the loop)
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  _request(method, urlPath, body, headers) {
    return new Promise((resolve, reject) => {
      const options = {
        hostname: this.hostname,
        port: this.port,
        path: urlPath,
        method,
        agent: this.agent,
        headers: Object.assign({ "User-Agent": `${CLIENT_NAME}/${CLIENT_VERSION}` }, headers || {}),
      };
      if (body !== undefined) {
        options.headers["Content-Length"] = Buffer.byteLength(body);
      }
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  async nextInvocation() {
    const res = await this._request("GET", `${API}/invocation/next`);
    if (res.status !== 200) {
      throw new Error(`Failed to get next invocation, status ${res.status}`);
    }
    return { bodyJson: res.body, headers: res.headers };
  }

  postInvocationResponse(response, id, callback) {
    const body = _trySerializeResponse(response);
    this._post(
      `${API}/invocation/${encodeURIComponent(id)}/response`,
      body,
      { "Content-Type": "application/json" },
      callback,
    );
  }

  postInvocationError(error, id, callback) {
    const response = toRapidResponse(error);
    const headers = { "Content-Type": "application/json" };
    const xray = xrayFormatted(error);
    if (xray) {
      headers["Lambda-Runtime-Function-XRay-Error-Cause"] = xray;
    }
    this._post(
      `${API}/invocation/${encodeURIComponent(id)}/error`,
      _trySerializeResponse(response),
      headers,
      callback,
    );
  }

  postInitError(error, callback) {
    const response = toRapidResponse(error);
    this._post(
      `${API}/init/error`,
      _trySerializeResponse(response),
      { "Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": response.errorType },
      callback,
    );
  }

  _post(urlPath, body, headers, callback) {
    // the native client posts synchronously; here the next step waits for the answer
    this._request("POST", urlPath, body, headers).then(
      () => callback(),
      (err) => {
        process.nextTick(() => {
          throw err; // as the real client's request error handler does
        });
      },
    );
  }
}

function _trySerializeResponse(body) {
  try {
    return JSON.stringify(body === undefined ? null : body);
  } catch (err) {
    throw new Error("Unable to stringify response body");
  }
}

// ---------------------------------------------------------------- beforeExit
const LISTENER_SYMBOL = Symbol.for("aws.lambda.beforeExit");
const NO_OP_LISTENER = () => {};
const BeforeExitListener = {
  invoke: () => globalThis[LISTENER_SYMBOL](),
  reset: () => (globalThis[LISTENER_SYMBOL] = NO_OP_LISTENER),
  set: (listener) => (globalThis[LISTENER_SYMBOL] = listener),
};

// ---------------------------------------------------------------- context
const INVOKE_HEADER = {
  ClientContext: "lambda-runtime-client-context",
  CognitoIdentity: "lambda-runtime-cognito-identity",
  ARN: "lambda-runtime-invoked-function-arn",
  AWSRequestId: "lambda-runtime-aws-request-id",
  DeadlineMs: "lambda-runtime-deadline-ms",
  XRayTrace: "lambda-runtime-trace-id",
  TenantId: "lambda-runtime-aws-tenant-id",
};

function _parseJson(jsonString, name) {
  if (jsonString === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(jsonString);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

class InvokeContext {
  constructor(headers) {
    this.headers = {};
    for (const key of Object.keys(headers)) {
      this.headers[key.toLowerCase()] = headers[key];
    }
  }

  get invokeId() {
    const id = this.headers[INVOKE_HEADER.AWSRequestId];
    if (!id) {
      throw new Error("invocation id is missing or invalid");
    }
    return id;
  }

  updateLoggingContext() {
    globalThis[REQUEST_ID_SYMBOL] = this.invokeId;
    globalThis[TENANT_ID_SYMBOL] = this.headers[INVOKE_HEADER.TenantId];
  }

  attachEnvironmentData(callbackContext) {
    if (this.headers[INVOKE_HEADER.XRayTrace]) {
      process.env["_X_AMZN_TRACE_ID"] = this.headers[INVOKE_HEADER.XRayTrace];
    } else {
      delete process.env["_X_AMZN_TRACE_ID"];
    }
    const deadline = Number(this.headers[INVOKE_HEADER.DeadlineMs]);
    return Object.assign(
      callbackContext,
      {
        functionVersion: process.env["AWS_LAMBDA_FUNCTION_VERSION"],
        functionName: process.env["AWS_LAMBDA_FUNCTION_NAME"],
        memoryLimitInMB: process.env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        logGroupName: process.env["AWS_LAMBDA_LOG_GROUP_NAME"],
        logStreamName: process.env["AWS_LAMBDA_LOG_STREAM_NAME"],
      },
      {
        clientContext: _parseJson(this.headers[INVOKE_HEADER.ClientContext], "ClientContext"),
        identity: _parseJson(this.headers[INVOKE_HEADER.CognitoIdentity], "CognitoIdentity"),
        invokedFunctionArn: this.headers[INVOKE_HEADER.ARN],
        awsRequestId: this.headers[INVOKE_HEADER.AWSRequestId],
        tenantId: this.headers[INVOKE_HEADER.TenantId],
        getRemainingTimeInMillis: () => deadline - Date.now(),
      },
    );
  }
}

function buildCallbackContext(client, id, scheduleNext) {
  const postError = (err, callback) => {
    structuredConsole.logError("Invoke Error", err);
    client.postInvocationError(err, id, callback);
  };
  let isCompleteInvoked = false;
  const complete = (result, callback) => {
    if (isCompleteInvoked) {
      console.error(
        "Invocation has already been reported as done. Cannot call complete more than once per invocation.",
      );
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result, id, callback);
  };
  let waitForEmptyEventLoop = true;
  const callback = (err, result) => {
    BeforeExitListener.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      BeforeExitListener.set(() => {
        setImmediate(() => complete(result, scheduleNext));
      });
    }
  };
  const done = (err, result) => {
    BeforeExitListener.reset();
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else {
      complete(result, scheduleNext);
    }
  };
  const succeed = (result) => done(null, result);
  const fail = (err) => (err === undefined || err === null ? done("handled") : done(err, null));
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };
  let finished = false;
  const once = (fn) =>
    function () {
      if (!finished) {
        fn.apply(null, arguments);
        finished = true;
      }
    };
  context.succeed = once(context.succeed);
  context.fail = once(context.fail);
  context.done = once(context.done);
  const markCompleted = () => {
    isCompleteInvoked = true;
  };
  return [once(callback), context, markCompleted];
}

// ---------------------------------------------------------------- user function
const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
const HANDLER_STREAMING = Symbol.for("aws.lambda.runtime.handler.streaming");

function _tryRequireFile(file, extension) {
  const p = file + (extension || "");
  return fs.existsSync(p) ? require(p) : undefined;
}

async function _tryAwaitImport(file, extension) {
  const p = file + (extension || "");
  return fs.existsSync(p) ? await import(p) : undefined;
}

function _hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith("/node_modules")) {
    return false;
  }
  const pj = path.join(folder, "/package.json");
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) {
        return pkg.type === "module";
      }
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === "/") {
    return false;
  }
  return _hasFolderPackageJsonTypeModule(path.resolve(folder, ".."));
}

async function _tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = _tryRequireFile(lambdaStylePath);
  if (extensionless) {
    return extensionless;
  }
  const jsPath = lambdaStylePath + ".js";
  const pjHasModule = fs.existsSync(jsPath)
    ? _hasFolderPackageJsonTypeModule(path.resolve(path.dirname(jsPath)))
    : false;
  if (!pjHasModule) {
    const loaded = _tryRequireFile(lambdaStylePath, ".js");
    if (loaded) {
      return loaded;
    }
  }
  const loaded =
    (pjHasModule && (await _tryAwaitImport(lambdaStylePath, ".js"))) ||
    (await _tryAwaitImport(lambdaStylePath, ".mjs")) ||
    _tryRequireFile(lambdaStylePath, ".cjs");
  if (loaded) {
    return loaded;
  }
  return require(require.resolve(module, { paths: [appRoot, moduleRoot] }));
}

async function loadUserFunction(appRoot, fullHandlerString) {
  if (fullHandlerString.includes("..")) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  const match = handlerString.match(FUNCTION_EXPR);
  if (!match || match.length != 3) {
    throw new MalformedHandlerName("Bad handler");
  }
  const [, module, handlerPath] = match;
  if (!(process.env["AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA"] === "1" ||
        process.env["AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA"] === "true")) {
    globalThis.awslambda = {
      streamifyResponse: (handler) => {
        handler[HANDLER_STREAMING] = "response";
        return handler;
      },
      HttpResponseStream: {
        from() {
          throw new MalformedStreamingHandler("fdscope's stand-in client does not stream responses");
        },
      },
    };
  }
  let userApp;
  try {
    userApp = await _tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new UserCodeSyntaxError(e);
    } else if (e.code !== undefined && e.code === "MODULE_NOT_FOUND") {
      throw new ImportModuleError(e);
    }
    throw e;
  }
  const handlerFunc = handlerPath.split(".").reduce((nested, key) => nested && nested[key], userApp);
  if (!handlerFunc) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handlerFunc !== "function") {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  if (handlerFunc[HANDLER_STREAMING]) {
    throw new MalformedStreamingHandler("fdscope's stand-in client does not stream responses");
  }
  return handlerFunc;
}

// ---------------------------------------------------------------- loop
function _isPromise(obj) {
  return obj && obj.then && typeof obj.then === "function";
}

class Runtime {
  constructor(client, handler, errorCallbacks) {
    this.client = client;
    this.handler = handler;
    this.errorCallbacks = errorCallbacks;
  }

  scheduleIteration() {
    setImmediate(() => {
      this.handleOnce().then(
        () => {},
        (err) => {
          console.log(`Unexpected Top Level Error: ${err.toString()}`);
          this.errorCallbacks.uncaughtException(err);
        },
      );
    });
  }

  async handleOnce() {
    const { bodyJson, headers } = await this.client.nextInvocation();
    const invokeContext = new InvokeContext(headers);
    invokeContext.updateLoggingContext();
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      this.client,
      invokeContext.invokeId,
      this.scheduleIteration.bind(this),
    );
    try {
      this._setErrorCallbacks(invokeContext.invokeId);
      BeforeExitListener.set(() => {
        markCompleted();
        this.client.postInvocationResponse(null, invokeContext.invokeId, () => this.scheduleIteration());
      });
      const result = this.handler(
        JSON.parse(bodyJson),
        invokeContext.attachEnvironmentData(callbackContext),
        callback,
      );
      if (_isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  _setErrorCallbacks(invokeId) {
    this.errorCallbacks.uncaughtException = (error) => {
      this.client.postInvocationError(error, invokeId, () => process.exit(129));
    };
    this.errorCallbacks.unhandledRejection = (error) => {
      this.client.postInvocationError(error, invokeId, () => process.exit(128));
    };
  }
}

export async function run(appRootOrHandler, handler = "") {
  patchConsole();
  const client = new RuntimeApiClient(process.env.AWS_LAMBDA_RUNTIME_API);
  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error, () => process.exit(129)),
    unhandledRejection: (error) => client.postInitError(error, () => process.exit(128)),
  };
  process.on("uncaughtException", (error) => {
    structuredConsole.logError("Uncaught Exception", error);
    errorCallbacks.uncaughtException(error);
  });
  process.on("unhandledRejection", (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    structuredConsole.logError("Unhandled Promise Rejection", error);
    errorCallbacks.unhandledRejection(error);
  });
  BeforeExitListener.reset();
  process.on("beforeExit", BeforeExitListener.invoke);
  const handlerFunc =
    typeof appRootOrHandler === "function"
      ? appRootOrHandler
      : await loadUserFunction(appRootOrHandler, handler);
  new Runtime(client, handlerFunc, errorCallbacks).scheduleIteration();
}
