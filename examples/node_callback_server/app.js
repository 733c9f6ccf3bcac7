// A callback handler that starts a server per invocation and never closes it.
// Lambda answers a callback handler only when the event loop is empty (unless
// context.callbackWaitsForEmptyEventLoop = false), and the listening server keeps
// it busy: every invocation times out, the environment is replaced, and the
// descriptor count never climbs. The finding is the handle that keeps the loop
// alive (the server's listen() line), not a rising count.
const http = require("http");

exports.handler = (event, context, callback) => {
  const hook = http.createServer((req, res) => res.end("ok"));
  hook.listen(0, "127.0.0.1", () => {
    callback(null, { port: hook.address().port });
  });
};
