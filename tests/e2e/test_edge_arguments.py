"""Every interposed function called with legal NULL and zero arguments, and
with bad pointers the kernel answers EFAULT for (edge_client.c): under
librespan, routing, the program gets exactly the answers it gets without
the library (return values and errno, line for line), and is not taken
down. In the sanitizer run the same calls go through the ASan+UBSan build."""

from __future__ import annotations

from standin.helpers import read_log, run


def test_edge_arguments_answer_as_without_the_library(respan_env, client_bin):
    client = client_bin("edge_client")
    bare = run([client], env={k: v for k, v in respan_env.items() if k != "LD_PRELOAD"})
    assert bare.returncode == 0, bare.stderr
    lines = bare.stdout.decode().splitlines()
    assert lines[-1] == "done" and len(lines) > 30
    with_lib = run([client], env=respan_env)
    assert with_lib.returncode == 0, with_lib.stderr
    assert with_lib.stdout.decode().splitlines() == lines
    assert with_lib.stderr == bare.stderr
    assert read_log(respan_env["RESPAN_LOG"]) == []


def test_provider_lookup_with_null_hints_and_no_service(respan_env, router, client_bin):
    """NULL hints and a NULL service are legal: the provider name still
    resolves to the router, with no port when none was asked for."""
    done = run([client_bin("edge_client"), "api.openai.com"], env=respan_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode().splitlines()
    assert out[0].startswith("getaddrinfo(api.openai.com, 443, NULL): 0 family ")
    assert out[1] == "getaddrinfo(api.openai.com, NULL, NULL): 0 port 0"
