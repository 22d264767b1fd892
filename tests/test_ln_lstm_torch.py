"""The layer-normalised LSTM in PyTorch (:class:`rnnkit.training.torch_cells.LayerNormLSTM`):
the torch module the cell names computes rnnkit's layer (float64, 1e-6, outputs and every
gradient, the normalisations' gains and shifts included), the weights move both ways through
the bridge, and ``--engine torch`` trains ln_lstm runs with the NumPy engine's losses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install 'rnnkit[torch]'")

from interop_models import CORPUS, scramble, sentiment, textgen  # noqa: E402
from rnnkit.cli import main  # noqa: E402
from rnnkit.interop.torch import from_torch, to_torch  # noqa: E402
from rnnkit.nn.cells import CELLS  # noqa: E402
from rnnkit.nn.recurrent import build_layer  # noqa: E402
from rnnkit.sentiment import SentimentClassifier  # noqa: E402
from rnnkit.training.distributed import torch_layer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NAME = "ln_lstm"
TOL = 1e-6
ENGINE_TOL = 1e-5  # float32: the two engines sum in other orders


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "packed"])
def test_the_torch_module_computes_rnnkits_layer(bidirectional, with_lengths, bias):
    cls = CELLS[NAME]
    kw = dict(num_layers=2, bidirectional=bidirectional, batch_first=bidirectional, bias=bias)
    layer = build_layer(cls, 3, 5, dtype=np.float64, **kw)
    scramble(layer, 7)  # distinct non-zero biases, gains and shifts
    module = torch_layer(cls, 3, 5, **kw).double()
    assert type(module).__module__ == "rnnkit.training.torch_cells"
    assert set(module.state_dict()) == set(layer.state_dict())
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(1)
    T, B, D = 6, 4, 2 if bidirectional else 1
    x = rng.standard_normal((B, T, 3) if bidirectional else (T, B, 3))
    h0, c0 = (rng.standard_normal((2 * D, B, 5)) for _ in range(2))
    lengths = np.array([6, 2, 5, 1]) if with_lengths else None
    out, final = layer(x, (h0, c0), lengths=lengths)
    dout = rng.standard_normal(out.shape)
    dfinal = tuple(rng.standard_normal(f.shape) for f in final)
    layer.zero_grad()
    dx, (dh0, dc0) = layer.backward(dout, dfinal)

    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if with_lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            tx, torch.from_numpy(lengths), batch_first=layer.batch_first, enforce_sorted=False)
        tout, tfinal = module(packed, (th0, tc0))
        tout, _ = torch.nn.utils.rnn.pad_packed_sequence(
            tout, batch_first=layer.batch_first, total_length=T)
    else:
        tout, tfinal = module(tx, (th0, tc0))
    np.testing.assert_allclose(tout.detach().numpy(), out, atol=TOL, rtol=0)
    for t, f in zip(tfinal, final, strict=True):
        np.testing.assert_allclose(t.detach().numpy(), f, atol=TOL, rtol=0)
    loss = (tout * torch.from_numpy(dout)).sum()
    loss = loss + sum((t * torch.from_numpy(d)).sum() for t, d in zip(tfinal, dfinal, strict=True))
    loss.backward()
    np.testing.assert_allclose(tx.grad.numpy(), dx, atol=TOL, rtol=0)
    np.testing.assert_allclose(th0.grad.numpy(), dh0, atol=TOL, rtol=0)
    np.testing.assert_allclose(tc0.grad.numpy(), dc0, atol=TOL, rtol=0)
    grads = dict(layer.named_parameters())
    for key, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[key].grad, atol=TOL, rtol=0, err_msg=key)
    assert {"weight_ln_c_l1", "weight_ln_hh_l0"} <= set(grads)


def test_the_torch_module_starts_as_rnnkits_layer():
    """Gains start at 1 and the cell state's shift at 0 on both sides; weights are drawn."""
    module = torch_layer(CELLS[NAME], 3, 4, num_layers=2, bidirectional=True)
    layer = build_layer(CELLS[NAME], 3, 4, num_layers=2, bidirectional=True)
    params = dict(module.named_parameters())
    for key, value in layer.state_dict().items():
        assert tuple(params[key].shape) == value.shape, key
        if "_ln_" in key:
            np.testing.assert_array_equal(params[key].detach().numpy(), value, err_msg=key)
    assert params["weight_hh_l1_reverse"].abs().max() <= 0.5 and params["weight_hh_l1"].std() > 0


