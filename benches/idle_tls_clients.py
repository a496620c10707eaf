#!/usr/bin/env python3
"""Opens COUNT TLS connections to HOST:PORT, sends one HTTP/1.1 `GET /` on each, reads
its whole response (Content-Length framing, a 200 required) and holds them, for
benches/tls-load.sh (memory per idle TLS connection).

Usage: idle_tls_clients.py HOST PORT COUNT

Certificates are not verified (the bench's own, self-signed). At most WINDOW
handshakes run at once. When every connection is ready it prints `ready COUNT` and
holds them until stdin closes; then it exits. Everything is bounded by SETUP_SECONDS.
Exit status: 0 all went well; 1 a connection failed (the reason on stderr); 2 usage.
"""

import asyncio
import resource
import ssl
import sys

WINDOW = 100
SETUP_SECONDS = 120.0


async def one(host, port, context, window):
    async with window:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"answer: {head[:40]!r}")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        return writer


async def main(host, port, count):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    window = asyncio.Semaphore(WINDOW)
    tasks = [one(host, port, context, window) for _ in range(count)]
    try:
        writers = await asyncio.wait_for(asyncio.gather(*tasks), SETUP_SECONDS)
    except Exception as e:  # noqa: BLE001 - any failure ends the run with its reason
        print(f"failed: {e!r}", file=sys.stderr)
        return 1
    print(f"ready {len(writers)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for writer in writers:
        writer.transport.abort()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
