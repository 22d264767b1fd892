"""``rnnkit explore``: the JSON API's answers and bounds, the CLI's errors, the HTML
report, and a 10-second load test against the real server on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from explore_models import TEXT, train_sentiment, train_textgen
from rnnkit.cli import main
from rnnkit.explore.api import LIMITS, ApiError, Explorer
from rnnkit.explore.cells import quote_mask
from rnnkit.explore.models import load_models

pytest.importorskip("starlette", reason="the 'explore' extra (starlette, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the 'explore' extra (starlette, uvicorn) is not installed")

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    train_textgen(root / "tg", steps=30)
    train_sentiment(root / "st", epochs=20)
    return root


@pytest.fixture(scope="module")
def explorer(runs):
    return Explorer(load_models([runs / "tg", runs / "st"]))


def test_models_describe_both_runs(explorer):
    models = {m["name"]: m for m in explorer.list_models()["models"]}
    assert models["tg"]["kind"] == "textgen" and models["tg"]["num_layers"] == 2
    assert models["tg"]["hidden_size"] == 16 and models["tg"]["gates"] == ["i", "f", "g", "o"]
    assert models["tg"]["sample"] and models["tg"]["sample"] in TEXT  # the validation split
    assert models["st"]["kind"] == "sentiment" and models["st"]["labels"] == ["neg", "pos"]


def test_generate_matches_charlm_stream_and_carries_guesses(explorer):
    answer = explorer.generate(
        {"model": "tg", "prime": "def", "length": 40, "seed": 3, "temperature": 0.7}
    )
    lm = explorer.models["tg"].app
    assert answer["text"] == lm.generate(40, prime="def", seed=3, temperature=0.7)
    assert len(answer["chars"]) == 40
    for event in answer["chars"]:
        probs = [p for _, p in event["top"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001


def test_trace_cells_and_classify(explorer):
    text = TEXT[:300]
    trace = explorer.trace(
        {"model": "tg", "text": text, "cells": [{"layer": 1, "kind": "tanh_c", "unit": 2}]}
    )
    assert "".join(c["char"] for c in trace["chars"]) == text
    assert trace["chars"][-1]["logprob_next"] is None
    lm = explorer.models["tg"].app
    assert trace["loss"] == pytest.approx(lm.evaluate(text)["loss"], abs=1e-3)
    assert len(trace["cells"][0]["values"]) == len(text)
    assert set(trace["gates"][0]["gates"]) == {"i", "f", "o"}
    found = explorer.cells(
        {"model": "tg", "text": text, "regex": r"\([^()]*\)", "top": 5, "shown": 2}
    )
    r = [abs(c["correlation"]) for c in found["cells"]]
    assert len(r) == 5 and r == sorted(r, reverse=True) and "values" in found["cells"][1]
    line = explorer.cells({"model": "tg", "text": text, "position": "line"})
    assert line["cells"][0]["correlation"] != 0
    verdict = explorer.classify({"text": "i love this film"})  # the one classifier is the default
    assert verdict["label"] in ("neg", "pos") and len(verdict["trajectory"]) == 4
    assert verdict["attribution_method"] == "leave-one-out, log-odds"
    assert len(verdict["attribution"]) == 4
    flow = explorer.gradients({"model": "tg"})
    assert len(flow["layers"]) == 2 and len(flow["layers"][0]["trained"]) == flow["steps"]
    assert flow["layers"][0]["trained"] != flow["layers"][0]["random"]


@pytest.mark.parametrize(
    "method, body, status, message",
    [
        ("trace", {"model": "nope"}, 404, "unknown model"),
        ("trace", {"model": "st", "text": "x"}, 400, "needs textgen"),
        ("trace", {"model": "tg", "text": "x" * (LIMITS["max_text_chars"] + 1)}, 413, "limit"),
        ("trace", {"model": "tg", "text": "\u00e9t\u00e9"}, 400, "does not know"),
        ("trace", {"model": "tg", "text": "def", "cells": [{"layer": 9}]}, 400, "layer"),
        ("generate", {"model": "tg", "length": LIMITS["max_generate_chars"] + 1}, 400, "length"),
        ("generate", {"model": "tg", "temperature": "hot"}, 400, "temperature"),
        ("generate", {"model": "tg", "top_p": 0}, 400, "top_p"),
        ("generate", {"model": "tg", "length": True}, 400, "length"),
        ("generate", {"model": "tg", "temperature": float("nan")}, 400, "finite"),
        ("generate", {"model": "tg", "top_p": float("nan")}, 400, "finite"),
        ("generate", {"model": "tg", "temperature": float("inf")}, 400, "finite"),
        ("generate", {"model": "tg", "temperature": 10**400}, 400, "temperature"),
        ("generate", {"model": "tg", "temperature": 5e-324}, 400, "greedy"),
        ("cells", {"model": "tg", "text": "def", "regex": "a{4294967296}"}, 400, "regex"),
        ("cells", {"model": "tg", "text": "def", "regex": "("}, 400, "regex"),
        (
            "cells",
            {"model": "tg", "text": "def", "regex": "z"},
            400,
            "matches everywhere or nowhere",
        ),
        ("cells", {"model": "tg", "text": "def"}, 400, "give one of preset, regex or position"),
        ("cells", {"model": "tg", "text": "def", "preset": "nope"}, 400, "preset must be one of"),
        ("cells", {"model": "tg", "text": "def", "preset": 3}, 400, "preset must be str"),
        ("classify", {"model": "st", "text": "   "}, 400, "no words"),
        ("classify", {}, 400, "text"),
    ],
)
def test_bad_requests_are_one_line_4xx(explorer, method, body, status, message):
    with pytest.raises(ApiError) as info:
        result = getattr(explorer, method)(body)
        if hasattr(result, "__next__"):
            next(result)
    assert info.value.status == status and message in info.value.message
    assert "\n" not in info.value.message


def test_cell_search_by_preset_with_its_chance_level(explorer):
    presets = explorer.list_models()["presets"]
    assert presets["inside double quotes"]["quotes"] == '"' and "about" in presets["indentation"]
    text = TEXT[:600]
    found = explorer.cells({"model": "tg", "text": text, "preset": "inside double quotes",
                            "top": 5, "shown": 5})  # fmt: skip
    assert found["signal"] == quote_mask(text).astype(int).tolist()
    assert 0 < found["chance"] < 1 and found["verdict"] in ("none", "weak", "clear")
    assert found["shuffles"] == 19 and found["clear_r"] == 0.5
    for cell in found["cells"]:
        assert cell["above_chance"] == (abs(cell["correlation"]) > found["chance"])
        assert len(cell["values"]) == len(text)
    best = abs(found["cells"][0]["correlation"])
    assert (found["verdict"] == "none") == (best <= found["chance"])
    again = explorer.cells({"model": "tg", "text": text, "preset": "inside double quotes"})
    assert again["chance"] == found["chance"]  # the shuffles are seeded: the same answer
    line = explorer.cells({"model": "tg", "text": text, "preset": "position in the line"})
    assert line["position"] == "line" and not line["mask"] and max(line["signal"]) > 1
    assert found["mask"] and set(found["signal"]) == {0, 1}


def test_trace_lists_closing_brackets_and_quotes(explorer):
    text = 'print("hello, world")\nx = [1, 2, 3]\n'
    answer = explorer.trace({"model": "tg", "text": text})
    assert [(text[a], text[b]) for a, b in answer["closings"]] == [
        ('"', '"'), ("(", ")"), ("[", "]"),
    ]  # fmt: skip


def test_classifier_labels_by_name(runs, tmp_path, capsys):
    models = load_models([runs / "st"])
    named = Explorer(models).classify({"text": "i love this film"})
    assert named["label_names"] == ["negative", "positive"] and named["labels_named"]
    assert named["label_name"] == {"neg": "negative", "pos": "positive"}[named["label"]]
    renamed = Explorer(models, {"pos": "good"}).classify({"text": "i love this film"})
    assert renamed["label_names"] == ["negative", "good"]
    with pytest.raises(ValueError, match="no classifier has the label"):
        Explorer(models, {"1": "positive"})
    described = Explorer(models).list_models()["models"][0]
    assert described["label_names"] == ["negative", "positive"]
    out = tmp_path / "r.html"
    assert main(["explore", str(runs / "st"), "--labels", "neg=bad,pos=good", "--html",
                 str(out)]) == 0  # fmt: skip
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="report-data" type="application/json">(.*?)</script>',
                                html, re.S).group(1))  # fmt: skip
    assert data["models"]["models"][0]["label_names"] == ["bad", "good"]
    assert {c["label_name"] for c in data["answers"]["st"]["classify"]} <= {"bad", "good"}
    capsys.readouterr()
    for bad, message in (("neg", "LABEL=NAME"), ("1=positive", "no classifier has")):
        assert main(["explore", str(runs / "st"), "--labels", bad, "--html",
                     str(tmp_path / "x.html")]) == 1  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_report_is_one_self_contained_file(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["explore", str(runs / "tg"), str(runs / "st"), "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "wrote" in capsys.readouterr().out
    assert '<script id="report-data"' in html and "<style>" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert "/static/" not in html
    data = json.loads(
        re.search(
            r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert set(data["answers"]) == {"tg", "st"} and data["answers"]["tg"]["cells"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explore", "/no/such/run"], "no such run directory"),
        (["explore", "{tmp}"], "no checkpoint"),
        (["explore", "{corrupt}"], "corrupt.npz"),
        (["explore", "{tg}", "--port", "70000"], "--port"),
        (["explore", "{tg}", "--html", "{tmp}/r.html", "--text", "/no/such/file"], "--text"),
    ],
)
def test_bad_start_is_one_line_and_nonzero(runs, tmp_path, capsys, argv, message):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a checkpoint")
    argv = [a.format(tmp=tmp_path, corrupt=corrupt, tg=runs / "tg") for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_report_never_replaces_a_file_unless_forced_and_never_a_model(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    out.write_text("someone's page")
    tg = str(runs / "tg")
    assert main(["explore", tg, "--html", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "exists; pass --force" in err and len(err.splitlines()) == 1, err
    assert out.read_text() == "someone's page"
    for model in (runs / "tg" / "best.npz", runs / "tg" / "latest.npz"):
        before = model.read_bytes()
        assert main(["explore", tg, "--html", str(model), "--force"]) == 1
        assert "is a model" in capsys.readouterr().err
        assert model.read_bytes() == before
    assert main(["explore", tg, "--html", str(out), "--force"]) == 0
    assert '<script id="report-data"' in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left


def test_the_explorer_reads_the_projects_own_safetensors_export(runs, tmp_path, capsys):
    pytest.importorskip("safetensors")
    exported = tmp_path / "tg.safetensors"
    assert main(["export", str(runs / "tg"), "--format", "safetensors", "--out",
                 str(exported)]) == 0  # fmt: skip
    models = load_models([exported])
    (name, model), = models.items()
    assert model.kind == "textgen"
    from_export = Explorer(models).generate({"model": name, "prime": "th", "length": 20,
                                             "seed": 3})  # fmt: skip
    from_run = Explorer(load_models([runs / "tg"])).generate({"model": "tg", "prime": "th",
                                                             "length": 20, "seed": 3})  # fmt: skip
    assert from_export["text"] == from_run["text"]


LOCKER = textwrap.dedent(
    """
    import sys
    from rnnkit.training import RunDir
    run = RunDir.create(sys.argv[1], resume=True)  # a trainer's lock on the run
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def test_explore_reads_a_run_without_its_lock(runs, tmp_path):
    """A reader: loads a run a trainer holds, and leaves the lock free for trainers."""
    run = tmp_path / "tg"
    shutil.copytree(runs / "tg", run)
    env = {**os.environ, "PYTHONPATH": SRC}

    def locker():
        return subprocess.Popen([sys.executable, "-c", LOCKER, str(run)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)  # fmt: skip

    holder = locker()
    try:
        assert holder.stdout.readline().strip() == "locked"
        explorer = Explorer(load_models([run]))  # while a trainer holds the run
        assert explorer.generate({"length": 5, "seed": 0})["text"]
    finally:
        holder.kill()
        holder.wait(timeout=30)
    explorer = Explorer(load_models([run]))
    second = locker()  # a trainer can still lock the run the explorer has open
    try:
        assert second.stdout.readline().strip() == "locked", second.stderr.read()
    finally:
        second.kill()
        second.wait(timeout=30)
    assert explorer.models["tg"].app.network is not None


def test_without_the_extra_the_command_names_it(runs, tmp_path):
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn'):\n"
        "            raise ImportError(name)\nsys.meta_path.insert(0, Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{SRC}"}
    done = subprocess.run([sys.executable, "-m", "rnnkit.cli", "explore", str(runs / "tg")],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "rnnkit: error: the explorer needs the 'explore' extra: pip install 'rnnkit[explore]'"
    ]


