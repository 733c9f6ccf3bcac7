// The story's fix: the server is created once per execution environment, at
// module scope, and every invocation is proxied to it (one listening socket and
// one pooled connection for the environment's whole life).
const http = require("http");
const awsServerlessExpress = require("aws-serverless-express");
const Koa = require("koa");

// connection reuse for the calls this API makes (a common Lambda tuning line)
http.globalAgent = new http.Agent({ keepAlive: true });

const app = new Koa();
app.use(async (ctx) => {
  ctx.body = { path: ctx.path, stock: ["A-1", "B-2", "C-3"].map((sku) => ({ sku, n: sku.length })) };
});
const server = awsServerlessExpress.createServer(app.callback());
server.keepAliveTimeout = 65000;

exports.handler = (event, context) => awsServerlessExpress.proxy(server, event, context, "PROMISE").promise;
