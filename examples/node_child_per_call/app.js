// A helper process per invocation (a `cat` worker fed through stdin), never ended:
// each child keeps its three pipes open in the function's process, 3 descriptors
// and 1 process per invocation.
const { spawn } = require("child_process");

exports.handler = async (event) => {
  const worker = spawn("cat", [], { stdio: ["pipe", "pipe", "pipe"] });
  worker.stdin.write(JSON.stringify(event) + "\n");
  const first = await new Promise((resolve) => worker.stdout.once("data", (d) => resolve(String(d))));
  return { echoed: first.length };
};
