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


if __name__ == "__main__":
    main()
