#!/usr/bin/env python3
"""Opens COUNT TCP connections to HOST:PORT and holds them, for benches/connections.sh.

Usage: idle_clients.py HOST PORT COUNT MODE

MODE is what each connection does before it is held:
  idle  nothing: a connected socket that never sends a byte;
  h1    one HTTP/1.1 request, `GET /`, whose whole response is read (Content-Length
        or chunked framing; a 200 is required);
  h2c   HTTP/2 with prior knowledge: the client preface, an empty SETTINGS frame and
        one `GET /` on stream 1; the server's SETTINGS are acknowledged and frames are
        read until the response on stream 1 ends (a 200 is required).

Connections are opened with non-blocking sockets, at most CONNECT_WINDOW handshakes
pending at once (so a listen backlog of 511 is not overrun by one client), and at most
REQUEST_WINDOW requests in flight at once (so a proxy whose upstream connections are
capped at 512 is not made to refuse some; the environment variable REQUEST_WINDOW
overrides it, as benches/pool-memory.sh does to open one upstream connection per
request). When every connection is done the client
prints `ready COUNT` on stdout and holds them until stdin closes or a SIGTERM, SIGINT
or SIGHUP comes; then it checks that the server closed none of them, resets them all
(no TIME_WAIT left behind) and exits. Everything is bounded by SETUP_SECONDS.

Exit status: 0 all went well; 1 a connection failed (each failure reason and count is
on stderr, and `ready` is never printed); 3 the server closed held connections;
2 usage.
"""

import errno
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time

CONNECT_WINDOW = 200
REQUEST_WINDOW = int(os.environ.get("REQUEST_WINDOW", "100"))
SETUP_SECONDS = 60.0

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types and flags (RFC 9113).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0, 1, 3, 4, 6, 7, 8, 9)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def h2_request(authority):
    # HPACK by hand: indexed :method GET (2), :scheme http (6), :path / (4); :authority
    # as a literal without indexing whose name is static entry 1, value not Huffman.
    value = authority.encode()
    assert len(value) < 127
    block = bytes([0x82, 0x86, 0x84, 0x01, len(value)]) + value
    return H2_PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_STREAM | END_HEADERS, 1, block)


class Failed(Exception):
    """A connection failed; the message is its reason (failures are counted by reason)."""


class Conn:
    __slots__ = ("sock", "buf", "state", "head_done", "body_left", "chunked", "status_ok")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.state = "connecting"
        self.head_done = False
        self.body_left = 0
        self.chunked = False
        self.status_ok = False


def h1_progress(c):
    """Consumes c.buf; True once the response is complete."""
    if not c.head_done:
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(c.buf) > 65536:
                raise Failed("h1: response head over 64 KiB")
            return False
        head = c.buf[:end].decode("latin-1").split("\r\n")
        c.buf = c.buf[end + 4:]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise Failed("h1: not an HTTP/1.x status line: %r" % head[0][:60])
        if parts[1] != "200":
            raise Failed("h1: status %s" % parts[1])
        length = None
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                if value.split(",")[-1].strip() != "chunked":
                    raise Failed("h1: transfer-encoding %s" % value)
                c.chunked = True
            elif name == "connection" and "close" in value:
                raise Failed("h1: the server will close the connection (Connection: close)")
        if not c.chunked and length is None:
            raise Failed("h1: response with neither Content-Length nor chunked framing")
        c.head_done = True
        c.body_left = length or 0
    if not c.chunked:
        take = min(c.body_left, len(c.buf))
        c.body_left -= take
        c.buf = c.buf[take:]
        if c.buf:
            raise Failed("h1: bytes after the response")
        return c.body_left == 0
    # Chunked: body_left is what remains of the current chunk's data and its CRLF.
    while True:
        if c.body_left:
            take = min(c.body_left, len(c.buf))
            c.body_left -= take
            c.buf = c.buf[take:]
            if c.body_left:
                return False
        end = c.buf.find(b"\r\n")
        if end < 0:
            return False
        size = int(c.buf[:end].split(b";")[0], 16)
        if size == 0:
            # The last chunk: trailers (if any) end with an empty line.
            rest = c.buf[end + 2:]
            return rest.startswith(b"\r\n") or b"\r\n\r\n" in rest
        c.buf = c.buf[end + 2:]
        c.body_left = size + 2


def h2_progress(c):
    """Consumes whole frames of c.buf; returns (done, bytes to send)."""
    out = b""
    while len(c.buf) >= 9:
        length = int.from_bytes(c.buf[:3], "big")
        if len(c.buf) < 9 + length:
            break
        kind, flags = c.buf[3], c.buf[4]
        stream = int.from_bytes(c.buf[5:9], "big") & 0x7FFFFFFF
        payload = c.buf[9:9 + length]
        c.buf = c.buf[9 + length:]
        if kind == SETTINGS and not flags & ACK:
            out += frame(SETTINGS, ACK, 0)
        elif kind == PING and not flags & ACK:
            out += frame(PING, ACK, 0, payload)
        elif kind == GOAWAY:
            code = int.from_bytes(payload[4:8], "big") if len(payload) >= 8 else -1
            raise Failed("h2c: GOAWAY (error code %d)" % code)
        elif kind == RST_STREAM and stream == 1:
            raise Failed("h2c: RST_STREAM on stream 1 (error code %d)" % int.from_bytes(payload[:4], "big"))
        elif kind == HEADERS and stream == 1:
            if not c.status_ok:
                pad = payload[0] if flags & PADDED else 0
                block = payload[(1 if flags & PADDED else 0) + (5 if flags & PRIORITY else 0):len(payload) - pad]
                # :status 200 is static entry 8: 0x88. Anything else is not a 200 (or
                # an encoding this client does not decode): fail loudly.
                if not block or block[0] != 0x88:
                    raise Failed("h2c: response status is not 200 (first HPACK byte 0x%02x)" % (block[0] if block else 0))
                c.status_ok = True
            if flags & END_STREAM:
                return True, out
        elif kind == DATA and stream == 1:
            if flags & END_STREAM:
                return True, out
    return False, out


