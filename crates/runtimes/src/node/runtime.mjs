// flint's runtime client for nodejs functions.
//
// It speaks the Lambda Runtime API (2018-06-01) at AWS_LAMBDA_RUNTIME_API: it loads the handler
// named by its first argument (else _HANDLER) from LAMBDA_TASK_ROOT, then forever takes the next
// event, runs the handler and posts its result or error. How the handler is found, the context
// object, callbacks, console output and error shapes follow Lambda's Node.js runtime, so a
// function behaves here as it does on Lambda.

import { readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import util from 'node:util';

const require = createRequire(import.meta.url);
const RUNTIME_PATH = '/2018-06-01/runtime';
const api = new URL(`http://${process.env.AWS_LAMBDA_RUNTIME_API}`);
// Every invocation is two small exchanges with the Runtime API: keep the connection open and
// send without Nagle's delay.
const agent = new Agent({ keepAlive: true, noDelay: true });
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');

// Lambda's error types for a runtime that cannot load or run the handler.
class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnsupportedStreamingHandler extends Error {}
class UnhandledPromiseRejection extends Error {}
class NodeJsExit extends Error {}
for (const type of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  UnsupportedStreamingHandler,
  UnhandledPromiseRejection,
  NodeJsExit,
]) {
  type.prototype.name = `Runtime.${type.name}`;
}

// ---- Talking to the Runtime API ----

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const send = (retried) => {
      const options = {
        agent,
        method,
        host: api.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: api.port,
        path: urlPath,
        headers:
          body === undefined ? headers : { ...headers, 'Content-Length': Buffer.byteLength(body) },
      };
      const req = request(options, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.on('error', (error) => {
        // A kept-alive connection that the server closed while it was idle fails on its first
        // use; send once more on a fresh connection.
        const stale = error.code === 'ECONNRESET' || error.code === 'EPIPE';
        if (stale && req.reusedSocket && !retried) {
          send(true);
        } else {
          reject(error);
        }
      });
      req.end(body);
    };
    send(false);
  });
}

async function nextInvocation() {
  const res = await call('GET', `${RUNTIME_PATH}/invocation/next`);
  if (res.status !== 200) {
    throw new Error(`the Runtime API answered ${res.status} to /next: ${res.body}`);
  }
  const requestId = res.headers['lambda-runtime-aws-request-id'];
  return { requestId, headers: res.headers, body: res.body };
}

async function postResult(requestId, result) {
  let body;
  try {
    body = JSON.stringify(result === undefined ? null : result) ?? 'null';
  } catch {
    const error = new Error('Unable to stringify response body');
    return postError(`${RUNTIME_PATH}/invocation/${requestId}/error`, error);
  }
  await call('POST', `${RUNTIME_PATH}/invocation/${requestId}/response`, body);
}

async function postError(urlPath, error) {
  const payload = errorPayload(error);
  const headers = {
    'Content-Type': 'application/vnd.aws.lambda.error+json',
    // Header values must be printable ASCII; an odd error name must not stop the report.
    'Lambda-Runtime-Function-Error-Type': String(payload.errorType).replace(/[^\x20-\x7e]/g, '?'),
  };
  await call('POST', urlPath, JSON.stringify(payload), headers);
}

// The error document Lambda's Node.js runtime posts: errors give their name, message and stack
// lines; anything else thrown gives its type and text.
function errorPayload(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      const trace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
      return { errorType: error.name, errorMessage: error.message, trace };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    const errorMessage = 'the error thrown by the function could not be read';
    return { errorType: 'handled', errorMessage };
  }
}

