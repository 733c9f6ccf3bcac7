// A heartbeat per invocation: each call opens a connection to the metrics relay
// and starts a setInterval that pings it; the interval is never cleared, so the
// timer keeps its connection (and the relay's end) alive: 2 descriptors per
// invocation. The relay runs in-process on 127.0.0.1. An async handler does not
// wait for the event loop, so the invocations themselves succeed.
const net = require("net");

const relay = net.createServer((conn) => conn.on("data", () => {}));
const ready = new Promise((resolve) => relay.listen(0, "127.0.0.1", resolve));

exports.handler = async (event) => {
  await ready;
  const conn = net.connect(relay.address().port, "127.0.0.1");
  conn.on("error", () => {});
  setInterval(() => conn.write("ping\n"), 1000);
  return { ok: true };
};
