// The story's function: a koa API behind aws-serverless-express, with the server
// created inside the handler. Every invocation makes a new http.Server that
// aws-serverless-express starts listening on a new UNIX socket
// (/tmp/server-<random>.sock) and proxies the event to over a keep-alive
// connection: the listening socket, the client connection and the accepted one
// stay open after the invocation. A few hundred invocations later: EMFILE.
const awsServerlessExpress = require("aws-serverless-express");
const Koa = require("koa");

const app = new Koa();
app.use(async (ctx) => {
  ctx.body = { path: ctx.path, stock: ["A-1", "B-2", "C-3"].map((sku) => ({ sku, n: sku.length })) };
});

exports.handler = (event, context) => {
  const server = awsServerlessExpress.createServer(app.callback());
  return awsServerlessExpress.proxy(server, event, context, "PROMISE").promise;
};
