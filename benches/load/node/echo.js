// Node `ws` echo server for benches/load: one process (one JS thread). permessage-deflate is
// negotiated only when the client offers it (the deflate cases), with threshold 0 so that every
// message is compressed as the other servers do (the default threshold sends < 1 KiB plain).
// usage: node echo.js HOST:PORT   (NODE_PATH must point at a node_modules holding ws@8)
'use strict';
const { WebSocketServer } = require('ws');
const [host, port] = (process.argv[2] || '127.0.0.1:9100').split(':');
const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening on ${host}:${port}`));
