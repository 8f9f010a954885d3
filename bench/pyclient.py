"""The Python client for bench/run: http.client, one keep-alive connection.

    python3 pyclient.py KIND COUNT HOST PORT PATH [CAFILE]

KIND is json (small chat completion), sse (the same with "stream": true,
read line by line as an SSE consumer does) or big:BYTES (a request whose
body is a JSON document of about BYTES bytes). Sends COUNT requests on one
HTTPSConnection to HOST:PORT and prints a JSON summary on stdout: requests
answered 200, connections opened, response bytes, SSE data lines, whether
the stand-in router's text (for SSE: the final `data: [DONE]`) was seen,
the time of the first request (connection and TLS handshake included) and
the median time of the others, in ms. With CAFILE only the CAs in it are
trusted (the baseline, talking to the router directly); without it the
system CAs, as a program calling the provider would.
"""

import http.client
import json
import ssl
import statistics
import sys
import time

TEXT_MARK = b"stand-in router"


def main() -> int:
    kind, count, host, port, path = sys.argv[1:6]
    cafile = sys.argv[6] if len(sys.argv) > 6 else None
    count, port = int(count), int(port)

    request = {"model": "gpt-4o-mini",
               "messages": [{"role": "user", "content": "hi"}]}
    if kind == "sse":
        request["stream"] = True
    elif kind.startswith("big:"):
        request["messages"][0]["content"] = "x" * int(kind[4:])
    elif kind != "json":
        print(f"pyclient: unknown kind {kind}", file=sys.stderr)
        return 2
    body = json.dumps(request).encode()
    headers = {"Content-Type": "application/json",
               "Authorization": "Bearer sk-bench-provider-key-0000111122223333",
               "X-Standin-Delay-Ms": "0"}

    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
    ok = connections = nbytes = data_lines = 0
    seen_text = False
    times = []
    for _ in range(count):
        if conn.sock is None:
            connections += 1
        t0 = time.perf_counter()
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        if kind == "sse":
            for line in iter(resp.readline, b""):
                nbytes += len(line)
                if line.startswith(b"data:"):
                    data_lines += 1
                    seen_text = seen_text or line.strip() == b"data: [DONE]"
        else:
            data = resp.read()
            nbytes += len(data)
            seen_text = seen_text or TEXT_MARK in data
        ok += resp.status == 200
        times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    print(json.dumps({"ok": ok, "connections": connections, "bytes": nbytes,
                      "data_lines": data_lines, "seen_text": seen_text,
                      "first_ms": times[0],
                      "warm_ms": statistics.median(times[1:]) if count > 1 else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
