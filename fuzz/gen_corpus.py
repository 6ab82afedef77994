#!/usr/bin/env python3
"""Writes the small seed corpus under fuzz/corpus/ (RFC 6455 §5.7 examples and friends).

Run from anywhere: `python3 fuzz/gen_corpus.py`. Deterministic; re-running rewrites the same files.
The roundtrip seeds are raw `arbitrary` bytes, so they are pseudo-random (fixed seed)."""
import hashlib, os, random, struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(opcode, payload, fin=True, mask=None, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def streams(mask):
    f = lambda *a, **k: frame(*a, mask=mask, **k)
    return {
        "hello": f(1, b"Hello"),
        "fragmented": f(1, b"Hel", fin=False) + f(0, b"lo"),
        "fragmented_ping_inside": f(2, b"ab", fin=False) + f(9, b"p") + f(0, b"cd"),
        "ping": f(9, b"Hello"),
        "pong": f(10, b"Hello"),
        "binary256": f(2, bytes(range(256))),
        "close_normal": f(8, b"\x03\xe8bye"),
        "close_empty": f(8, b""),
        "close_bad_code": f(8, b"\x03\xed"),
        "text_ping_close": f(1, "κόσμε".encode()) + f(9, b"") + f(8, b"\x03\xe8"),
        "utf8_split_fragments": f(1, "€".encode()[:1], fin=False) + f(0, "€".encode()[1:]),
        "bad_utf8": f(1, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80"),
        "empty_fragments": f(2, b"", fin=False) + f(0, b"", fin=False) + f(0, b"x"),
        "too_big_1001": f(2, bytes(1001)),
    }


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


def main():
    # server_read / client_read: [cfg, splits, lens.., wire..] (see fuzz/src/read.rs).
    for target, mask in (("server_read", KEY), ("client_read", None)):
        for name, wire in streams(mask).items():
            write(target, name + "_whole", bytes([0x00, 0x00]) + wire)
            write(target, name + "_stream_split", bytes([0x01, 0x03 | (4 << 3), 1, 2, 5]) + wire)
        # Headers of 256-byte and 64 KiB frames with a short payload (the rest never comes).
        write(target, "header_64k", bytes([0x05, 0x01, 3]) + frame(2, bytes(65536), mask=mask)[:40])
        write(target, "header_256_limit_126", bytes([0x10, 0x00]) + frame(2, bytes(256), mask=mask))
        write(target, "auto_off", bytes([0x60, 0x00]) + frame(9, b"x", mask=mask) + frame(8, b"", mask=mask))
    # frame_header: bare headers.
    headers = {
        "hello": frame(1, b"Hello")[:2],
        "hello_masked": frame(1, b"Hello", mask=KEY)[:6],
        "len256": frame(2, bytes(256))[:4],
        "len64k": frame(2, bytes(65536))[:10],
        "len64k_masked": frame(2, bytes(65536), mask=KEY)[:14],
        "nonminimal16": bytes([0x82, 126, 0, 5]),
        "nonminimal64": bytes([0x82, 127, 0, 0, 0, 0, 0, 0, 1, 0]),
        "msb_set": bytes([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        "ping": bytes([0x89, 0x05]),
        "close_masked": bytes([0x88, 0x82]) + KEY,
        "reserved_opcode": bytes([0x83, 0x00]),
        "rsv_all": bytes([0xF1, 0x00]),
        "one_byte": bytes([0x81]),
    }
    for name, h in headers.items():
        write("frame_header", name, h)
    # utf8: [n, lens.., text..].
    texts = {
        "ascii": b"Hello-UTF-8!!",
        "greek": "κόσμε".encode(),
        "emoji": "𝄞 € 😀".encode(),
        "surrogate": b"\xed\xa0\x80",
        "overlong": b"\xc0\xaf",
        "above_max": b"\xf4\x90\x80\x80",
        "truncated": b"\xe2\x82",
        "autobahn_6_4_1": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64",
    }
    for name, t in texts.items():
        write("utf8", name, bytes([0]) + t)
        write("utf8", name + "_bytewise", bytes([min(len(t), 15)]) + bytes([1] * min(len(t), 15)) + t)
    # mask: [key(4), offset, split, payload..].
    write("mask", "rfc_hello", KEY + bytes([0, 0]) + frame(1, b"Hello", mask=KEY)[6:])
    for n, (off, split) in enumerate([(1, 3), (2, 17), (3, 33), (5, 64), (0, 255)]):
        write("mask", f"len{n * 40 + 7}_off{off}", bytes([1, 2, 3, 4, off, split]) + bytes(range(n * 40 + 7)))
    # roundtrip: `arbitrary` bytes; fixed pseudo-random seeds of a few sizes.
    rng = random.Random(6455)
    for n in (16, 64, 256, 1024):
        for i in range(3):
            write("roundtrip", f"random_{n}_{i}", bytes(rng.randrange(256) for _ in range(n)))
    handshake_and_deflate()


def crlf(*lines):
    return "".join(l + "\r\n" for l in lines).encode() + b"\r\n"


KEY_HDR = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
REQUESTS = {
    "chromium": crlf("GET /chat HTTP/1.1", "Host: 127.0.0.1:9001", "Connection: Upgrade", "Upgrade: websocket",
                     "Origin: http://127.0.0.1:9001", "Sec-WebSocket-Version: 13", KEY_HDR,
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
    "python_websockets": crlf("GET /chat HTTP/1.1", "Host: 127.0.0.1:9001", "Upgrade: websocket",
                              "Connection: Upgrade", KEY_HDR, "Sec-WebSocket-Version: 13",
                              "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                              "User-Agent: Python/3.11 websockets/13.1"),
    "node_ws": crlf("GET /chat HTTP/1.1", "Sec-WebSocket-Version: 13", KEY_HDR, "Connection: Upgrade",
                    "Upgrade: websocket",
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "Host: 127.0.0.1:9001"),
    "rfc6455_1_3": crlf("GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket",
                        "Connection: Upgrade", KEY_HDR, "Origin: http://example.com",
                        "Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Version: 13"),
    "post_405": crlf("POST /chat HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade", KEY_HDR,
                     "Sec-WebSocket-Version: 13"),
    "version8_426": crlf("GET / HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade", KEY_HDR,
                         "Sec-WebSocket-Version: 8"),
    "plain_get": crlf("GET /index.html HTTP/1.1", "Host: h", "Accept: */*"),
    "bare_lf": b"GET / HTTP/1.1\nHost: h\n\n",
}
ACCEPT_HDR = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RESPONSES = {
    "rfc6455_1_3_101": crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                            ACCEPT_HDR, "Sec-WebSocket-Protocol: chat"),
    "deflate_101_and_frame": crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                  "Connection: Upgrade", ACCEPT_HDR,
                                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10")
    + bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]),
    "wrong_accept_101": crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                             "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    "redirect_302": crlf("HTTP/1.1 302 Found", "Location: https://example.com/chat", "Content-Length: 0"),
    "unauthorized_401": crlf("HTTP/1.1 401 Unauthorized", 'WWW-Authenticate: Basic realm="ws"',
                             "Content-Length: 5") + b"nope\n",
}
# RFC 7692 §7.2.3 compressed payloads (without the 00 00 ff ff tail).
DEFLATE = {
    "hello_7_2_3_1": (bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]), []),
    "hello_fragments_7_2_3_1": (bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]), [3]),
    "stored_7_2_3_3": (bytes([0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]), []),
    "bfinal_7_2_3_4": (bytes([0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]), []),
    "empty_7_2_3_6": (bytes([0x00]), []),
}


