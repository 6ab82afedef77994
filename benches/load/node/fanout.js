// Node `ws` fan-out server for benches/load (the broadcast cases): every text message a client
// sends goes to every other open client, by looping over the clients as ws's README shows
// (`wss.clients.forEach(c => c.send(data))`): each `send` frames (and, with permessage-deflate,
// compresses) the message for that client. permessage-deflate is negotiated only when the
// client offers it, with threshold 0 so that every message is compressed (as the other servers do).
// usage: node fanout.js HOST:PORT   (NODE_PATH must point at a node_modules holding ws@8)
'use strict';
const { WebSocketServer, WebSocket } = require('ws');
const [host, port] = (process.argv[2] || '127.0.0.1:9200').split(':');
const wss = new WebSocketServer({ host, port: Number(port), perMessageDeflate: { threshold: 0 }, maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((c) => {
      if (c !== ws && c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  });
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`listening on ${host}:${port}`));
