"""safetensors export: PyTorch's names, read by the safetensors package and by rnnkit."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from interop_models import CORPUS as CORPUS_TEXT
from interop_models import HELD_OUT, LABELS, TEXTS, sentiment, textgen
from rnnkit.interop import export
from rnnkit.interop import safetensors as st
from rnnkit.training import CheckpointError


def test_round_trip_of_both_applications(tmp_path):
    lm = textgen(cell="gru", num_layers=2)
    (path,) = export(lm, "safetensors", tmp_path / "lm.safetensors")
    back = st.load_app(path)
    assert back.generate(40, prime="To", greedy=True) == lm.generate(40, prime="To", greedy=True)
    for name, value in lm.network.state_dict().items():
        np.testing.assert_array_equal(back.network.state_dict()[name], value)
    clf = sentiment(char_ngrams=(3, 4), pooling="mean")
    (path,) = export(clf, "safetensors", tmp_path / "clf.safetensors")
    again = st.load_app(path)
    np.testing.assert_array_equal(again.predict_proba(HELD_OUT), clf.predict_proba(HELD_OUT))
    assert again.labels == clf.labels and again.vocab.tokens == clf.vocab.tokens


def test_the_safetensors_package_reads_ours_and_we_read_its(tmp_path):
    safetensors_numpy = pytest.importorskip(
        "safetensors.numpy", reason="needs the safetensors extra"
    )
    from safetensors import safe_open

    lm = textgen()
    (path,) = export(lm, "safetensors", tmp_path / "lm.safetensors")
    theirs = safetensors_numpy.load_file(str(path))
    assert sorted(theirs) == sorted(lm.network.state_dict())
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads(f.metadata()["rnnkit"])
    assert meta["app"] == "textgen" and meta["config"]["vocab"] == lm.vocab.to_dict()
    arrays = {
        "a": np.arange(6, dtype=np.float64).reshape(2, 3),
        "b": np.array([1, -2], np.int64),
        "c": np.ones((0, 4), np.float32),
    }
    safetensors_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"k": "v"})
    tensors, metadata = st.load_file(tmp_path / "theirs.safetensors")
    assert metadata == {"k": "v"} and all(np.array_equal(tensors[k], arrays[k]) for k in arrays)


def test_loadable_into_the_equivalent_torch_module(tmp_path):
    torch = pytest.importorskip("torch", reason="needs the torch extra")
    safetensors_torch = pytest.importorskip(
        "safetensors.torch", reason="needs the safetensors extra"
    )
    from rnnkit.interop.torch import to_torch

    clf = sentiment(num_layers=2, pooling="max")
    (path,) = export(clf, "safetensors", tmp_path / "clf.safetensors")
    module = to_torch(clf)
    for p in module.parameters():  # forget the weights, then load the file
        torch.nn.init.zeros_(p)
    module.load_state_dict(safetensors_torch.load_file(str(path)))
    from test_interop_onnx import classifier_inputs

    feeds = {k: torch.from_numpy(v) for k, v in classifier_inputs(clf, HELD_OUT).items()}
    with torch.no_grad():
        logits = module(**feeds).numpy()
    p1 = 1 / (1 + np.exp(-logits[:, 0].astype(np.float64)))
    np.testing.assert_allclose(p1, clf.predict_proba(HELD_OUT)[:, 1], atol=1e-5)


def write_raw(path, header: bytes, data: bytes = b"", size: int | None = None):
    n = len(header) if size is None else size
    path.write_bytes(n.to_bytes(8, "little") + header + data)
    return path


@pytest.mark.parametrize(
    "header,data,size,message",
    [
        (b"{}", b"", 2**62, "header of"),  # absurd header size: refused before reading
        (b"{}", b"", 10**6, "header of"),  # larger than the file
        (b"[1]", b"", None, "not a JSON object"),
        (b"{not json", b"", None, "corrupt"),
        (
            b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}',
            b"\0" * 4,
            None,
            "does not fit",
        ),
        (b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}', b"\0" * 4, None, "outside"),
        (b'{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4, None, "bad header"),
        (b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8, None, "gaps"),
        (
            b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
            b"\0" * 8,
            None,
            "after the last",
        ),
        (b'{"__metadata__":{"a":1}}', b"", None, "strings"),
    ],
)
def test_bad_files_are_refused_in_one_line(tmp_path, header, data, size, message):
    path = write_raw(tmp_path / "bad.safetensors", header, data, size)
    with pytest.raises(CheckpointError, match=message) as info:
        st.load_file(path)
    assert "\n" not in str(info.value) and "bad.safetensors" in str(info.value)


def test_a_foreign_file_is_not_an_rnnkit_export(tmp_path):
    path = st.save_file(
        {"w": np.zeros(3, np.float32)}, tmp_path / "x.safetensors", {"format": "pt"}
    )
    with pytest.raises(CheckpointError, match="not an rnnkit export"):
        st.load_app(path)
    lm = textgen()
    (path,) = export(lm, "safetensors", tmp_path / "lm.safetensors")
    tensors, metadata = st.load_file(path)
    tensors["decoder.bias"] = tensors["decoder.bias"][:-1]
    st.save_file(tensors, path, metadata)
    # the bounded loader counts the weights before it reads them, or names the tensor
    with pytest.raises(CheckpointError, match=r"lm\.safetensors: .*(decoder\.bias|2,720 weights)"):
        st.load_app(path)


def test_export_command_writes_safetensors(tmp_path, capsys):
    from rnnkit.cli import main

    textgen(tmp_path / "run")
    assert (
        main(
            [
                "export",
                str(tmp_path / "run"),
                "--format",
                "safetensors",
                "--out",
                str(tmp_path / "m.st"),
            ]
        )
        == 0
    )
    assert st.load_app(tmp_path / "m.st").vocab is not None


def test_a_missing_extra_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    import sys

    from rnnkit.cli import main

    textgen(tmp_path / "run")
    for name in ("onnx", "torch", "rnnkit.interop.onnx", "rnnkit.interop.torch"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails
    import rnnkit.interop

    for name in ("onnx", "torch"):  # `from .interop import x` looks here first
        monkeypatch.delattr(rnnkit.interop, name, raising=False)
    monkeypatch.delitem(sys.modules, "rnnkit.interop.onnx")
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 1
    assert (
        capsys.readouterr().err
        == "rnnkit: error: onnx is not installed: pip install 'rnnkit[onnx]'\n"
    )


# -- "nothing lost, round two", 8: the commands that read a model read our export ------
def cli(capsys, *argv):
    from rnnkit.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(result, *needles):
    code, _, err = result
    assert code == 1, err
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    (root / "corpus.txt").write_text(CORPUS_TEXT)
    textgen(root / "lm")
    sentiment(root / "clf")
    (root / "data.tsv").write_text(
        "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(TEXTS, LABELS, strict=True))
    )
    return root


def test_textgen_sample_and_eval_read_the_safetensors_export(runs, tmp_path, capsys):
    out = tmp_path / "lm.safetensors"
    assert cli(capsys, "export", runs / "lm", "--format", "safetensors", "--out", out)[0] == 0
    sample = ("--length", 60, "--seed", 3, "--temperature", 0.8)
    code, from_run, err = cli(capsys, "textgen", "sample", runs / "lm", *sample)
    assert code == 0, err
    code, from_export, err = cli(capsys, "textgen", "sample", out, *sample)
    assert code == 0, err
    assert from_export == from_run and len(from_run) > 40
    corpus = runs / "corpus.txt"
    evals = [cli(capsys, "textgen", "eval", m, corpus, "--json") for m in (runs / "lm", out)]
    assert evals[0][0] == evals[1][0] == 0
    assert json.loads(evals[0][1])["loss"] == json.loads(evals[1][1])["loss"]


def test_sentiment_predict_and_eval_read_the_safetensors_export(runs, tmp_path, capsys):
    out = tmp_path / "clf.safetensors"
    assert cli(capsys, "export", runs / "clf", "--format", "safetensors", "--out", out)[0] == 0
    for command in (
        ("predict", *HELD_OUT, "--json"),
        ("eval", "--data", runs / "data.tsv", "--json"),
    ):
        code, from_run, err = cli(capsys, "sentiment", command[0], runs / "clf", *command[1:])
        assert code == 0, err
        code, from_export, err = cli(capsys, "sentiment", command[0], out, *command[1:])
        assert code == 0, err
        if command[0] == "eval":  # the report names its data file, the same in both
            from_run, from_export = json.loads(from_run), json.loads(from_export)
        assert from_export == from_run
    # an ensemble may mix run directories and exports
    code, _, err = cli(capsys, "sentiment", "predict", runs / "clf", "ok", "--ensemble-with", out)
    assert code == 0, err


def test_export_reads_the_safetensors_export(runs, tmp_path, capsys):
    first = tmp_path / "a.safetensors"
    assert cli(capsys, "export", runs / "lm", "--format", "safetensors", "--out", first)[0] == 0
    second = tmp_path / "b.safetensors"
    assert cli(capsys, "export", first, "--format", "safetensors", "--out", second)[0] == 0
    a, b = st.load_file(first), st.load_file(second)
    assert a[1] == b[1] and a[0].keys() == b[0].keys()
    assert all(np.array_equal(a[0][k], b[0][k]) for k in a[0])


def test_the_wrong_application_and_foreign_files_are_named_in_one_line(runs, tmp_path, capsys):
    lm = tmp_path / "lm.safetensors"
    assert cli(capsys, "export", runs / "lm", "--format", "safetensors", "--out", lm)[0] == 0
    one_line_error(cli(capsys, "sentiment", "predict", lm, "hi"), str(lm), "expected 'sentiment'")
    foreign = st.save_file({"w": np.zeros(3, np.float32)}, tmp_path / "x.safetensors")
    for argv in (("textgen", "sample", foreign), ("sentiment", "predict", foreign, "hi")):
        one_line_error(cli(capsys, *argv), str(foreign), "without rnnkit's metadata")
    one_line_error(
        cli(capsys, "export", foreign, "--format", "safetensors", "--out", tmp_path / "y"),
        str(foreign), "without rnnkit's metadata",
    )  # fmt: skip
    # an ONNX model (only its first bytes matter) and its sidecar say what they are
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"\x08\x08\x12\x06rnnkit:\x00" + bytes(range(256)))
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(onnx_file.read_bytes())
    (tmp_path / "m.onnx.json").write_text('{"app": "textgen"}\n')
    for path in (onnx_file, renamed, tmp_path / "m.onnx.json"):
        for argv in (
            ("textgen", "sample", path),
            ("textgen", "eval", path),
            ("sentiment", "predict", path, "hi"),
            ("sentiment", "eval", path, "--data", runs / "data.tsv"),
            ("export", path, "--format", "safetensors", "--out", tmp_path / "z.safetensors"),
        ):
            err = one_line_error(cli(capsys, *argv), str(path), "rnnkit reads its own checkpoints")
            assert ("onnxruntime" in err) == (path != tmp_path / "m.onnx.json"), err
    assert not (tmp_path / "z.safetensors").exists()
    # a PyTorch checkpoint is a zip of pickles: named, never unpickled
    torch_file = tmp_path / "model.pt"
    with zipfile.ZipFile(torch_file, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\n.")
    one_line_error(cli(capsys, "textgen", "sample", torch_file), str(torch_file), "PyTorch")


def test_a_header_of_many_lists_is_refused_before_parsing(tmp_path):
    # 120 KB of "[]," is 40,000 lists: a header that long may hold 1 per 8 bytes
    header = b'{"pad":[' + b"[]," * 40_000 + b"[]]}"
    path = write_raw(tmp_path / "lists.safetensors", header)
    with pytest.raises(CheckpointError, match="lists and dicts") as info:
        st.load_file(path)
    assert "\n" not in str(info.value) and "lists.safetensors" in str(info.value)


def test_loading_allocates_about_the_file_once(tmp_path):
    import tracemalloc

    path = st.save_file({"w": np.ones((1024, 1024), np.float32)}, tmp_path / "w.safetensors")
    tracemalloc.start()
    try:
        tensors, _ = st.load_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tensors["w"].sum() == 1024 * 1024
    assert peak < 1.25 * path.stat().st_size, peak
