#!/usr/bin/env python3
"""Plaintext backpressure over TLS: a client sends 48 MiB of 1 MiB binary messages to
echo_server --tls without reading its echoes. The server must stop reading (its output backlog
over --out-limit, rustls' buffer capped), so the sender stalls and the server's memory stays
small; then the client reads every echo, byte for byte, and the rest goes through.
usage: backpressure.py wss://HOST:PORT/ CERT.pem SERVER_PID"""
import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect

COUNT, SIZE = 48, 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


async def main(url, cafile, pid):
    msgs = [os.urandom(SIZE) for _ in range(COUNT)]
    before = rss_kib(pid)
    ctx = ssl.create_default_context(cafile=cafile)
    # max_queue=1: the client itself stops reading after one unread message.
    async with connect(url, ssl=ctx, compression=None, max_size=None, ping_interval=None, max_queue=1) as ws:
        sent = 0

        async def sender():
            nonlocal sent
            for m in msgs:
                await ws.send(m)
                sent += 1

        task = asyncio.create_task(sender())
        await asyncio.sleep(3)
        stalled_at, peak = sent, rss_kib(pid)
        assert stalled_at < COUNT, f"all {COUNT} MiB went out unread: no backpressure"
        for i, m in enumerate(msgs):
            got = await asyncio.wait_for(ws.recv(), 30)
            assert got == m, f"echo {i} differs"
        await asyncio.wait_for(task, 10)
    grown = (peak - before) // 1024
    assert grown < 24, f"server RSS grew by {grown} MiB while the client did not read"
    print(f"backpressure: sender stalled after {stalled_at} of {COUNT} MiB, server RSS +{grown} MiB; all echoes identical")


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
