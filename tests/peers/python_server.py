#!/usr/bin/env python3
"""Python `websockets` as a server for examples/client.
usage: python_server.py CLIENT_BINARY [--tls CERT.pem KEY.pem]   (--tls: wss://, client --ca CERT.pem)"""
import asyncio
import ssl
import subprocess
import sys

from websockets.asyncio.server import serve

seen = {}


async def handler(ws):
    seen["path"] = ws.request.path
    seen["protocol"] = ws.subprotocol
    seen["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    await ws.send("hello from python ✓")
    await ws.send(b"\x01\x02\xfe")
    try:
        async for m in ws:
            await ws.send("echo: " + m if isinstance(m, str) else m)
    finally:
        seen["close"] = (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) if ws.protocol.close_rcvd else None


async def main(client, cert=None, key=None):
    tls, scheme, ca = {}, "ws", []
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls, scheme, ca = {"ssl": ctx}, "wss", ["--ca", cert]
    async with serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2"], compression="deflate", **tls) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            client, f"{scheme}://127.0.0.1:{port}/room?x=1", "--protocol", "chat.v2", *ca,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = []

        async def line():
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 10)).decode().rstrip("\n"))

        await line()
        await line()
        for text in ["one", "two ü"]:
            proc.stdin.write((text + "\n").encode())
            await proc.stdin.drain()
            await line()
        proc.stdin.close()  # EOF: the client closes with 1000
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        err = err.decode()
        assert proc.returncode == 0, (proc.returncode, err)
        assert out == b"", out
        expected = ["hello from python ✓", "0102fe", "echo: one", "echo: two ü"]
        assert lines == expected, (lines, err)
        assert seen["path"] == "/room?x=1", seen
        assert seen["protocol"] == "chat.v2", seen
        assert "permessage-deflate" in seen["extensions"], seen
        assert seen["close"] == (1000, ""), seen
        print(f"examples/client vs python server ({scheme}): PASS")


if len(sys.argv) == 5 and sys.argv[2] == "--tls":
    asyncio.run(main(sys.argv[1], sys.argv[3], sys.argv[4]))
else:
    asyncio.run(main(sys.argv[1]))