# -- the real server ----------------------------------------------------------------------


def start_server(run_dirs, *options, stderr=subprocess.PIPE):
    """``rnnkit explore RUN_DIR... --port 0 [options]`` in a subprocess; returns
    (process, base URL)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [sys.executable, "-m", "rnnkit.cli", "explore", *map(str, run_dirs), "--port", "0",
           *options]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    line = proc.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r} {proc.communicate()[1]}")
    return proc, match.group(1)


def request(url, body=None, raw=None, timeout=30):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def load_test(base: str, pid: int, seconds: float, clients: int = 16, first: float | None = None):
    """``clients`` threads mixing every endpoint (and bad requests) for ``seconds``.

    Returns (status counts, RSS after the first part, RSS at the end), in KiB.
    """
    first = seconds / 6 if first is None else first
    text = TEXT[:600]
    calls = [
        ("api/models", None, None),
        ("api/generate", {"model": "tg", "prime": "def", "length": 60, "seed": 1}, None),
        ("api/generate/stream", {"model": "tg", "length": 60}, None),
        (
            "api/trace",
            {"model": "tg", "text": text, "cells": [{"layer": 1, "kind": "h", "unit": 3}]},
            None,
        ),
        ("api/cells", {"model": "tg", "text": text, "regex": r'"[^"]*"'}, None),
        ("api/cells", {"model": "tg", "text": text[::-1], "position": "line"}, None),
        ("api/classify", {"model": "st", "text": "what a great movie"}, None),
        ("api/gradients", {"model": "st"}, None),
    ]
    counts: dict[int, int] = {}
    lock = threading.Lock()
    start = time.monotonic()
    stop = start + seconds
    marks = {}

    def client(k: int):
        i = k
        while time.monotonic() < stop:
            path, body, raw = calls[i % len(calls)]
            i += 1
            if path == "api/models":
                status, _ = request(base + path)
            else:
                status, _ = request(base + path, body, raw)
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(first)
    marks["first"] = rss_kib(pid)
    for t in threads:
        t.join()
    marks["end"] = rss_kib(pid)
    return counts, marks["first"], marks["end"]


@pytest.fixture(scope="module")
def server(runs):
    proc, base = start_server([runs / "tg", runs / "st"])
    yield proc, base
    proc.terminate()
    proc.wait(timeout=10)


def test_load_16_clients_for_10_seconds(server):
    proc, base = server
    counts, first, end = load_test(base, proc.pid, seconds=10.0, first=3.0)
    assert set(counts) <= {200, 429} and counts.get(200, 0) > 0, counts
    assert end <= 1.2 * first, (first, end)


@pytest.mark.parametrize(
    "path, raw, status",
    [
        ("api/trace", b"{not json", 400),
        ("api/trace", b"[1, 2]", 400),
        ("api/trace", b'{"model": "nope"}', 404),
        ("api/generate/stream", b'{"model": "tg", "length": -5}', 400),
        ("api/generate", b"x" * (LIMITS["max_body_bytes"] + 10), 413),
        ("api/nothing", b"{}", 404),
    ],
)
def test_http_errors_are_one_line_json_and_the_server_keeps_serving(server, path, raw, status):
    _, base = server
    got, body = request(base + path, raw=raw)
    assert got == status
    error = json.loads(body)["error"]
    assert error and "\n" not in error and "Traceback" not in error
    assert request(base + "api/models")[0] == 200


# -- hostile clients: a second server with a 1-second timeout and its stderr in a file ------


@pytest.fixture(scope="module")
def guarded(runs, tmp_path_factory):
    """(base URL, stderr file): a server started with ``--timeout 1``."""
    log = tmp_path_factory.mktemp("guarded") / "stderr.txt"
    with open(log, "w") as err:
        proc, base = start_server([runs / "tg", runs / "st"], "--timeout", "1", stderr=err)
    yield base, log
    proc.terminate()
    proc.wait(timeout=10)


def address(base: str) -> tuple[str, int]:
    host, port = base.split("//")[1].strip("/").split(":")
    return host, int(port)


def post_head(path: str, body: bytes) -> bytes:
    return (f"POST /{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip


def test_abandoned_streams_give_their_slots_back_at_once(guarded):
    """Four streams (every work slot) that the client closes after the first line: the
    next four requests, sent together, are all answered 200 (not 429)."""
    base, log = guarded
    body = json.dumps({"model": "tg", "length": LIMITS["max_generate_chars"]}).encode()
    for _ in range(LIMITS["max_concurrent"]):
        sock = socket.create_connection(address(base), timeout=10)
        sock.sendall(post_head("api/generate/stream", body) + body)
        received = b""
        while b'{"char"' not in received:  # the stream has started: it holds a slot
            received += sock.recv(4096)
        assert received.startswith(b"HTTP/1.1 200")
        sock.close()
    time.sleep(0.2)  # the server sees the closed connections
    short = {"model": "tg", "length": 5, "seed": 0}
    statuses = []

    def one():
        statuses.append(request(base + "api/generate", short)[0])

    threads = [threading.Thread(target=one) for _ in range(LIMITS["max_concurrent"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * LIMITS["max_concurrent"]
    assert log.read_text() == ""


DEEP = b'{"model": "tg", "cells": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"


@pytest.mark.parametrize(
    "path, raw, message",
    [
        ("api/trace", DEEP, "nested"),
        ("api/generate", DEEP, "nested"),
        ("api/generate", b'{"model": "tg", "length": ' + b"7" * 5000 + b"}", "digits"),
        ("api/generate/stream", b'{"model": "tg", "seed": ' + b"1" * 5000 + b"}", "digits"),
        ("api/generate/stream", b'{"model": "tg", "temperature": NaN}', "NaN"),
        ("api/generate/stream", b'{"model": "tg", "top_p": -Infinity}', "Infinity"),
        ("api/generate/stream", b'{"model": "tg", "temperature": 1e999}', "finite"),
        ("api/generate", b'{"model": "tg", "temperature": NaN}', "NaN"),
        ("api/classify", b'{"model": "st", "text": "good", "x": [Infinity]}', "Infinity"),
        ("api/cells", b'{"model": "tg", "text": "def", "regex": "a{4294967296}"}', "regex"),
        ("api/cells", b'{"model": "tg", "text": "def", "regex": "(?<=a+)b"}', "regex"),
        ("api/trace", b'{"model": "tg", "text": "\\ud800"}', "does not know"),
        ("api/trace", b'{"model": "tg", "text": "\xff"}', "UTF-8"),
    ],
)
def test_hostile_json_is_a_one_line_4xx_before_any_answer_starts(guarded, path, raw, message):
    base, log = guarded
    got, body = request(base + path, raw=raw)
    assert 400 <= got < 500, (got, body[:200])
    error = json.loads(body)["error"]
    assert message in error and "\n" not in error and "Traceback" not in error
    assert log.read_text() == "", log.read_text()[-2000:]


def test_a_backtracking_regex_is_stopped_at_its_time_limit(explorer, monkeypatch):
    """``(a+)+$`` on 26 a's and a b backtracks for seconds; the worker is stopped."""
    monkeypatch.setitem(LIMITS, "regex_seconds", 0.5)
    start = time.monotonic()
    with pytest.raises(ApiError) as info:
        explorer.cells({"model": "tg", "text": "a" * 26 + "b", "regex": r"(a+)+$"})
    assert time.monotonic() - start < 3.0
    assert info.value.status == 400 and "longer than 0.5 s" in info.value.message
    found = explorer.cells({"model": "tg", "text": TEXT[:300], "regex": r'"[^"]*"'})
    assert found["cells"]  # a fresh worker answers the next pattern


