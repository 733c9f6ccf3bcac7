// The fix: the descriptor is closed in finally (or fs.appendFileSync, which opens
// and closes itself). Flat.
const fs = require("fs");
const os = require("os");
const path = require("path");

const audit = path.join(os.tmpdir(), "audit.log");

exports.handler = async (event) => {
  const fd = fs.openSync(audit, "a");
  try {
    fs.writeSync(fd, JSON.stringify({ at: Date.now(), event }) + "\n");
  } finally {
    fs.closeSync(fd);
  }
  return { written: true };
};
