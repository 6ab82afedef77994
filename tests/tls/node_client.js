// Node `ws` as a client of examples/echo_server: every message of messages.js is sent
// (pipelined) and must come back with the same kind and the same bytes; then a close with a
// code and reason, which the server echoes.
// usage: node node_client.js ws[s]://HOST:PORT/ [--ca CERT.pem] --deflate on|off
"use strict";
const fs = require("fs");
const WebSocket = require("ws");
const { MESSAGES, fail } = require("./messages.js");

const args = process.argv.slice(2);
const url = args[0];
const ca = args.includes("--ca") ? fs.readFileSync(args[args.indexOf("--ca") + 1]) : undefined;
const deflate = args[args.indexOf("--deflate") + 1] === "on";
setTimeout(() => fail("node client: timeout"), 60000).unref();

// threshold 0: compress every message, not only those over 1 KiB.
const ws = new WebSocket(url, { ca, perMessageDeflate: deflate ? { threshold: 0 } : false, maxPayload: 64 << 20 });
const received = [];
ws.on("error", (e) => fail("node client: " + e.message));
ws.on("open", () => {
  const ext = ws.extensions;
  if (deflate !== /permessage-deflate/.test(ext)) fail(`node client: deflate ${deflate ? "on" : "off"} but extensions = ${JSON.stringify(ext)}`);
  for (const [kind, payload] of MESSAGES) ws.send(payload, { binary: kind === "binary" });
});
ws.on("message", (data, isBinary) => {
  const i = received.length;
  received.push(data);
  const [kind, payload] = MESSAGES[i] || fail(`node client: unexpected message ${i}`);
  if (isBinary !== (kind === "binary")) fail(`node client: message ${i}: ${isBinary ? "binary" : "text"} instead of ${kind}`);
  const want = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
  if (!want.equals(data)) fail(`node client: message ${i} differs (${data.length} bytes, want ${want.length})`);
  if (received.length === MESSAGES.length) ws.close(4001, "node bye ✓");
});
ws.on("close", (code, reason) => {
  if (received.length !== MESSAGES.length) fail(`node client: closed after ${received.length} messages`);
  if (code !== 4001 || reason.toString() !== "node bye ✓") fail(`node client: close ${code} ${reason}`);
  console.log(`node client: ${MESSAGES.length} messages echoed byte for byte, extensions ${JSON.stringify(ws.extensions)}`);
  process.exit(0);
});
