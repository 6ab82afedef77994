#!/usr/bin/env python3
"""A WebSocket client over HTTP/2 written by hand with python-h2 (RFC 8441 extended CONNECT).

usage: h2_client.py HOST PORT CA_PEM     (TLS, ALPN h2)
       h2_client.py HOST PORT --plain    (cleartext HTTP/2 with prior knowledge, h2c)

Checks, on one TLS connection (ALPN h2) to examples/hyper_server:
  - the server's SETTINGS carry SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3);
  - stream A (no extension offered): `:status 200` without sec-websocket-extensions, then masked
    frames in DATA (text, a fragmented text, binary of 256 and of 200 000 bytes, which crosses
    the 65 535-byte flow-control windows both ways, a ping, a close 1000 "bye"): the DATA that
    comes back is byte for byte the expected unmasked frames (pong for the ping, the close
    echoed), and the stream ends with END_STREAM, not RST_STREAM;
  - stream B, open at the same time (permessage-deflate offered): the 200 carries
    `permessage-deflate`, a compressed message (RSV1) is echoed compressed and inflates to the
    same bytes, and its close ends the stream with END_STREAM too;
  - (a RST_STREAM NO_ERROR after END_STREAM is allowed: RFC 9113 §8.1);
  - stream C with sec-websocket-version 8 is refused: `:status 400` with sec-websocket-version 13;
  - stream D sends an unmasked frame: the server answers Close 1002 and ends the stream.
Prints one line per check; exits 1 on the first failure.
"""
import os
import socket
import ssl
import struct
import sys
import time
import zlib

import h2.config
import h2.connection
import h2.events
import h2.settings

DEADLINE = time.monotonic() + 30


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok " + msg)


def frame(opcode, payload, fin=True, rsv1=False):
    """A client frame: masked (RFC 6455 §5.3), as RFC 8441 §5 keeps the framing."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def server_frame(opcode, payload, rsv1=False):
    """What the server must send: unmasked."""
    b0 = 0x80 | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    if n < 65536:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


class Client:
    def __init__(self, host, port, cafile):
        raw = socket.create_connection((host, port), timeout=10)
        self.tls = cafile != "--plain"
        if self.tls:
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.set_alpn_protocols(["h2"])
            self.sock = ctx.wrap_socket(raw, server_hostname=host)
            if self.sock.selected_alpn_protocol() != "h2":
                fail("ALPN selected %r, not h2" % self.sock.selected_alpn_protocol())
        else:
            self.sock = raw
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.flush()
        self.settings = {}
        self.got_settings = False
        self.headers = {}  # stream id -> list of (name, value)
        self.data = {}  # stream id -> bytearray
        self.ended = set()
        self.reset = {}
        self.authority = "%s:%d" % (host, port)
        self.pending = []  # (stream id, bytes) waiting for flow-control window

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, until, what):
        """Reads and handles events until `until()` is true (bounded by the deadline)."""
        while not until():
            self.send_pending()
            if time.monotonic() > DEADLINE:
                fail("timed out waiting for " + what)
            self.sock.settimeout(max(0.1, DEADLINE - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                fail("timed out waiting for " + what)
            if not chunk:
                fail("connection closed while waiting for " + what)
            for ev in self.conn.receive_data(chunk):
                self.on_event(ev)
            self.flush()

    def on_event(self, ev):
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            self.got_settings = True
            for code, setting in ev.changed_settings.items():
                self.settings[int(code)] = setting.new_value
        elif isinstance(ev, h2.events.ResponseReceived):
            self.headers[ev.stream_id] = [(bytes(n), bytes(v)) for n, v in ev.headers]
        elif isinstance(ev, h2.events.DataReceived):
            self.data.setdefault(ev.stream_id, bytearray()).extend(ev.data)
            # Give the window back as we read, so that large echoes keep flowing.
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.ended.add(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.reset[ev.stream_id] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            fail("GOAWAY from server: %r" % ev)

    def connect(self, extra):
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (b":method", b"CONNECT"),
            (b":protocol", b"websocket"),
            (b":scheme", b"https" if self.tls else b"http"),
            (b":path", b"/h2-client"),
            (b":authority", self.authority.encode()),
        ] + extra
        self.conn.send_headers(sid, fields)
        self.flush()
        return sid

    def send(self, sid, data):
        self.pending.append((sid, bytes(data)))
        self.send_pending()

    def send_pending(self):
        """Sends queued DATA as far as the peer's flow-control windows allow."""
        while self.pending:
            sid, data = self.pending[0]
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                break
            chunk, rest = data[:window], data[window:]
            self.conn.send_data(sid, chunk)
            if rest:
                self.pending[0] = (sid, rest)
            else:
                self.pending.pop(0)
        self.flush()

    def check_end(self, sid, name):
        """END_STREAM must come; RFC 9113 §8.1 lets the server then reset with NO_ERROR to say it
        needs nothing more from us (hyper's h2 does so when the WebSocket task drops the stream)."""
        self.pump(lambda: sid in self.ended or sid in self.reset, name + " to end")
        if sid not in self.ended:
            fail("%s reset with %r before END_STREAM" % (name, self.reset[sid]))
        if self.reset.get(sid, 0) != 0:
            fail("%s reset with %r after END_STREAM" % (name, self.reset[sid]))

    def status(self, sid):
        for n, v in self.headers.get(sid, []):
            if n == b":status":
                return v
        return None

    def header(self, sid, name):
        return [v for n, v in self.headers.get(sid, []) if n == name]


