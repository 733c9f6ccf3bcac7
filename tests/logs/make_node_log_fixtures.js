'use strict';
/*
 * Writes the Node.js log fixtures with aws-lambda-ric's own LogPatch.js.
 *
 *   node tests/logs/make_node_log_fixtures.js RIC_SRC_DIR tests/fixtures/logs/node
 *
 * RIC_SRC_DIR holds src/LogPatch.js and src/Errors.js of
 * github.com/aws/aws-lambda-nodejs-runtime-interface-client (commit da5777a,
 * aws-lambda-ric 3.3.0). Each format runs in a child process of its own (the
 * patch reads AWS_LAMBDA_LOG_FORMAT and _LAMBDA_TELEMETRY_LOG_FD once). The
 * platform lines (START/END/REPORT) are written here in the words the Lambda
 * documentation shows; every other line is what LogPatch.js wrote.
 */
const fs = require('fs');
const path = require('path');
const cp = require('child_process');

const [ricDir, outDir, mode] = process.argv.slice(2);
const IDS = ['8f5a0c1e-3b7d-4c2a-9e61-0d4b5a6c7e8f', 'c2d4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f'];

if (!mode) {
  for (const m of ['text', 'json', 'telemetry']) {
    const env = { ...process.env, AWS_LAMBDA_LOG_FORMAT: m === 'json' ? 'JSON' : 'TEXT' };
    delete env._LAMBDA_TELEMETRY_LOG_FD;
    const out = path.join(outDir, m === 'json' ? 'json-stdout.log' : m === 'text' ? 'text-stdout.log' : 'frames.bin');
    const fd = fs.openSync(out, 'w');
    if (m === 'telemetry') env._LAMBDA_TELEMETRY_LOG_FD = '3';
    // a low descriptor limit, so the EMFILE error below is Node's own
    cp.execFileSync('sh', ['-c', `ulimit -n 40; exec "${process.execPath}" "${__filename}" "${ricDir}" "${outDir}" ${m}`], {
      env,
      stdio: ['ignore', m === 'telemetry' ? 'ignore' : fd, 'inherit', m === 'telemetry' ? fd : 'ignore'],
    });
    fs.closeSync(fd);
  }
  framesToEvents(path.join(outDir, 'frames.bin'), path.join(outDir, 'cloudwatch-events.json'));
  fs.unlinkSync(path.join(outDir, 'frames.bin'));
  process.exit(0);
}

const LogPatch = require(path.join(ricDir, 'LogPatch.js'));
const platform = (line) => {
  // the platform's own lines go to the log stream, not through the runtime
  if (mode !== 'telemetry') return process.stdout.write(line + '\n');
  // in the frame stream with a type of its own, so the events keep their order
  const msg = Buffer.from(line, 'utf8');
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0xffffffff, 0);
  head.writeInt32BE(msg.length, 4);
  head.writeBigInt64BE(BigInt(Date.now()) * 1000n, 8);
  fs.writeSync(3, head);
  fs.writeSync(3, msg);
};
LogPatch.patchConsole();

console.log('init: loading handler'); // outside an invocation: requestId undefined
const held = [];
for (const [n, id] of IDS.entries()) {
  platform(`START RequestId: ${id} Version: $LATEST`);
  LogPatch.setCurrentRequestId(id);
  console.log('handling event', { path: '/items', n });
  console.info('multi-line\nsecond line\n  third, indented');
  console.warn('slow downstream: %d ms', 1200 + n);
  if (n === 1) {
    try {
      for (;;) held.push(fs.openSync(__filename, 'r'));
    } catch (err) {
      console.error('open failed', err);
      console.error(err);
    }
    const net = require('net');
    const e = new Error('connect EMFILE 127.0.0.1:5432 - Local (undefined:undefined)');
    Object.assign(e, { errno: -24, code: 'EMFILE', syscall: 'connect' });
    console.error(e);
    void net;
  }
  for (const fd of held.splice(0)) fs.closeSync(fd);
  console.debug('done', n);
  platform(`END RequestId: ${id}`);
  platform(`REPORT RequestId: ${id}\tDuration: ${12.34 + n} ms\tBilled Duration: ${13 + n} ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t`);
  LogPatch.setCurrentRequestId(undefined);
}

function framesToEvents(bin, out) {
  // CloudWatch keeps one event per frame, its newlines kept
  const buf = fs.readFileSync(bin);
  const stream = '2026/12/08/[$LATEST]0123456789abcdef0123456789abcdef';
  const events = [];
  for (let off = 0; off + 16 <= buf.length; ) {
    const len = buf.readInt32BE(off + 4);
    const ts = Number(buf.readBigInt64BE(off + 8) / 1000n);
    const message = buf.slice(off + 16, off + 16 + len).toString('utf8').replace(/\n$/, '');
    events.push({ timestamp: ts, message, logStreamName: stream, ingestionTime: ts + 50, eventId: String(events.length) });
    off += 16 + len;
  }
  fs.writeFileSync(out, JSON.stringify({ events }, null, 1) + '\n');
}