def handshake_and_deflate():
    # handshake_server: [mode, lens.., request..]; handshake_client: [nonce(16), mode, lens.., response..].
    for name, req in REQUESTS.items():
        write("handshake_server", name, bytes([0]) + req)
    write("handshake_server", "chromium_split", bytes([3, 5, 40, 100]) + REQUESTS["chromium"])
    write("handshake_server", "node_ws_small_limit", bytes([0x08 | 0x30]) + REQUESTS["node_ws"])
    for name, resp in RESPONSES.items():
        write("handshake_client", name, b"the sample nonce" + bytes([0]) + resp)
    write("handshake_client", "rfc6455_1_3_101_split", b"the sample nonce" + bytes([2, 13, 60])
          + RESPONSES["rfc6455_1_3_101"])
    # deflate read mode: [0, cfg, splits, lens.., shape, cuts.., payload..].
    for name, (payload, cuts) in DEFLATE.items():
        text = 8
        write("deflate", name, bytes([0, 0, 0, text | len(cuts)] + cuts) + payload)
        write("deflate", name + "_twice_stream_split", bytes([0, 1, 2, 4, 9, text | 32 | 64 | len(cuts)] + cuts)
              + payload)
    # deflate round trip: [odd, arbitrary Script bytes..].
    rng = random.Random(7692)
    for n in (32, 128, 512):
        for i in range(2):
            write("deflate", f"roundtrip_random_{n}_{i}", bytes([1]) + bytes(rng.randrange(256) for _ in range(n)))


if __name__ == "__main__":
    main()
