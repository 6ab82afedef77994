#!/usr/bin/env python3
"""Why the node ws column of the 16 KiB deflate row reads FAILED (benches/load/README.md).

`load` learns a server's compressed echo of a message from the first echo and then compares
every later echo with it byte for byte: with `server_no_context_takeover` each message is
compressed on its own, so the same message should come back as the same bytes. This probe sends
one 16 KiB message compressed the same way, many times, to a running echo server (start
`node benches/load/node/echo.js 127.0.0.1:PORT` with NODE_PATH set, as run.sh does), and
reports every echo whose bytes differ from the first, and whether it still inflates to the
message (RFC 7692 §7.2.2).

    python3 benches/load/node/deflate_probe.py PORT [IN_FLIGHT] [COUNT]
"""
import os
import random
import socket
import struct
import sys
import zlib

port = int(sys.argv[1])
in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 1
count = int(sys.argv[3]) if len(sys.argv) > 3 else 300

sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(
    b"GET / HTTP/1.1\r\nHost: probe\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; "
    b"server_no_context_takeover\r\n\r\n"
)
pending = b""
while b"\r\n\r\n" not in pending:
    pending += sock.recv(4096)
head, pending = pending.split(b"\r\n\r\n", 1)
assert b"permessage-deflate" in head, "the server did not accept permessage-deflate"

# 16 KiB of word-like text, compressible as the load cases' messages are.
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(200)]
message = b" ".join(rng.choice(words) for _ in range(4000))[:16384]


def inflate(payload):
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


deflater = zlib.compressobj(1, zlib.DEFLATED, -15)
compressed = deflater.compress(message) + deflater.flush(zlib.Z_SYNC_FLUSH)
compressed = compressed[:-4]  # RFC 7692 §7.2.1: the empty stored block's tail is left out
key = os.urandom(4)
masked = bytes(b ^ key[i % 4] for i, b in enumerate(compressed))
frame = bytes([0xC2, 0x80 | 126]) + struct.pack(">H", len(compressed)) + key + masked


def read_frame():
    """The next whole frame from the server: (its bytes, where its payload starts)."""
    global pending
    while True:
        if len(pending) >= 2:
            n, start = pending[1] & 0x7F, 2
            if n == 126 and len(pending) >= 4:
                n, start = struct.unpack(">H", pending[2:4])[0], 4
            elif n == 127 and len(pending) >= 10:
                n, start = struct.unpack(">Q", pending[2:10])[0], 10
            if (pending[1] & 0x7F) < 126 or start > 2:
                if len(pending) >= start + n:
                    whole, pending = pending[: start + n], pending[start + n :]
                    return whole, start
        data = sock.recv(1 << 20)
        if not data:
            sys.exit("the server closed the connection")
        pending += data


first, sent, received, differ = None, 0, 0, 0
while received < count:
    while sent < count and sent - received < in_flight:
        sock.sendall(frame)
        sent += 1
    echo, start = read_frame()
    assert echo[0] & 0x40, "every echo is compressed (threshold 0)"
    ok = inflate(echo[start:]) == message
    if first is None:
        first = echo
        print(f"echo 0: {len(echo)} bytes, inflates to the message: {ok}")
    elif echo != first:
        differ += 1
        print(f"echo {received}: {len(echo)} bytes, not the first echo's {len(first)}; inflates to the message: {ok}")
    if not ok:
        sys.exit(f"echo {received} does not inflate to the message")
    received += 1
print(f"{received} echoes, {differ} with other bytes than the first, all inflating to the message")
