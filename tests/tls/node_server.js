// Node `ws` as a server for examples/client. On connection it sends every message of
// messages.js, then echoes what the client sends (text as "echo: " + text). The client is run
// twice: sending stdin lines as text, then as binary (--binary: everything printed as hex).
// Its stdout must be exactly the expected lines, and the server must get exactly its lines.
// usage: node node_server.js CLIENT_BINARY [--tls CERT.pem KEY.pem] --deflate on|off
"use strict";
const fs = require("fs");
const http = require("http");
const https = require("https");
const { spawn } = require("child_process");
const { WebSocketServer } = require("ws");
const { MESSAGES, pseudoRandom, fail } = require("./messages.js");

const args = process.argv.slice(2);
const client = args[0];
const tls = args.includes("--tls") ? { cert: args[args.indexOf("--tls") + 1], key: args[args.indexOf("--tls") + 2] } : null;
const deflate = args[args.indexOf("--deflate") + 1] === "on";
setTimeout(() => fail("node server: timeout"), 60000).unref();

const server = tls
  ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) })
  : http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: deflate ? { threshold: 0 } : false, maxPayload: 64 << 20 });
let session = null; // what the server saw of the current client run

wss.on("connection", (ws, req) => {
  session.path = req.url;
  session.extensions = ws.extensions;
  for (const [kind, payload] of MESSAGES) ws.send(payload, { binary: kind === "binary" });
  ws.on("message", (data, isBinary) => {
    session.got.push([isBinary, Buffer.from(data)]);
    ws.send(isBinary ? data : "echo: " + data.toString(), { binary: isBinary });
  });
  ws.on("close", (code) => { session.close = code; });
});

const hex = (b) => Buffer.from(b).toString("hex");
// stdin lines, as the client sends them: one empty, non-ASCII, 100 KiB+.
const LINES = ["", "two ü 𝄞", "λx.".repeat(40 * 1024) + pseudoRandom(64, 7).toString("hex")];

function run(port, binary) {
  return new Promise((resolve) => {
    session = { got: [], close: null };
    const url = `${tls ? "wss" : "ws"}://127.0.0.1:${port}/room?x=1`;
    const argv = [url, ...(tls ? ["--ca", tls.cert] : []), ...(binary ? ["--binary"] : [])];
    const proc = spawn(client, argv, { stdio: ["pipe", "pipe", "pipe"] });
    const expected = [
      ...MESSAGES.map(([kind, p]) => (kind === "text" && !binary ? p : hex(Buffer.from(p)))),
      ...LINES.map((l) => (binary ? hex(Buffer.from(l)) : "echo: " + l)),
    ];
    let out = "";
    let err = "";
    let ended = false;
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d) => {
      out += d;
      // Every expected line is in: end of input, the client closes with 1000.
      if (!ended && out.split("\n").length > expected.length) { ended = true; proc.stdin.end(); }
    });
    proc.stderr.on("data", (d) => { err += d; });
    for (const l of LINES) proc.stdin.write(l + "\n");
    proc.on("close", (code) => {
      const mode = binary ? "--binary" : "text";
      if (code !== 0) fail(`node server (${mode}): client exited with ${code}: ${err}`);
      const lines = out.split("\n");
      if (lines.pop() !== "") fail(`node server (${mode}): output does not end with a newline`);
      if (lines.length !== expected.length) fail(`node server (${mode}): ${lines.length} lines, want ${expected.length}: ${err}`);
      lines.forEach((l, i) => { if (l !== expected[i]) fail(`node server (${mode}): line ${i} differs (${l.length} chars, want ${expected[i].length})`); });
      if (session.got.length !== LINES.length) fail(`node server (${mode}): got ${session.got.length} messages`);
      session.got.forEach(([isBinary, data], i) => {
        if (isBinary !== binary || !data.equals(Buffer.from(LINES[i]))) fail(`node server (${mode}): message ${i} differs`);
      });
      if (session.path !== "/room?x=1") fail(`node server: path ${session.path}`);
      if (deflate !== /permessage-deflate/.test(session.extensions)) fail(`node server: extensions ${JSON.stringify(session.extensions)}`);
      if (deflate !== /extensions: permessage-deflate/.test(err)) fail(`node server: client says ${err}`);
      // The server's close event may come just after the client's exit.
      const deadline = Date.now() + 5000;
      const check = () => {
        if (session.close === null && Date.now() < deadline) return void setTimeout(check, 20);
        if (session.close !== 1000) fail(`node server (${mode}): close code ${session.close}`);
        resolve(expected.length);
      };
      check();
    });
  });
}

server.listen(0, "127.0.0.1", async () => {
  const port = server.address().port;
  const a = await run(port, false);
  const b = await run(port, true);
  console.log(`node server: examples/client got ${a} + ${b} lines byte for byte, extensions ${JSON.stringify(session.extensions)}`);
  process.exit(0);
});
