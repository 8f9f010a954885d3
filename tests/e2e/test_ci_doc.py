"""docs/ci.md works as written (issue 13): its GitHub Actions jobs and its
plain-shell script are taken from the page and run here, with a job that
calls OpenAI (Python's http.client, no base URL) standing for
./run-evals.sh, the stand-in router as the router, and the built respan
on PATH. The workflow's `run:` steps run in order, as the runner would
(bash, GITHUB_STEP_SUMMARY a file); the steps that install librespan or use
an action are the runner's business and are left out. The replay job runs
with the router out of reach."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from conftest import REPO
from standin.helpers import read_log, run

yaml = pytest.importorskip("yaml", reason="python3-yaml is not installed")

PAGE = REPO / "docs" / "ci.md"

JOB = """#!/usr/bin/python3
import http.client, json, ssl
for prompt in ("one", "two"):
    c = http.client.HTTPSConnection("api.openai.com", context=ssl.create_default_context())
    c.request("POST", "/v1/chat/completions",
              json.dumps({"model": "gpt-4o-mini",
                          "messages": [{"role": "user", "content": prompt}]}),
              {"Authorization": "Bearer sk-job-own-key", "Content-Type": "application/json"})
    r = c.getresponse()
    print(r.status, json.loads(r.read())["choices"][0]["message"]["content"])
"""


def blocks(lang: str) -> list:
    return re.findall(r"```" + lang + r"\n(.*?)```", PAGE.read_text(), re.S)


@pytest.fixture
def workspace(tmp_path, respan_env, build_dir):
    """A checkout with ./run-evals.sh, and the environment of the job."""
    ws = tmp_path / "ws"
    ws.mkdir()
    job = ws / "run-evals.sh"
    job.write_text(JOB)
    job.chmod(0o755)
    env = {k: v for k, v in respan_env.items() if k != "LD_PRELOAD"}
    env["PATH"] = f"{build_dir}:{env['PATH']}"
    env["RESPAN_LIBRARY"] = str(build_dir / "librespan.so")
    env.pop("RESPAN_LOG")          # the page names its log files itself
    return ws, env


def offline(env: dict) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = dict(env, RESPAN_BASE_URL=f"https://127.0.0.1:{port}/api/")
    out.pop("RESPAN_API_KEY")      # the replay job has no key
    return out


def run_steps(steps: list, ws: Path, env: dict) -> list:
    done = []
    for step in steps:
        script = step.get("run")
        if script is None or "apt-get install" in script:
            continue
        proc = run(["bash", "-e", "-c", script], env=env, cwd=ws, timeout=120)
        assert proc.returncode == 0, (step.get("name"), proc.stdout, proc.stderr)
        done.append(step["name"])
    return done


def test_github_actions_workflow(workspace, router):
    ws, env = workspace
    [workflow] = [yaml.safe_load(b) for b in blocks("yaml")]
    summary = ws / "summary.md"
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    ran = run_steps(workflow["jobs"]["evals"]["steps"], ws, env)
    assert ran == ["Run the evals through Respan", "Summary on the job page",
                   "HAR of the traffic"], ran
    assert len(router.requests()) == 2
    log = ws / "respan" / "traffic.jsonl"
    assert len(read_log(log, type="request")) == 2
    table = summary.read_text().splitlines()
    assert any(l.startswith("| openai | gpt-4o-mini | 2 |") for l in table), table
    har = (ws / "respan" / "traffic.har").read_text()
    assert '"log"' in har and "api.openai.com" in har

    # The replay job: the artifact is already where download-artifact puts it.
    router.clear()
    replay_steps = workflow["jobs"]["replay"]["steps"]
    assert workflow["jobs"]["replay"]["needs"] == "evals"
    ran = run_steps(replay_steps, ws, offline(env))
    assert ran == ["Replay the evals"]
    assert router.requests() == []
    assert len(read_log(ws / "respan" / "replay.jsonl", type="response")) == 2


def test_plain_shell(workspace, router):
    ws, env = workspace
    record, replay, budget = blocks("sh")[:3]
    (ws / "ci.sh").write_text(record)
    first = run(["sh", "ci.sh"], env=env, cwd=ws, timeout=120)
    assert first.returncode == 0, first.stderr
    assert b"200 Hello from the stand-in router" in first.stdout
    for name in ("traffic.jsonl", "summary.json", "traffic.har"):
        assert (ws / "respan" / name).stat().st_size > 0, name
    assert run(["sh", "-c", budget], env=env, cwd=ws).returncode == 0   # no errors
    router.clear()
    again = run(["sh", "-c", replay], env=offline(env), cwd=ws, timeout=120)
    assert again.returncode == 0, again.stderr
    assert router.requests() == []
    assert again.stdout.count(b"200 Hello from the stand-in router") == 2
