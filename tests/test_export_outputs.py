"""``rnnkit export`` never overwrites its input or a checkpoint, and replaces an
existing output (or its sidecar) only with ``--force``, atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from interop_models import textgen
from rnnkit.cli import main
from rnnkit.interop import safetensors as st
from rnnkit.training import checkpoint


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(result, *needles):
    code, out, err = result
    assert code == 1, (out, err)
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "wrote" not in out
    for needle in needles:
        assert needle in err, err
    return err


def digest(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (temporaries included) and its sha256."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    textgen(root / "run")
    return root


@pytest.fixture
def run(trained, tmp_path) -> Path:
    shutil.copytree(trained / "run", tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("name", ["best.npz", "latest.npz"])
@pytest.mark.parametrize("force", [False, True])
def test_the_runs_own_checkpoints_are_never_an_output(run, capsys, name, force):
    before = digest(run)
    for fmt in ("safetensors", "onnx"):
        err = refused(
            cli(capsys, "export", run, "--format", fmt, "--out", run / name, *["--force"] * force),
            str(run / name),
        )
        assert "--out" in err
    assert digest(run) == before
    assert cli(capsys, "textgen", "sample", run, "--length", 5)[0] == 0


@pytest.mark.parametrize("force", [False, True])
def test_the_input_is_never_its_own_output(run, tmp_path, capsys, force):
    model = tmp_path / "m.npz"
    shutil.copy(run / "best.npz", model)
    link = tmp_path / "link.npz"
    link.symlink_to(model)
    before = digest(tmp_path)
    flag = ["--force"] * force
    for out in (model, link, tmp_path / "sub" / ".." / "m.npz"):
        refused(cli(capsys, "export", model, "--format", "safetensors", "--out", out, *flag),
                str(out), "being exported")  # fmt: skip
    assert digest(tmp_path) == before
    (tmp_path / "sub").mkdir()
    exported = tmp_path / "m.safetensors"
    assert cli(capsys, "export", model, "--format", "safetensors")[0] == 0  # the default name
    before = digest(tmp_path)
    # the default output of exporting a safetensors file as safetensors is that file
    refused(cli(capsys, "export", exported, "--format", "safetensors", *flag),
            str(exported), "being exported")  # fmt: skip
    assert digest(tmp_path) == before


@pytest.mark.parametrize("force", [False, True])
def test_another_checkpoint_is_never_overwritten(run, tmp_path, capsys, force):
    other = tmp_path / "other.npz"
    shutil.copy(run / "latest.npz", other)
    before = digest(tmp_path)
    refused(cli(capsys, "export", run, "--format", "safetensors", "--out", other,
                *["--force"] * force), str(other), "checkpoint")  # fmt: skip
    assert digest(tmp_path) == before


def test_an_existing_output_is_replaced_only_with_force(run, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"precious")
    refused(cli(capsys, "export", run, "--format", "safetensors", "--out", out),
            str(out), "--force")  # fmt: skip
    assert out.read_bytes() == b"precious"
    code, printed, err = cli(capsys, "export", run, "--format", "safetensors", "--out", out,
                             "--force")  # fmt: skip
    assert code == 0, err
    assert st.read_export(out)["app"] == "textgen"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "run"]
    refused(cli(capsys, "export", run, "--format", "safetensors", "--out", tmp_path),
            str(tmp_path), "directory")  # fmt: skip


def test_an_existing_onnx_sidecar_is_replaced_only_with_force(run, tmp_path, capsys):
    pytest.importorskip("onnx", reason="needs the onnx extra")
    out = tmp_path / "m.onnx"
    sidecar = tmp_path / "m.onnx.json"
    sidecar.write_text("mine\n")
    refused(cli(capsys, "export", run, "--format", "onnx", "--out", out),
            str(sidecar), "--force")  # fmt: skip
    assert not out.exists() and sidecar.read_text() == "mine\n"
    assert cli(capsys, "export", run, "--format", "onnx", "--out", out)[0] == 1
    assert cli(capsys, "export", run, "--format", "onnx", "--out", out, "--force")[0] == 0
    first = digest(tmp_path)
    assert sidecar.read_text().startswith("{")
    refused(cli(capsys, "export", run, "--format", "onnx", "--out", out), str(out), "--force")
    assert digest(tmp_path) == first


def test_a_failed_forced_replacement_leaves_the_old_file_whole(run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"old version")

    def kill(operation, path):
        if operation == "replace" and Path(path) == out:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "fault_hook", kill)
    refused(cli(capsys, "export", run, "--format", "safetensors", "--out", out, "--force"),
            "No space left", str(out))  # fmt: skip
    assert out.read_bytes() == b"old version"
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors", "run"]  # no temporary left
