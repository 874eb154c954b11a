"""A TCP proxy that delays every byte by a fixed time each way: a model of a database one network
hop away, for the benchmark's ``hot_rtt`` scenario (there is no ``netem`` on these machines).

    python -m devtools.delay_proxy --target 127.0.0.1:5432 --port 6543 --delay-ms 0.5

Each direction of each connection is a line of chunks (``DelayLine``): what is read at ``t`` is
written at ``t + delay``, in the order it was read, so a request and its answer cross the proxy
in ``2 × delay`` plus the proxy's own time, and a stream of chunks keeps its pace. One process,
one asyncio loop on ``select()``: its timers wake to the microsecond, where ``epoll`` rounds a
wait up to the next millisecond (a 0.5 ms delay would become 1 ms).
"""

import argparse
import asyncio
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 65536
ROOT = Path(__file__).resolve().parents[1]


class DelayLine:
    """Chunks in the order they arrived, each due ``delay`` seconds after its arrival."""

    def __init__(self, delay: float):
        self.delay = delay
        self._chunks: deque[tuple[float, bytes]] = deque()

    def push(self, data: bytes, now: float) -> None:
        self._chunks.append((now + self.delay, data))

    def next_due(self) -> float | None:
        """When the oldest chunk is due (None: nothing waits)."""
        return self._chunks[0][0] if self._chunks else None

    def pop_due(self, now: float) -> bytes:
        """Every chunk due by ``now``, oldest first, joined (b"" if none is due yet)."""
        out = []
        while self._chunks and self._chunks[0][0] <= now:
            out.append(self._chunks.popleft()[1])
        return b"".join(out)

    def __len__(self) -> int:
        return len(self._chunks)


class _Direction:
    """One direction of one connection: what ``data_received`` got is written to ``out`` when
    due, by a timer of the loop (``call_at``), in arrival order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float):
        self.loop = loop
        self.line = DelayLine(delay)
        self.out: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closing = False

    def push(self, data: bytes) -> None:
        self.line.push(data, self.loop.time())
        if self.timer is None:
            self.timer = self.loop.call_at(self.line.next_due(), self.flush)

    def connected(self, transport: asyncio.Transport) -> None:
        self.out = transport
        if self.timer is None and len(self.line):  # what came before the connection did
            self.flush()

    def flush(self) -> None:
        self.timer = None
        if self.out is None:  # not connected yet: ``connected`` flushes
            return
        data = self.line.pop_due(self.loop.time())
        if data:
            self.out.write(data)
        due = self.line.next_due()
        if due is not None:
            self.timer = self.loop.call_at(due, self.flush)
        elif self.closing and self.out is not None:
            self.out.close()

    def close_after_flush(self) -> None:
        self.closing = True
        if self.timer is None:
            self.flush()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection: what it reads goes into ``inbound``."""

    def __init__(self, inbound: _Direction, outbound: _Direction):
        self.inbound, self.outbound = inbound, outbound

    def connection_made(self, transport) -> None:
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.outbound.connected(transport)

    def data_received(self, data: bytes) -> None:
        self.inbound.push(data)

    def eof_received(self) -> bool:
        self.inbound.close_after_flush()
        return True

    def connection_lost(self, exc) -> None:
        self.inbound.close_after_flush()


def _client_factory(loop, target: tuple[str, int], delay: float):
    def make() -> asyncio.Protocol:
        upstream, downstream = _Direction(loop, delay), _Direction(loop, delay)
        client = _Side(inbound=upstream, outbound=downstream)

        async def connect() -> None:
            try:
                await loop.create_connection(
                    lambda: _Side(inbound=downstream, outbound=upstream), *target
                )
            except OSError:
                if downstream.out is not None:
                    downstream.out.close()

        loop.create_task(connect())
        return client

    return make


async def serve(port: int, target: tuple[str, int], delay: float, ready=None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_client_factory(loop, target, delay), "127.0.0.1", port)
    if ready is not None:
        ready()
    async with server:
        await server.serve_forever()


def run(port: int, target: tuple[str, int], delay: float) -> None:
    loop = asyncio.SelectorEventLoop(selectors.SelectSelector())
    asyncio.set_event_loop(loop)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    with contextlib.suppress(KeyboardInterrupt, RuntimeError):
        loop.run_until_complete(
            serve(port, target, delay, ready=lambda: print("ready", flush=True))
        )
    loop.close()


@dataclass
class DelayProxy:
    """The proxy as a process of its own (its CPU is its own in the bench's CPU table)."""

    target_port: int
    delay_ms: float = 0.5
    target_host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> "DelayProxy":
        from devtools.stack import free_port, poll

        self.port = self.port or free_port()
        argv = [
            sys.executable,
            "-m",
            "devtools.delay_proxy",
            "--target",
            f"{self.target_host}:{self.target_port}",
            "--port",
            str(self.port),
            "--delay-ms",
            str(self.delay_ms),
        ]
        self.process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL)
        poll(self._listening, timeout=30, interval=0.05, what="the delaying proxy")
        return self

    def _listening(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the delaying proxy exited ({self.process.returncode})")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> "DelayProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.delay_proxy", description=__doc__)
    parser.add_argument("--target", required=True, metavar="HOST:PORT")
    parser.add_argument("--port", type=int, required=True, help="listen on 127.0.0.1:PORT")
    parser.add_argument("--delay-ms", type=float, default=0.5, help="each way (default 0.5)")
    args = parser.parse_args(argv)
    host, _, port = args.target.rpartition(":")
    run(args.port, (host or "127.0.0.1", int(port)), args.delay_ms / 1000)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
