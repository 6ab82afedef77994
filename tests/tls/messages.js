// The messages both Node legs send, shared by node_client.js and node_server.js.
"use strict";

// Deterministic bytes (xorshift32), so a failure can be reproduced.
function pseudoRandom(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// [kind, payload]: text as a string, binary as a Buffer. 100 KiB+ in both kinds.
const MESSAGES = [
  ["text", "héllo ✓ κόσμε 𝄞"],
  ["text", ""],
  ["binary", Buffer.alloc(0)],
  ["binary", Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
  ["binary", pseudoRandom(150 * 1024 + 7, 42)],
  ["binary", Buffer.alloc(120 * 1024)],
  ["text", "ω→𝄞 ".repeat(12 * 1024) + "end"],
];

function fail(msg) {
  console.error(msg);
  process.exit(1);
}

module.exports = { MESSAGES, pseudoRandom, fail };