def main():
    if len(sys.argv) != 5 or sys.argv[4] not in ("idle", "h1", "h2c"):
        sys.stderr.write("usage: idle_clients.py HOST PORT COUNT idle|h1|h2c\n")
        return 2
    host, port, count, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and count + 16 > hard:
        sys.stderr.write("idle_clients: %d connections need more descriptors than the hard limit %d\n" % (count, hard))
        return 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    addr = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4]
    request = (b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode()) if mode == "h1" else h2_request(host)

    sel = selectors.DefaultSelector()
    conns = []
    failures = {}
    to_open = count
    connecting = 0
    waiting = []        # connected, request not sent yet
    in_flight = 0
    done = 0
    deadline = time.monotonic() + SETUP_SECONDS

    def fail(c, reason):
        nonlocal in_flight, connecting
        failures[reason] = failures.get(reason, 0) + 1
        if c.state == "connecting":
            connecting -= 1
        elif c.state == "requesting":
            in_flight -= 1
        c.state = "failed"
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def finished(c):
        nonlocal done
        c.state = "held"
        done += 1
        sel.unregister(c.sock)

    while done + sum(failures.values()) < count:
        # Start handshakes and requests up to their windows.
        while to_open and connecting < CONNECT_WINDOW:
            to_open -= 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = Conn(s)
            conns.append(c)
            err = s.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS):
                connecting += 1
                fail(c, "connect: %s" % os.strerror(err))
                continue
            connecting += 1
            sel.register(s, selectors.EVENT_WRITE, c)
        while waiting and in_flight < REQUEST_WINDOW:
            c = waiting.pop()
            c.state = "requesting"
            in_flight += 1
            try:
                # A few dozen bytes always fit an empty socket buffer.
                if c.sock.send(request) != len(request):
                    raise Failed("short send of the request")
                sel.register(c.sock, selectors.EVENT_READ, c)
            except Failed as e:
                fail(c, str(e))
            except OSError as e:
                fail(c, "send: %s" % (e.strerror or e))
        left = deadline - time.monotonic()
        if left <= 0:
            states = {}
            for c in conns:
                states[c.state] = states.get(c.state, 0) + 1
            states["not started"] = to_open
            sys.stderr.write("idle_clients: %s:%d %s: not done after %.0f s; connections by state: %s\n"
                             % (host, port, mode, SETUP_SECONDS, states))
            report(failures, count)
            return 1
        for key, _ in sel.select(min(left, 1.0)):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, "connect: %s" % os.strerror(err))
                    continue
                connecting -= 1
                if mode == "idle":
                    finished(c)
                else:
                    sel.unregister(c.sock)
                    c.state = "waiting"
                    waiting.append(c)
                continue
            try:
                data = c.sock.recv(65536)
            except OSError as e:
                fail(c, "recv: %s" % (e.strerror or e))
                continue
            if not data:
                fail(c, "%s: the server closed the connection before the response ended" % mode)
                continue
            c.buf += data
            try:
                if mode == "h1":
                    complete = h1_progress(c)
                else:
                    complete, reply = h2_progress(c)
                    if reply:
                        c.sock.send(reply)
            except (Failed, ValueError) as e:
                fail(c, str(e))
                continue
            except OSError as e:
                fail(c, "send: %s" % (e.strerror or e))
                continue
            if complete:
                in_flight -= 1
                finished(c)

    if failures:
        report(failures, count)
        return 1
    held = [c.sock for c in conns if c.state == "held"]
    sys.stdout.write("ready %d\n" % len(held))
    sys.stdout.flush()

    def stop(signum, _frame):
        raise SystemExit(0)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except SystemExit:
        pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)

    # Did the server close any while they were held? A closed one reads as EOF (or
    # fails with ECONNRESET); an open one has nothing to read (or a late frame).
    closed = 0
    linger = struct.pack("ii", 1, 0)
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        # Reset rather than close: no TIME_WAIT left for the next run.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()
    if closed:
        sys.stderr.write("idle_clients: %s:%d %s: the server closed %d of the %d held connections\n"
                         % (host, port, mode, closed, len(held)))
        return 3
    return 0


def report(failures, count):
    total = sum(failures.values())
    sys.stderr.write("idle_clients: %d of %d connections failed\n" % (total, count))
    for reason, n in sorted(failures.items(), key=lambda kv: -kv[1]):
        sys.stderr.write("  %6d  %s\n" % (n, reason))


if __name__ == "__main__":
    sys.exit(main())