def test_the_bridge_moves_ln_lstm_networks_both_ways():
    name = NAME
    lm = textgen(cell=name, seed=2)
    module = to_torch(lm)
    ids = np.random.default_rng(0).integers(0, len(lm.vocab), size=(7, 2))
    lm.network.eval()
    logits, _ = lm.network(ids)
    with torch.no_grad():
        tlogits, _ = module(torch.from_numpy(ids))
    np.testing.assert_allclose(tlogits.numpy(), logits, atol=1e-5, rtol=0)
    back = from_torch(module)
    assert back.config.cell == name
    np.testing.assert_array_equal(back(ids)[0], logits)

    clf = sentiment(cell=name, pooling="last", num_layers=2, seed=3)
    module = to_torch(clf)
    ids = np.array([[2, 3, 4, 5], [6, 7, 0, 0]])
    lengths = np.array([4, 2])
    clf.network.eval()
    with torch.no_grad():
        tlogits = module(torch.from_numpy(ids), torch.from_numpy(lengths))
    np.testing.assert_allclose(tlogits.numpy(), clf.network(ids, lengths), atol=1e-5, rtol=0)
    assert from_torch(module).config.cell == name


def losses(run: Path, key: str = "train_loss") -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r[key] for r in records if key in r]


def test_textgen_engine_torch_trains_an_ln_lstm_with_the_numpy_engines_losses(tmp_path):
    name = NAME
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS * 2, encoding="utf-8")
    flags = ["--cell", name, "--hidden-size", "12", "--num-layers", "2", "--embedding-dim", "6",
             "--dropout", "0", "--seq-length", "16", "--batch-size", "4", "--eval-every", "3",
             "--log-every", "1", "--sample-length", "0", "--steps", "6", "--quiet"]  # fmt: skip
    for engine in ("numpy", "torch"):
        assert main(["textgen", "train", str(corpus), "--out", str(tmp_path / engine),
                     "--engine", engine, *flags]) == 0  # fmt: skip
    for key in ("train_loss", "val_loss"):
        reference = losses(tmp_path / "numpy", key)
        assert len(reference) == {"train_loss": 6, "val_loss": 2}[key]
        np.testing.assert_allclose(losses(tmp_path / "torch", key), reference, atol=ENGINE_TOL,
                                   rtol=0)  # fmt: skip
    # the torch engine's run resumes with the torch engine (carried state, weights)
    assert main(["textgen", "train", "--out", str(tmp_path / "torch"), "--resume", "--steps",
                 "8", "--engine", "torch", "--quiet"]) == 0  # fmt: skip
    assert len(losses(tmp_path / "torch")) == 8
    assert main(["textgen", "sample", str(tmp_path / "torch"), "--length", "10"]) == 0


def test_sentiment_engine_torch_trains_an_ln_lstm_with_the_numpy_engines_losses(tmp_path):
    name = NAME
    from interop_models import LABELS, TEXTS

    arch = dict(cell=name, embedding_dim=8, hidden_size=6, num_layers=2, pooling="max",
                dropout=0.0, bidirectional=True)  # fmt: skip
    for engine in ("numpy", "torch"):
        SentimentClassifier(**arch).fit(
            TEXTS, LABELS, out=tmp_path / engine, steps=6, progress=False, plot=False,
            engine=engine, batch_size=4, lr=0.02, evals_per_epoch=2, patience=None,
            val_fraction=0.2, log_every=1,
        )  # fmt: skip
    for key in ("train_loss", "val_loss"):
        reference = losses(tmp_path / "numpy", key)
        assert len(reference) > 0
        np.testing.assert_allclose(losses(tmp_path / "torch", key), reference, atol=ENGINE_TOL,
                                   rtol=0)  # fmt: skip


def test_importing_the_engine_does_not_import_the_torch_cells():
    code = ("import sys, rnnkit.nn, rnnkit.training, rnnkit.textgen, rnnkit.sentiment; "
            "print('torch' in sys.modules, 'rnnkit.training.torch_cells' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT / "src")}, timeout=60)  # fmt: skip
    assert done.stdout.split() == ["False", "False"], done.stderr
