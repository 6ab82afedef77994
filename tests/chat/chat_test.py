"""examples/chat against real clients (Python websockets, and raw sockets for misbehaving ones).

Usage: chat_test.py A_PORT B_PORT REDIS_PORT REDIS_PIDFILE CHAT_BINARY
A runs with --keepalive 2; B with the defaults; both with --redis. Exits non-zero on any failure.
"""

import asyncio
import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

A_PORT, B_PORT, REDIS_PORT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REDIS_PIDFILE, CHAT = sys.argv[4], sys.argv[5]
URL = {"A": f"ws://127.0.0.1:{A_PORT}/", "B": f"ws://127.0.0.1:{B_PORT}/"}


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)


async def until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            check(False, f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


class Member:
    """A chat client: joins a room and records everything it receives."""

    def __init__(self, server, room, name):
        self.server, self.room, self.name = server, room, name
        self.msgs = []  # (from, text)
        self.members = set()
        self.events = []  # every decoded message, in order
        self.cross = None
        self.errors = []
        self.closed = None  # close code once closed
        self.greet = False  # say "hi NAME" to each member that joins

    async def start(self, expect_welcome=True):
        self.ws = await connect(URL[self.server], max_size=None)
        self.task = asyncio.create_task(self.reader())
        await self.ws.send(json.dumps({"type": "join", "room": self.room, "name": self.name}))
        if expect_welcome:
            await until(lambda: self.cross is not None or self.errors, 10, f"{self.name}'s welcome")
            check(not self.errors, f"{self.name} refused: {self.errors}")
        return self

    async def reader(self):
        try:
            async for raw in self.ws:
                m = json.loads(raw)
                self.events.append(m)
                t = m["type"]
                if t == "msg":
                    self.msgs.append((m["from"], m["text"]))
                elif t == "welcome":
                    self.members = set(m["members"])
                    self.cross = m["cross"]
                elif t == "joined":
                    self.members.add(m["name"])
                    if self.greet:  # at once, from the reader: the tightest race
                        await self.ws.send(json.dumps({"type": "say", "text": f"hi {m['name']}"}))
                elif t == "left":
                    self.members.discard(m["name"])
                elif t == "status":
                    self.cross = m["cross"]
                elif t == "error":
                    self.errors.append(m["error"])
        except ConnectionClosed:
            pass
        self.closed = self.ws.close_code if self.ws.close_code is not None else 1006

    async def say_many(self, tag, count, size=0):
        pad = "x" * size
        for i in range(count):
            await self.ws.send(json.dumps({"type": "say", "text": f"{tag} {i} {pad}"}))

    def seqs(self, sender, tag):
        """The sequence numbers received from `sender` with `tag`, in arrival order."""
        out = []
        for frm, text in self.msgs:
            parts = text.split(" ")
            if frm == sender and parts[0] == tag:
                out.append(int(parts[1]))
        return out

    async def stop(self):
        await self.ws.close()
        await self.task


class RawClient:
    """A WebSocket client on a raw socket with a tiny receive buffer, that can stop reading."""

    def __init__(self, port, room, name):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        check(head.startswith(b"HTTP/1.1 101"), f"raw handshake: {head!r}")
        self.send_text(json.dumps({"type": "join", "room": room, "name": name}))

    def send_text(self, text):
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + struct.pack("!H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def read_until_close(self, timeout):
        """Reads frames until a Close; returns (data frames seen, close code or None at EOF)."""
        self.sock.settimeout(timeout)
        buf, frames = b"", 0
        while True:
            while True:
                if len(buf) < 2:
                    break
                n, at = buf[1] & 0x7F, 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, at = struct.unpack("!H", buf[2:4])[0], 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, at = struct.unpack("!Q", buf[2:10])[0], 10
                if len(buf) < at + n:
                    break
                op, payload, buf = buf[0] & 0x0F, buf[at : at + n], buf[at + n :]
                if op == 8:
                    return frames, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                frames += op in (1, 2)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return frames, None
            buf += chunk


async def greet_on_join():
    """A member greeted the moment another process announces it gets the greeting: a process
    announces a member only once Redis has acknowledged its subscription to the room (Redis
    keeps nothing for a channel nobody listens to). Redis MONITOR shows the order of commands
    as Redis ran them: in every room, each process's SUBSCRIBE comes before its member's join."""
    reader, writer = await asyncio.open_connection("127.0.0.1", REDIS_PORT)
    writer.write(b"MONITOR\r\n")
    await writer.drain()
    check(await reader.readline() == b"+OK\r\n", "redis MONITOR")
    log = []

    async def monitor():
        while line := await reader.readline():
            log.append(line.decode(errors="replace"))

    watch = asyncio.create_task(monitor())
    rounds = 40
    for i in range(rounds):
        room = f"greet{i}"
        host = Member("A", room, "host")
        host.greet = True
        await host.start()
        guest = await Member("B", room, "guest").start()
        await until(lambda: ("host", "hi guest") in guest.msgs, 5, f"the greeting sent on 'joined' in {room}")
        await guest.stop()
        await host.stop()
    await asyncio.sleep(0.2)
    watch.cancel()
    writer.close()
    for i in range(rounds):
        channel = f'"chat:room:greet{i}"'
        subscribes = 0
        for name, want in (("host", 1), ("guest", 2)):
            at = next((k for k, line in enumerate(log) if f'"PUBLISH" {channel}' in line and line.rstrip().endswith(f' j {name}"')), None)
            check(at is not None, f"no join of {name} published in greet{i}")
            subscribes = sum(f'"SUBSCRIBE" {channel}' in line for line in log[:at])
            check(subscribes >= want, f"greet{i}: {name}'s join published after {subscribes} subscriptions, not {want}")
    print(f"greet on join: {rounds} of {rounds} members greeted on arrival got the greeting; "
          "each join published after its process subscribed (Redis MONITOR)", flush=True)


async def fanout():
    """20 clients over both processes x 200 messages: each gets all 4000 once, in sender order."""
    names = [f"c{i:02}" for i in range(20)]
    members = [await Member("AB"[i % 2], "fan", n).start() for i, n in enumerate(names)]
    check(all(m.cross == "live" for m in members), "cross-server delivery live at join")
    await until(lambda: all(m.members == set(names) for m in members), 15, "presence of all 20 on both")
    t0 = time.monotonic()
    await asyncio.gather(*(m.say_many("fan", 200) for m in members))
    await until(lambda: all(len(m.msgs) >= 4000 for m in members), 60, "4000 messages at every client")
    took = time.monotonic() - t0
    await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive now
    for m in members:
        check(len(m.msgs) == 4000, f"{m.name} got {len(m.msgs)} messages, not 4000")
        for s in names:
            check(m.seqs(s, "fan") == list(range(200)), f"{m.name}: {s}'s messages out of order or repeated")
    print(f"fanout: 20 clients x 200 messages, 80,000 deliveries exactly once in order in {took:.2f} s", flush=True)
    for m in members:
        await m.stop()


def redis_kill():
    with open(REDIS_PIDFILE) as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def redis_start():
    p = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    with open(REDIS_PIDFILE, "w") as f:
        f.write(str(p.pid))


async def redis_restart():
    """Redis killed and restarted mid-run.

    Guarantees asserted: nothing is ever delivered twice; every message reaches every member on
    its sender's process exactly once, in order, Redis or not; messages sent while a process reports
    cross-server delivery "paused" reach no member on the other process (they are not queued for
    later: delivery across processes is at most once and only while live); once both processes
    report "live" again, messages reach every member on both, in order; presence never loses a
    member through the outage (no "left" event).
    """
    names = [f"r{i}" for i in range(8)]
    members = [await Member("AB"[i % 2], "restart", n).start() for i, n in enumerate(names)]
    side = {m.name: m.server for m in members}
    await until(lambda: all(m.members == set(names) for m in members), 15, "presence of all 8")
    await asyncio.gather(*(m.say_many("before", 50) for m in members))
    await until(lambda: all(len(m.msgs) >= 400 for m in members), 30, "400 messages before the restart")
    redis_kill()
    await until(lambda: all(m.cross == "paused" for m in members), 10, "'paused' at every client")
    await asyncio.gather(*(m.say_many("down", 50) for m in members))
    await until(
        lambda: all(sum(1 for f, t in m.msgs if t.startswith("down ")) >= 200 for m in members),
        30,
        "local delivery while Redis is down",
    )
    await asyncio.sleep(1.0)
    for m in members:
        for s in names:
            got = m.seqs(s, "down")
            want = list(range(50)) if side[s] == m.server else []
            check(got == want, f"while paused, {m.name} got {len(got)} of {s}'s messages, want {len(want)}")
    t0 = time.monotonic()
    redis_start()
    await until(lambda: all(m.cross == "live" for m in members), 20, "'live' again at every client")
    resumed = time.monotonic() - t0
    await asyncio.gather(*(m.say_many("after", 50) for m in members))
    await until(lambda: all(len(m.msgs) >= 1000 for m in members), 30, "every message after the restart")
    await asyncio.sleep(0.3)
    for m in members:
        check(len(m.msgs) == 1000, f"{m.name} got {len(m.msgs)} messages, want 400 + 200 + 400")
        for s in names:
            check(m.seqs(s, "before") == list(range(50)), f"{m.name}: {s} before")
            check(m.seqs(s, "after") == list(range(50)), f"{m.name}: {s} after")
        check(m.members == set(names), f"{m.name}'s presence after the restart: {sorted(m.members)}")
        check(not any(e["type"] == "left" for e in m.events), f"{m.name} saw a false 'left'")
    print(f"redis restart: local rooms lost nothing, no duplicates, cross-server resumed {resumed:.1f} s after", flush=True)
    for m in members:
        await m.stop()


async def process_death():
    """A third process dies (SIGKILL): its members leave everyone's presence once its keys expire."""
    port = free_port()
    c = subprocess.Popen(
        [CHAT, f"127.0.0.1:{port}", "--redis", f"redis://127.0.0.1:{REDIS_PORT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        URL["C"] = f"ws://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        watcher = await Member("A", "ghost", "watcher").start()
        doomed = [await Member("C", "ghost", n).start() for n in ("g1", "g2")]
        await until(lambda: watcher.members == {"watcher", "g1", "g2"}, 15, "the watcher sees C's members")
        c.kill()
        c.wait()
        t0 = time.monotonic()
        await until(lambda: watcher.members == {"watcher"}, 15, "C's members gone from presence")
        print(f"process death: C's members left presence {time.monotonic() - t0:.1f} s after SIGKILL", flush=True)
        await watcher.stop()
        for d in doomed:
            d.task.cancel()
    finally:
        c.kill()
        c.wait()


async def slow_subscriber():
    """A member that stops reading is dropped with 1013 (or 1008); the others get everything."""
    fast_a = await Member("A", "slow", "fa").start()
    fast_b = await Member("B", "slow", "fb").start()
    raw = RawClient(B_PORT, "slow", "sloth")
    await until(lambda: "sloth" in fast_a.members and "sloth" in fast_b.members, 15, "sloth present")
    # 6 MB for each member, at most ~400 KB in flight so that the members that read keep up.
    pad = "x" * 4000
    for i in range(1500):
        if i % 50 == 0:
            await until(lambda: min(len(fast_a.msgs), len(fast_b.msgs)) >= i - 100, 30, "the fast members to catch up")
        await fast_a.ws.send(json.dumps({"type": "say", "text": f"big {i} {pad}"}))
    await until(lambda: len(fast_b.msgs) >= 1500 and len(fast_a.msgs) >= 1500, 60, "the fast members' messages")
    for m in (fast_a, fast_b):
        check(m.seqs("fa", "big") == list(range(1500)), f"{m.name} missed messages while sloth lagged")
    await until(lambda: "sloth" not in fast_a.members and "sloth" not in fast_b.members, 10, "sloth leaves presence")
    frames, code = await asyncio.to_thread(raw.read_until_close, 10)
    check(code in (1008, 1013), f"the slow member's close code: {code}")
    check(frames < 1500, f"the slow member got {frames} of 1500 messages: not dropped")
    print(f"slow subscriber: dropped with {code} after {frames} messages; the others got all 1500", flush=True)
    await fast_a.stop()
    await fast_b.stop()


async def name_taken():
    """A name already taken is refused, on the same process and on the other one."""
    bob = await Member("A", "dup", "bob").start()
    same = await Member("A", "dup", "bob").start(expect_welcome=False)
    await until(lambda: same.errors, 5, "refusal on the same process")
    check(same.errors == ["name taken"], f"same-process duplicate: {same.errors}")
    await asyncio.sleep(2.5)  # presence reaches the other process within one refresh (2 s)
    other = await Member("B", "dup", "bob").start(expect_welcome=False)
    await until(lambda: other.errors, 5, "refusal on the other process")
    check(other.errors == ["name taken"], f"cross-process duplicate: {other.errors}")
    check(other.cross is None and same.cross is None, "a refused client was welcomed")
    print("name taken: refused on the same process and across processes", flush=True)
    for m in (bob, same, other):
        await m.stop()


async def oversized():
    """A message over 64 KiB closes its connection with 1009."""
    m = await Member("A", "big", "huge").start()
    await m.ws.send(json.dumps({"type": "say", "text": "y" * 70000}))
    await until(lambda: m.closed is not None, 10, "the oversized sender's close")
    check(m.closed == 1009, f"oversized message: close code {m.closed}")
    print("oversized: closed with 1009", flush=True)


async def vanish():
    """A client that goes silent (no Close, no pong) is dropped by the engine's keepalive (A: 2 s)."""
    watcher = await Member("A", "vanish", "w").start()
    raw = RawClient(A_PORT, "vanish", "silent")
    await until(lambda: "silent" in watcher.members, 10, "the silent client joins")
    t0 = time.monotonic()
    await until(lambda: "silent" not in watcher.members, 15, "the silent client dropped")
    print(f"vanish: a silent client was dropped {time.monotonic() - t0:.1f} s after joining (keepalive 2 s + 2 s)", flush=True)
    raw.sock.close()
    await watcher.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main():
    for test in (greet_on_join, fanout, name_taken, oversized, vanish, slow_subscriber, process_death, redis_restart):
        await test()
    print("chat: PASS")


asyncio.run(main())
