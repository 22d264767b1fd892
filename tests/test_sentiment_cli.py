"""The ``rnnkit sentiment`` commands, in process (``main(argv)``), on a toy data set."""

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.cli import main

ROWS = [
    ("i love this film", "pos"), ("what a great movie", "pos"), ("this movie was wonderful", "pos"),
    ("i really enjoyed it", "pos"), ("worst movie ever", "neg"), ("i hate this film", "neg"),
    ("this movie was terrible", "neg"), ("what a boring waste of time", "neg"),
]  # fmt: skip
FAST = ["--epochs", "12", "--batch-size", "2", "--lr", "0.02", "--hidden-size", "16",
        "--embedding-dim", "8", "--evals-per-epoch", "1", "--patience", "0", "--quiet"]  # fmt: skip


def write_tsv(path: Path, rows=ROWS) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t} \t{y}\n" for t, y in rows))
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run directory trained once, shared by the eval/predict tests."""
    root = tmp_path_factory.mktemp("sentiment")
    data = write_tsv(root / "toy.tsv")
    assert main(["sentiment", "train", "--train", str(data), "--valid", str(data),
                 "--out", str(root / "run"), *FAST]) == 0  # fmt: skip
    return root


def test_train_writes_the_run(trained):
    run_dir = trained / "run"
    for name in ("best.npz", "latest.npz", "metrics.jsonl", "loss.png"):
        assert (run_dir / name).is_file(), name
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("val_accuracy", 0) for r in records) == 1.0


def test_eval_text_and_json(trained, capsys):
    code, out, _ = run(capsys, "sentiment", "eval", trained / "run", "--data", trained / "toy.tsv")
    assert code == 0 and "accuracy  1.0000" in out and "confusion matrix" in out
    code, out, _ = run(
        capsys, "sentiment", "eval", trained / "run", "--data", trained / "toy.tsv", "--json"
    )
    report = json.loads(out)
    assert report["accuracy"] == 1.0 and report["confusion_matrix"] == [[4, 0], [0, 4]]
    assert set(report["per_class"]) == {"neg", "pos"} and report["macro_f1"] == 1.0


def test_predict_arguments_file_stdin_and_empty(trained, capsys, monkeypatch):
    code, out, _ = run(capsys, "sentiment", "predict", trained / "run", "i love this film", "")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    label, prob, text = lines[0].split("\t")
    assert label == "pos" and 0.5 < float(prob) <= 1 and text == "i love this film"
    assert lines[1] == "-\t-\t"  # the documented result for an empty input

    texts = trained / "texts.txt.gz"
    texts.write_bytes(gzip.compress("worst movie ever\nplain \u0085 text\n".encode()))
    code, out, _ = run(capsys, "sentiment", "predict", trained / "run", "--file", texts, "--json")
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["text"] for o in objs] == ["worst movie ever", "plain \u0085 text"]
    assert objs[0]["label"] == "neg" and set(objs[0]["probabilities"]) == {"neg", "pos"}

    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(b"i hate this film\n\nwhat a great movie\n"))
    )
    code, out, _ = run(capsys, "sentiment", "predict", trained / "run", "--json")
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["label"] for o in objs] == ["neg", None, "pos"]
    assert objs[1] == {"text": "", "label": None, "probability": None, "probabilities": {}}


def test_eval_reads_latin1_label_first_files_with_the_flag(trained, tmp_path, capsys):
    data = tmp_path / "old.txt"
    data.write_bytes("pos i love this film\nneg worst movie ever, clich\xe9\n".encode("latin-1"))
    err = one_line_error(*run(capsys, "sentiment", "eval", trained / "run", "--data", data))
    assert "line 2" in err and "latin-1" in err
    code, out, _ = run(
        capsys,
        "sentiment",
        "eval",
        trained / "run",
        "--data",
        data,
        "--encoding",
        "latin-1",
        "--json",
    )
    assert code == 0 and json.loads(out)["examples"] == 2


def one_line_error(code, out, err):
    assert code == 1, (code, out, err)
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("sentence\tlabel\n", "training set is empty"),
        ("sentence\tlabel\ngood\tpos\nfine\tpos\n", "single class"),
        ("sentence\tlabel\ngood\tpos\nbad\tneg\nno label here\n", "line 4"),
        ("text\tstars\ngood\t5\nbad\t1\n", "no label column found"),
    ],
)
def test_train_bad_inputs_keep_an_existing_run(trained, tmp_path, capsys, content, message):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained / "run", run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    data = tmp_path / "train.tsv"
    if content is not None:
        data.write_text(content)
    err = one_line_error(
        *run(capsys, "sentiment", "train", "--train", data, "--out", run_dir, "--force", "--quiet")
    )
    assert message in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before  # nothing destroyed


def test_train_refuses_to_overwrite_a_run(trained, capsys):
    err = one_line_error(*run(capsys, "sentiment", "train", "--train", trained / "toy.tsv",
                              "--out", trained / "run", "--quiet"))  # fmt: skip
    assert "already holds a run" in err


def test_eval_and_predict_bad_inputs(trained, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes((trained / "run" / "best.npz").read_bytes()[:300])
    err = one_line_error(*run(capsys, "sentiment", "predict", corrupt, "hello"))
    assert "corrupt" in err
    err = one_line_error(
        *run(capsys, "sentiment", "eval", tmp_path / "nowhere", "--data", trained / "toy.tsv")
    )
    assert "not found" in err or "no checkpoint" in err
    err = one_line_error(
        *run(capsys, "sentiment", "eval", trained / "run", "--data", tmp_path / "missing.tsv")
    )
    assert "no such file" in err
    other = write_tsv(tmp_path / "other.tsv", [("so so", "meh")])
    err = one_line_error(*run(capsys, "sentiment", "eval", trained / "run", "--data", other))
    assert "label 'meh'" in err


def test_installed_command_reads_stdin(trained):
    exe = Path(sys.executable).with_name("rnnkit")
    if not exe.exists():
        pytest.skip("the rnnkit console script is not installed in this environment")
    proc = subprocess.run([str(exe), "sentiment", "predict", str(trained / "run")],
                          input=b"i love this film\n", capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("pos\t")


def test_train_with_char_ngrams_and_a_bad_range(trained, tmp_path, capsys):
    code, _, _ = run(capsys, "sentiment", "train", "--train", trained / "toy.tsv",
                     "--out", tmp_path / "grams", "--char-ngrams", "3-4", *FAST)  # fmt: skip
    assert code == 0
    code, out, _ = run(
        capsys, "sentiment", "predict", tmp_path / "grams", "a wonderfully great film", "--json"
    )
    assert code == 0 and json.loads(out)["label"] in ("pos", "neg")
    with pytest.raises(SystemExit) as info:
        main(["sentiment", "train", "--train", str(trained / "toy.tsv"), "--char-ngrams", "5-3"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "need 1 <= MIN <= MAX" in err and "Traceback" not in err


def test_eval_and_predict_an_ensemble(trained, tmp_path, capsys):
    second = tmp_path / "second"
    assert main(["sentiment", "train", "--train", str(trained / "toy.tsv"), "--out", str(second),
                 "--seed", "1", *FAST]) == 0  # fmt: skip
    capsys.readouterr()
    code, out, _ = run(capsys, "sentiment", "predict", trained / "run", "a great film", "--json",
                       "--ensemble-with", second)  # fmt: skip
    from rnnkit.sentiment import Ensemble

    expected = Ensemble.load([trained / "run", second]).predict("a great film")[0]
    assert code == 0 and json.loads(out)["probability"] == pytest.approx(expected.probability)
    code, out, _ = run(capsys, "sentiment", "eval", trained / "run", "--data", trained / "toy.tsv",
                       "--json", "--ensemble-with", second)  # fmt: skip
    assert code == 0 and json.loads(out)["accuracy"] == 1.0
    err = one_line_error(*run(capsys, "sentiment", "eval", trained / "run", "--data",
                              trained / "toy.tsv", "--ensemble-with", tmp_path / "nothing"))
    assert "nothing" in err


def test_train_distils_teachers_and_refuses_bad_ones(trained, tmp_path, capsys):
    from rnnkit.training import load_checkpoint

    student = tmp_path / "student"
    argv = ["sentiment", "train", "--train", trained / "toy.tsv", "--valid", trained / "toy.tsv",
            "--out", student, *FAST]  # fmt: skip
    code, out, _ = run(capsys, *argv, "--teacher", trained / "run", "--teacher", trained / "run",
                       "--distill-weight", "0.25")  # fmt: skip
    assert code == 0 and "best validation accuracy" in out
    ckpt = load_checkpoint(student / "latest.npz")
    assert ckpt["config"]["train"]["distill_weight"] == 0.25
    assert ckpt["task"]["train_targets"].shape == (8, 2)
    before = (student / "best.npz").read_bytes()
    rows = [(t, y) for (t, _), y in zip(ROWS, "abcabcab", strict=True)]
    three = write_tsv(tmp_path / "three.tsv", rows)
    bad = [(["--teacher", tmp_path / "nothing"], "nothing"),
           (["--teacher", trained / "run", "--distill-weight", "2"], "distill_weight")]  # fmt: skip
    for extra, message in bad:
        err = one_line_error(*run(capsys, *argv, "--force", *extra))
        assert message in err
    err = one_line_error(*run(capsys, "sentiment", "train", "--train", three, "--out", student,
                              "--force", "--teacher", trained / "run", *FAST))  # fmt: skip
    assert "teacher's labels" in err
    assert (student / "best.npz").read_bytes() == before  # nothing saved was lost


# -- predict from a stream ---------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _predictor(run_dir: Path) -> subprocess.Popen:
    import os

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "sentiment", "predict",
                             str(run_dir)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, bufsize=0)  # fmt: skip


def _lines_of(stream):
    """A queue of ``stream``'s lines, read by a thread (None at the end)."""
    import queue
    import threading

    lines: queue.Queue = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line.decode())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_predict_answers_each_stdin_line_before_the_next_is_sent(trained):
    proc = _predictor(trained / "run")
    try:
        answers = _lines_of(proc.stdout)
        for text, label in [("i love this film", "pos"), ("worst movie ever", "neg"),
                            ("", "-"), ("what a great movie", "pos")]:  # fmt: skip
            proc.stdin.write(text.encode() + b"\n")  # the pipe stays open: no end of input
            answer = answers.get(timeout=60)
            assert answer is not None and answer.rstrip("\n").split("\t")[::2] == [label, text]
        proc.stdin.close()
        assert answers.get(timeout=60) is None and proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_predict_streams_an_endless_stdin_in_bounded_memory(trained):
    """`yes 'a good movie' | rnnkit sentiment predict RUN` answers as lines come, and its
    memory does not grow with the input (it used to read to the end first)."""
    import threading

    proc = _predictor(trained / "run")
    stop = threading.Event()

    def feed():  # about 200 kB a round, for ever
        block = b"what a great movie\n" * 10_000
        try:
            while not stop.is_set():
                proc.stdin.write(block)
        except (BrokenPipeError, OSError, ValueError):
            pass

    threading.Thread(target=feed, daemon=True).start()
    answers = _lines_of(proc.stdout)
    try:
        peak = []
        for n in range(60_000):
            answer = answers.get(timeout=60)
            assert answer == "pos\t" + answer.split("\t")[1] + "\twhat a great movie\n", answer
            status = Path(f"/proc/{proc.pid}/status")
            if n in (10_000, 59_999) and status.exists():
                peak.append(int(status.read_text().split("VmHWM:")[1].split()[0]))  # kB
        if peak:  # the first 10,000 answers and 50,000 more: the same memory, give or take
            assert peak[1] - peak[0] < 50_000, peak
    finally:
        stop.set()
        proc.kill()
        proc.wait()


