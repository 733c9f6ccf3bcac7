// The story's function: a koa API behind aws-serverless-express, with the server
// created inside the handler. Every invocation makes a new http.Server that
// aws-serverless-express starts listening on a new UNIX socket
// (/tmp/server-<random>.sock) and proxies the event to: the listening socket, the
// client connection and the accepted one stay open after the invocation (the
// keep-alive agent below keeps the client side, and the server's keep-alive
// timeout, set above a load balancer's 60 s idle timeout as commonly advised,
// keeps its side). A few hundred invocations later: EMFILE, then a timeout
// (aws-serverless-express only logs a failed listen), then a cold start.
const http = require("http");
const awsServerlessExpress = require("aws-serverless-express");
const Koa = require("koa");

// connection reuse for the calls this API makes (a common Lambda tuning line)
http.globalAgent = new http.Agent({ keepAlive: true });

const app = new Koa();
app.use(async (ctx) => {
  ctx.body = { path: ctx.path, stock: ["A-1", "B-2", "C-3"].map((sku) => ({ sku, n: sku.length })) };
});

exports.handler = (event, context) => {
  const server = awsServerlessExpress.createServer(app.callback());
  server.keepAliveTimeout = 65000;
  return awsServerlessExpress.proxy(server, event, context, "PROMISE").promise;
};
