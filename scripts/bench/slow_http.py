#!/usr/bin/env python3
"""A static HTTP/1.1 server on 127.0.0.1 where every response leaves DELAY_MS after its request
arrived: the latency of a far mirror. Keep-alive, any number of connections, and pipelined
requests on one connection wait concurrently (answered in order), so apt's pipelining and
moa-bundle's parallel connections each get the benefit they would get from a real mirror.
Usage: slow_http.py DIR PORTFILE DELAY_MS   (writes the port it bound to into PORTFILE)"""
import asyncio
import os
import sys
import urllib.parse

root = os.path.realpath(sys.argv[1])
portfile, delay = sys.argv[2], int(sys.argv[3]) / 1000.0


def lookup(target):
    path = urllib.parse.unquote(target.split("?", 1)[0])
    full = os.path.realpath(os.path.join(root, path.lstrip("/")))
    if not full.startswith(root + os.sep) or not os.path.isfile(full):
        return b"404 Not Found", b""
    with open(full, "rb") as f:
        return b"200 OK", f.read()


async def handle(reader, writer):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def respond():
        while (item := await queue.get()) is not None:
            due, status, body, close = item
            await asyncio.sleep(max(0.0, due - loop.time()))
            head = b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n" % (
                status, len(body), b"close" if close else b"keep-alive")
            writer.write(head + body)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(respond())
    try:
        while line := await reader.readline():
            headers = []
            while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                headers.append(h.lower())
            parts = line.decode("latin-1").split()
            if len(parts) < 2:
                break
            status, body = lookup(parts[1])
            close = any(h.startswith(b"connection:") and b"close" in h for h in headers)
            queue.put_nowait((loop.time() + delay, status, body, close))
            if close:
                break
    except ConnectionError:
        pass
    finally:
        queue.put_nowait(None)
        await task


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(portfile, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
