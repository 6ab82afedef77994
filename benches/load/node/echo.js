// Node `ws` echo server for benches/load: one process (one JS thread), no compression.
// usage: node echo.js HOST:PORT   (NODE_PATH must point at a node_modules holding ws@8)
'use strict';
const { WebSocketServer } = require('ws');
const [host, port] = (process.argv[2] || '127.0.0.1:9100').split(':');
const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: false, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening on ${host}:${port}`));
