"""The load generator: a flash crowd of distinct customers, each POSTing one booking, from many
concurrent keep-alive connections; and the small statistics the report uses."""

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

import httpx


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q) - 1]


def r3(value):
    return None if value is None else round(value, 3)


@dataclass
class Load:
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    # request uid -> wall-clock time the POST was sent (new design: joins decided_at).
    sent_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.statuses.values()) + self.errors

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


class _Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams. httpx's pool scans every
    connection for every request (O(connections x requests)); at 200 connections it used about
    0.7 of a core here, more than the server under test, so the load generator is hand-rolled."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, token: str, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout
            )
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        length = int(headers.get("content-length", "0"))
        content = b""
        if length:
            content = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _drive(
    base_url: str,
    path: str,
    jobs: list[tuple[str, int]],
    concurrency: int,
    label: str,
    timeout: float = 120.0,
) -> Load:
    load = Load()
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    url = httpx.URL(base_url)

    async def client_loop() -> None:
        connection = _Connection(url.host, url.port)
        try:
            while True:
                try:
                    token, event_id = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body = json.dumps({"event": event_id}).encode()
                started, sent = time.perf_counter(), time.time()
                try:
                    code, content = await connection.post(path, body, token, timeout)
                    if code == 202:
                        load.sent_at[json.loads(content)["id"]] = sent
                    load.statuses[code] = load.statuses.get(code, 0) + 1
                    load.latencies.append(time.perf_counter() - started)
                except (
                    TimeoutError,
                    OSError,
                    asyncio.IncompleteReadError,
                    ValueError,
                    IndexError,
                ) as exc:
                    connection.close()
                    load.errors += 1
                    kind = type(exc).__name__
                    load.error_kinds[kind] = load.error_kinds.get(kind, 0) + 1
        finally:
            connection.close()

    async def progress(started: float) -> None:
        while True:
            await asyncio.sleep(2)
            elapsed = time.perf_counter() - started
            log(
                f"  {label}: {load.count}/{len(jobs)} responses, "
                f"{load.count / elapsed:.0f}/s, 5xx {load.server_errors}, errors {load.errors}"
            )

    started = time.perf_counter()
    reporter = asyncio.create_task(progress(started))
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    load.seconds = time.perf_counter() - started
    reporter.cancel()
    return load


def drive(base_url, path, jobs, concurrency, label) -> Load:
    return asyncio.run(_drive(base_url, path, jobs, concurrency, label))
