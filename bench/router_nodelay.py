"""The stand-in router for bench/run, with TCP_NODELAY on every connection.

    python3 router_nodelay.py --cert C --key K ... (the options of router.py)

tests/e2e/standin/router.py writes each SSE event and each TLS 1.3 session
ticket with its own send and leaves Nagle's algorithm on. A send that
follows an unacknowledged one then waits for the client's delayed ACK,
about 40 ms on Linux, so most SSE responses and some handshakes take 40 ms
more than the work they do. That is the same with and without librespan,
but it would swamp what the benchmark measures. Real HTTP servers set
TCP_NODELAY; this wrapper does that to each accepted socket and otherwise
runs router.py unchanged.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "e2e", "standin"))
import router  # noqa: E402  (tests/e2e/standin/router.py)

_serve = router.Router._serve


def _serve_nodelay(self, raw, addr, conn):
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass
    return _serve(self, raw, addr, conn)


router.Router._serve = _serve_nodelay

if __name__ == "__main__":
    sys.exit(router.main())