def main():
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    c = Client(host, port, cafile)
    enable = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
    c.pump(lambda: c.got_settings, "the server's SETTINGS")
    if c.settings.get(int(enable)) != 1:
        fail("SETTINGS_ENABLE_CONNECT_PROTOCOL = %r" % c.settings.get(int(enable)))
    ok("SETTINGS_ENABLE_CONNECT_PROTOCOL = 1")

    origin = (b"https://" if c.tls else b"http://") + c.authority.encode()
    v13 = [(b"sec-websocket-version", b"13"), (b"origin", origin)]
    a = c.connect(v13)
    b = c.connect(v13 + [(b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits")])
    bad = c.connect([(b"sec-websocket-version", b"8")])
    unmasked = c.connect(v13)
    c.pump(lambda: all(c.status(s) is not None for s in (a, b, bad, unmasked)), "four responses")
    if c.status(a) != b"200" or c.header(a, b"sec-websocket-extensions"):
        fail("stream A response %r" % c.headers[a])
    ok("stream A :status 200, no extension")
    ext = c.header(b, b"sec-websocket-extensions")
    if c.status(b) != b"200" or len(ext) != 1 or not ext[0].startswith(b"permessage-deflate"):
        fail("stream B response %r" % c.headers[b])
    ok("stream B :status 200, sec-websocket-extensions: " + ext[0].decode())
    if c.status(bad) != b"400" or c.header(bad, b"sec-websocket-version") != [b"13"]:
        fail("version 8 response %r" % c.headers[bad])
    c.pump(lambda: bad in c.ended or bad in c.reset, "the end of the refused stream")
    ok("version 8 refused: :status 400, sec-websocket-version: 13")

    # Stream D: an unmasked client frame is a protocol error (RFC 6455 §5.1) over h2 as well:
    # the server fails the WebSocket with a Close 1002 and ends the stream.
    if c.status(unmasked) != b"200":
        fail("stream D response %r" % c.headers[unmasked])
    c.send(unmasked, server_frame(0x1, b"not masked"))
    c.check_end(unmasked, "stream D")
    got = bytes(c.data.get(unmasked, b""))
    if len(got) < 4 or got[0] != 0x88 or got[1] != len(got) - 2 or got[2:4] != struct.pack("!H", 1002):
        fail("stream D: expected one Close 1002, got %r" % got)
    ok("stream D: unmasked frame answered with Close 1002 (%r), END_STREAM" % got[4:].decode(errors="replace"))

    # Stream A: every kind of frame, the echoes checked byte for byte.
    text = "h\u00e9llo over h2 \u2014 \U0001F389".encode()
    small = bytes(range(256))
    big = bytes((i * 7 + i // 251) & 0xFF for i in range(200000))
    sent = [
        frame(0x1, text),
        frame(0x1, b"frag", fin=False),
        frame(0x0, b"ment"),
        frame(0x2, small),
        frame(0x2, big),
        frame(0x9, b"ping!"),
        frame(0x8, struct.pack("!H", 1000) + b"bye"),
    ]
    expected = b"".join(
        [
            server_frame(0x1, text),
            server_frame(0x1, b"fragment"),
            server_frame(0x2, small),
            server_frame(0x2, big),
            server_frame(0xA, b"ping!"),
            server_frame(0x8, struct.pack("!H", 1000) + b"bye"),
        ]
    )
    c.send(a, b"".join(sent))
    c.check_end(a, "stream A")
    got = bytes(c.data.get(a, b""))
    if got != expected:
        at = next((i for i in range(min(len(got), len(expected))) if got[i] != expected[i]), min(len(got), len(expected)))
        fail("stream A echo differs at byte %d (got %d bytes, expected %d)" % (at, len(got), len(expected)))
    ok("stream A: text, fragmented text, binary 256 B and 200000 B, pong, close 1000 'bye': %d bytes exact" % len(got))
    ok("stream A ended with END_STREAM after the close" + (" (then RST_STREAM NO_ERROR)" if a in c.reset else ""))
    if a not in c.reset:
        c.conn.end_stream(a)
        c.flush()

    # Stream B: a compressed message (RFC 7692 §7.2.1: raw DEFLATE, the 00 00 ff ff tail removed).
    msg = ("compress me " * 50).encode()
    comp = zlib.compressobj(wbits=-15)
    payload = comp.compress(msg) + comp.flush(zlib.Z_SYNC_FLUSH)
    if not payload.endswith(b"\x00\x00\xff\xff"):
        fail("zlib sync flush tail")
    c.send(b, frame(0x1, payload[:-4], rsv1=True) + frame(0x8, struct.pack("!H", 1000)))
    c.check_end(b, "stream B")
    got = bytes(c.data.get(b, b""))
    close_echo = server_frame(0x8, struct.pack("!H", 1000))
    if not got.endswith(close_echo):
        fail("stream B does not end with the close echo: %r" % got[-8:])
    head = got[: len(got) - len(close_echo)]
    if len(head) < 2 or head[0] != 0xC1 or head[1] & 0x80 or (head[1] & 0x7F) != len(head) - 2:
        fail("stream B echo is not one compressed unmasked text frame: %r" % head[:4])
    inflated = zlib.decompressobj(wbits=-15).decompress(head[2:] + b"\x00\x00\xff\xff")
    if inflated != msg:
        fail("stream B echo inflates to %d bytes, not the %d sent" % (len(inflated), len(msg)))
    ok("stream B: compressed echo (%d -> %d bytes) inflates to the message; close 1000; END_STREAM" % (len(msg), len(head)))
    for sid in (b, unmasked):
        if sid not in c.reset:
            c.conn.end_stream(sid)
    c.conn.close_connection()
    c.flush()
    if c.tls:
        try:
            c.sock.unwrap()  # TLS close_notify before the TCP close
        except (OSError, ssl.SSLError):
            pass
    c.sock.close()
    print("h2 client: PASS")


if __name__ == "__main__":
    main()
