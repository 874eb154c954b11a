"""The delaying proxy of ``hot_rtt``: each chunk is due a fixed delay after it arrived, in the
order it arrived, and the bytes cross it unchanged both ways (clock values given, not timed)."""

import socket
import threading

from devtools.delay_proxy import DelayLine, DelayProxy


def test_a_chunk_is_not_due_before_its_delay_and_is_due_at_it():
    line = DelayLine(0.0005)
    line.push(b"query", now=10.0)

    assert line.pop_due(10.0004) == b""
    assert line.next_due() == 10.0005
    assert line.pop_due(10.0005) == b"query"
    assert len(line) == 0 and line.next_due() is None


def test_chunks_come_out_in_the_order_they_arrived_each_after_its_own_delay():
    line = DelayLine(1.0)
    line.push(b"a", now=0.0)
    line.push(b"b", now=0.5)
    line.push(b"c", now=0.6)

    assert line.pop_due(1.55) == b"ab"  # c arrived at 0.6: due at 1.6, still waiting
    assert line.next_due() == 1.6
    assert line.pop_due(2.0) == b"c"


def test_a_zero_delay_passes_a_chunk_at_once():
    line = DelayLine(0.0)
    line.push(b"x", now=3.0)

    assert line.pop_due(3.0) == b"x"


def _echo_server() -> tuple[socket.socket, int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    def serve():  # the proxy's readiness probe connects too
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_bytes_cross_the_proxy_unchanged_and_in_order_both_ways():
    listener, port = _echo_server()
    sent = b"".join(f"message {i};".encode() for i in range(2000))
    with (
        listener,
        DelayProxy(target_port=port, delay_ms=0.5) as proxy,
        socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client,
    ):
        for start in range(0, len(sent), 1000):
            client.sendall(sent[start : start + 1000])
        received = b""
        while len(received) < len(sent):
            chunk = client.recv(65536)
            assert chunk, "the proxy closed the connection early"
            received += chunk

    assert received == sent.upper()