def test_predict_refuses_an_overlong_line_and_bad_bytes_in_one_line(trained):
    for data, message in [
        (b"i love this film\n" + b"a" * 1_500_000, "stdin line 2 is longer than 1,000,000"),
        (b"i love this film\nworst \xff\n", "stdin line 2 is not valid utf-8"),
    ]:
        proc = _predictor(trained / "run")
        out, err = proc.communicate(data, timeout=120)
        assert proc.returncode == 1 and out.decode().startswith("pos\t"), (out, err)
        assert out.count(b"\n") == 1  # the line before it is answered
        err = err.decode()
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_predict_streams_a_file_too_and_names_its_bad_line(trained, tmp_path, capsys):
    """--file is read as a stream like stdin (plain or gzip): bounded memory, one answer per
    line, and an overlong or undecodable line ends it in one line naming the file and line."""
    big = tmp_path / "many.txt.gz"
    with gzip.open(big, "wt", encoding="utf-8") as f:
        for i in range(20_000):
            f.write(("i love this film\n", "worst movie ever\n")[i % 2])
    code, out, _ = run(capsys, "sentiment", "predict", trained / "run", "--file", big)
    labels = [line.split("\t")[0] for line in out.splitlines()]
    assert code == 0 and labels[:2] == ["pos", "neg"] and len(labels) == 20_000
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"i love this film\nworst \xff\n")
    code, out, err = run(capsys, "sentiment", "predict", trained / "run", "--file", bad)
    assert code == 1 and out.startswith("pos\t") and out.count("\n") == 1
    assert err.count("\n") == 1 and f"{bad} line 2 is not valid utf-8" in err, err