def test_half_open_and_idle_connections_are_closed_after_the_timeout(guarded):
    """50 connections that never finish their request line or headers, 10 that send
    nothing, one whose body never arrives (408), one kept alive with half a second
    request: all closed within the 1-second timeout, while a normal request is answered."""
    base, log = guarded
    partial = [b"POST /api/gen", b"GET / HTTP/1.1\r\nHost: x\r\nAcc"]
    socks = []
    for i in range(50):
        sock = socket.create_connection(address(base), timeout=10)
        sock.sendall(partial[i % 2])
        socks.append(sock)
    socks += [socket.create_connection(address(base), timeout=10) for _ in range(10)]
    short_body = socket.create_connection(address(base), timeout=10)
    short_body.sendall(post_head("api/trace", b"x" * 100) + b'{"model": ')
    kept = socket.create_connection(address(base), timeout=10)
    kept.sendall(b"GET /api/models HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += kept.recv(65536)
    head, rest = answer.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
    while len(rest) < length:
        rest += kept.recv(65536)
    assert head.startswith(b"HTTP/1.1 200") and len(rest) == length
    kept.sendall(b"GET /api/mo")
    start = time.monotonic()
    assert request(base + "api/models", timeout=5)[0] == 200
    assert time.monotonic() - start < 0.9  # answered while the others hang
    for sock in [*socks, kept]:
        sock.settimeout(5)
        assert sock.recv(1024) == b""  # closed by the server
        sock.close()
    answer = b""
    short_body.settimeout(5)
    while chunk := short_body.recv(4096):
        answer += chunk
    short_body.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive" in answer
    assert time.monotonic() - start < 4.0
    assert log.read_text() == ""