function looksLikeError(value) {
  return (
    typeof value?.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

// ---- Console output in Lambda's formats ----

const LEVELS = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
// Printed as "undefined" outside invocations, as Lambda does.
let currentRequestId;
const jsonLogs = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';

function patchConsole() {
  const minimum = LEVELS[process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()] ?? LEVELS.TRACE;
  const logger = (level) =>
    LEVELS[level] >= minimum ? (...params) => writeLog(level, params) : () => {};
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

function writeLog(level, params) {
  const time = new Date().toISOString();
  const line = jsonLogs
    ? jsonLogLine(time, level, params)
    : `${time}\t${currentRequestId}\t${level}\t${util.format(...params)}`;
  // One record per line: a multi-line message keeps its breaks as carriage returns.
  process.stdout.write(`${line.replace(/\n/g, '\r')}\n`);
}

function jsonLogLine(timestamp, level, params) {
  const record = { timestamp, level, requestId: currentRequestId };
  if (params.length === 1) {
    const replacer = (_key, value) =>
      value instanceof Error ? { ...errorFields(value), ...value } : value;
    try {
      return JSON.stringify({ ...record, message: params[0] }, replacer);
    } catch {
      return JSON.stringify({ ...record, message: util.format(params[0]) });
    }
  }
  const firstError = params.find((param) => param instanceof Error);
  const fields = firstError ? errorFields(firstError) : {};
  return JSON.stringify({ ...record, message: util.format(...params), ...fields });
}

// How an error appears in a JSON log record.
function errorFields(error) {
  return {
    errorType: error.constructor?.name ?? 'UnknownError',
    errorMessage: error.message,
    stackTrace: typeof error.stack === 'string' ? error.stack.split('\n') : [],
  };
}

// How an error appears after "Invoke Error" in a text log record.
function describeError(error) {
  return {
    errorType: error.name,
    errorMessage: error.message,
    code: error.code,
    ...error,
    stack: typeof error.stack === 'string' ? error.stack.split('\n') : error.stack,
  };
}

// Logs an error the runtime reports, as Lambda does ("Invoke Error", "Uncaught Exception").
function logError(prefix, error) {
  const asError = error instanceof Error ? error : new Error(error);
  if (jsonLogs) {
    console.error(asError);
    return;
  }
  let text;
  try {
    text = JSON.stringify(describeError(asError));
  } catch {
    text = JSON.stringify(errorPayload(asError));
  }
  console.error(prefix, `\t${text}`);
}

// ---- Loading the handler ----

async function loadHandler(taskRoot, handlerName) {
  if (handlerName.includes('..')) {
    throw new MalformedHandlerName(
      `'${handlerName}' is not a valid handler name. ` +
        'Use absolute paths when specifying root directories in handler names.',
    );
  }
  const fileAndExport = path.basename(handlerName);
  const moduleRoot = handlerName.slice(0, handlerName.length - fileAndExport.length);
  const match = /^([^.]*)\.(.*)$/.exec(fileAndExport);
  if (!match) {
    throw new MalformedHandlerName('Bad handler');
  }
  const [, moduleName, exportPath] = match;
  let userModule;
  try {
    userModule = await loadModule(taskRoot, moduleRoot, moduleName);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new UserCodeSyntaxError(String(error));
    }
    if (error?.code === 'MODULE_NOT_FOUND' || error?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new ImportModuleError(String(error));
    }
    throw error;
  }
  const handler = exportPath.split('.').reduce((value, key) => value?.[key], userModule);
  if (!handler) {
    throw new HandlerNotFound(`${handlerName} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw new HandlerNotFound(`${handlerName} is not a function`);
  }
  if (handler[STREAMING]) {
    throw new UnsupportedStreamingHandler(
      `${handlerName} streams its response (awslambda.streamifyResponse), ` +
        "which flint's nodejs runtime does not support",
    );
  }
  return handler;
}

// Loads the module as Lambda does: CommonJS files with require(), ES modules with import(),
// and a package of that name from node_modules last.
async function loadModule(taskRoot, moduleRoot, moduleName) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  // An extensionless file or a directory, as CommonJS.
  if (statOrNull(base)) {
    return require(base);
  }
  const isFile = (file) => statOrNull(file)?.isFile() ?? false;
  if (isFile(`${base}.js`)) {
    const esModule = inModuleScope(path.dirname(base));
    return esModule ? import(pathToFileURL(`${base}.js`).href) : require(`${base}.js`);
  }
  if (isFile(`${base}.mjs`)) {
    return import(pathToFileURL(`${base}.mjs`).href);
  }
  if (isFile(`${base}.cjs`)) {
    return require(`${base}.cjs`);
  }
  const paths = [taskRoot, path.resolve(taskRoot, moduleRoot)];
  return require(require.resolve(moduleName, { paths }));
}

function statOrNull(file) {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

// Whether .js files in `dir` are ES modules: the nearest package.json says "type": "module".
function inModuleScope(dir) {
  for (let current = dir; ; current = path.dirname(current)) {
    if (current.endsWith(`${path.sep}node_modules`)) {
      return false;
    }
    let text;
    try {
      text = readFileSync(path.join(current, 'package.json'), 'utf8');
    } catch {
      if (current === path.dirname(current)) {
        return false;
      }
      continue;
    }
    try {
      return JSON.parse(text)?.type === 'module';
    } catch {
      return false;
    }
  }
}

// ---- Running invocations ----

// What to do when the event loop runs empty during an invocation: finish it (see below).
let onEmptyEventLoop = null;
process.on('beforeExit', () => {
  const hook = onEmptyEventLoop;
  onEmptyEventLoop = null;
  hook?.();
});

// The last invocation started; an uncaught error is reported against it.
let lastRequestId = null;

// Runs one invocation; resolves once its outcome is posted.
function runInvocation(handler, invocation) {
  return new Promise((finished) => {
    const { requestId, headers } = invocation;
    currentRequestId = requestId;
    lastRequestId = requestId;
    let settled = false;
    let waitsForEmptyEventLoop = true;
    let returnedPromise = false;

    const report = (error, result) => {
      onEmptyEventLoop = null;
      const failed = error !== undefined && error !== null;
      if (failed) {
        logError('Invoke Error', error);
      }
      const posted = failed
        ? postError(`${RUNTIME_PATH}/invocation/${requestId}/error`, error)
        : postResult(requestId, result);
      posted.then(finished, lostRuntimeApi);
    };
    // Only the first of callback, succeed, fail, done and the returned promise counts.
    const once =
      (fn) =>
      (...args) => {
        if (!settled) {
          settled = true;
          fn(...args);
        }
      };
    const callback = once((error, result) => {
      if ((error !== undefined && error !== null) || !waitsForEmptyEventLoop) {
        report(error, result);
      } else {
        // Lambda answers a callback only once the function's pending work is done.
        onEmptyEventLoop = () => setImmediate(() => report(null, result));
      }
    });
    const succeed = once((result) => report(null, result));
    const fail = once((error) => report(error ?? 'handled'));
    const done = once(report);

    // Nothing left to run and no answer: a returned promise that never settled is an error,
    // a handler that never called back answers null.
    onEmptyEventLoop = () => {
      settled = true;
      if (returnedPromise) {
        report(new NodeJsExit('the handler returned a promise that never settled'));
      } else {
        report(null, null);
      }
    };

    try {
      setTraceId(headers['lambda-runtime-trace-id']);
      const event = JSON.parse(invocation.body);
      const context = {
        get callbackWaitsForEmptyEventLoop() {
          return waitsForEmptyEventLoop;
        },
        set callbackWaitsForEmptyEventLoop(value) {
          waitsForEmptyEventLoop = value;
        },
        succeed,
        fail,
        done,
        functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
        functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
        invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
        memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
        awsRequestId: requestId,
        logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
        logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
        identity: parseJsonHeader(headers, 'lambda-runtime-cognito-identity', 'CognitoIdentity'),
        clientContext: parseJsonHeader(headers, 'lambda-runtime-client-context', 'ClientContext'),
        getRemainingTimeInMillis: () => Number(headers['lambda-runtime-deadline-ms']) - Date.now(),
      };
      if (headers['lambda-runtime-aws-tenant-id']) {
        context.tenantId = headers['lambda-runtime-aws-tenant-id'];
      }
      const result = handler(event, context, callback);
      if (typeof result?.then === 'function') {
        returnedPromise = true;
        result.then(succeed, fail);
      }
    } catch (error) {
      callback(error);
    }
  });
}

function setTraceId(traceId) {
  if (traceId) {
    process.env._X_AMZN_TRACE_ID = traceId;
  } else {
    delete process.env._X_AMZN_TRACE_ID;
  }
}

function parseJsonHeader(headers, name, description) {
  const value = headers[name];
  if (value === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new Error(`Cannot parse ${description} as json: ${error}`);
  }
}

// ---- Failing ----

function lostRuntimeApi(error) {
  const reason = error?.message ?? error;
  process.stderr.write(`flint runtime: lost the Runtime API at ${api.host}: ${reason}\n`);
  process.exit(1);
}

// Reports an error that escaped the handler, against the last invocation (or the init), and
// ends the process as Lambda's runtime does.
let dying = false;
function die(error, exitCode) {
  if (dying) {
    return;
  }
  dying = true;
  const urlPath = lastRequestId
    ? `${RUNTIME_PATH}/invocation/${lastRequestId}/error`
    : `${RUNTIME_PATH}/init/error`;
  // The report is best effort: the process ends even if the Runtime API does not answer.
  setTimeout(() => process.exit(exitCode), 2000).unref();
  postError(urlPath, error)
    .catch(() => {})
    .finally(() => process.exit(exitCode));
}

function describeReason(reason) {
  try {
    return String(reason);
  } catch {
    return util.inspect(reason);
  }
}

// ---- Start ----

patchConsole();
process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  die(error, 129);
});
process.on('unhandledRejection', (reason) => {
  const error = new UnhandledPromiseRejection(describeReason(reason));
  logError('Unhandled Promise Rejection', error);
  die(error, 128);
});
const noGlobal = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
if (noGlobal !== 'true' && noGlobal !== '1') {
  globalThis.awslambda = {
    streamifyResponse(handler) {
      handler[STREAMING] = 'response';
      return handler;
    },
  };
}

// Not a top-level await: the runtime's own pending promise must not count as unsettled work
// when the event loop runs empty during an invocation.
async function main() {
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.argv[2] || process.env._HANDLER || '');
  } catch (error) {
    logError('Uncaught Exception', error);
    await postError(`${RUNTIME_PATH}/init/error`, error).catch(() => {});
    process.exit(1);
  }
  try {
    for (;;) {
      await runInvocation(handler, await nextInvocation());
    }
  } catch (error) {
    lostRuntimeApi(error);
  }
}

main();
