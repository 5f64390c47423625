"""A TCP relay on 127.0.0.1 that counts the bytes of each connection it carries, both ways, and
the banner the client sent first (an SSH client says who it is: "SSH-2.0-paramiko_…" for the
agent's own connection, "SSH-2.0-OpenSSH_…" for the ssh that restic starts). What crosses it is
what crosses the network: the transport counters the pack-hashing tests measure."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Connection:
    banner: bytes = b""
    to_server: int = 0
    to_client: int = 0

    @property
    def total(self) -> int:
        return self.to_server + self.to_client


@dataclass
class CountingProxy:
    port: int
    connections: list[Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bytes_of(self, banner_prefix: bytes) -> int:
        """Bytes both ways of every connection whose client banner starts with banner_prefix."""
        with self.lock:
            return sum(c.total for c in self.connections if c.banner.startswith(banner_prefix))


def _pump(source: socket.socket, sink: socket.socket, connection: Connection, upstream: bool,
          lock: threading.Lock) -> None:
    try:
        while chunk := source.recv(1 << 16):
            with lock:
                if upstream:
                    if not connection.banner:
                        connection.banner = chunk.split(b"\r\n", 1)[0]
                    connection.to_server += len(chunk)
                else:
                    connection.to_client += len(chunk)
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def counting_proxy(server_port: int) -> Iterator[CountingProxy]:
    """Relay 127.0.0.1:<a free port> to 127.0.0.1:server_port until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = CountingProxy(listener.getsockname()[1])
    sockets: list[socket.socket] = [listener]

    def accept() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", server_port))
            connection = Connection()
            with proxy.lock:
                proxy.connections.append(connection)
                sockets.extend((client, server))
            for args in ((client, server, connection, True), (server, client, connection, False)):
                threading.Thread(target=_pump, args=(*args, proxy.lock), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield proxy
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
