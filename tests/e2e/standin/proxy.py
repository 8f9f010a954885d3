"""A small HTTP CONNECT proxy on loopback, for the egress-proxy tests.

It answers each `CONNECT host:port` by connecting to that host and port (or
to the address given for the host in ROUTES, so a provider name can be sent
to a local stand-in), replies `200 Connection established` or `502`, and
then copies bytes both ways until either side closes. Every request head it
received is kept, in arrival order.

    with Proxy(routes={"api.openai.com": ("127.0.0.1", 8443)}) as p:
        p.url               # http://127.0.0.1:PORT
        p.connects()        # [(target, {header: value}), ...]
"""

from __future__ import annotations

import socket
import threading
from typing import Optional

HEAD_MAX = 65536


class Everywhere(dict):
    """Proxy routes that send every CONNECT to one address: a network on
    which one stand-in answers for every host."""

    def __init__(self, addr):
        super().__init__()
        self.addr = addr

    def get(self, host, default=None):
        return self.addr


class Proxy:
    def __init__(self, routes: Optional[dict] = None):
        self.routes = dict(routes or {})
        self._heads: list = []
        self._lock = threading.Lock()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "Proxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._srv.close()

    def connects(self) -> list:
        """[(target, headers)] of every CONNECT received."""
        with self._lock:
            return list(self._heads)

    def clear(self) -> None:
        """Forget the CONNECTs received so far."""
        with self._lock:
            self._heads.clear()

    def _serve(self) -> None:
        while not self._stop:
            conn, _ = self._srv.accept()
            if self._stop:
                conn.close()
                break
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
                chunk = conn.recv(4096)
                if not chunk:
                    return conn.close()
                head += chunk
        except OSError:
            return conn.close()
        text, _, rest = head.partition(b"\r\n\r\n")
        lines = text.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        with self._lock:
            self._heads.append((target, headers))
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return conn.close()
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        addr = self.routes.get(host, (host, int(port or 443)))
        try:
            up = socket.create_connection(addr, timeout=10)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return conn.close()
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            up.sendall(rest)
        pumps = [threading.Thread(target=_pump, args=(conn, up), daemon=True),
                 threading.Thread(target=_pump, args=(up, conn), daemon=True)]
        for t in pumps:
            t.start()
        for t in pumps:
            t.join(timeout=60)
        conn.close()
        up.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
