"""Every numeric option of every command is range-checked before use: a value that parses
but is out of range (1e308, inf, nan, negative, 0 where it means nothing) ends in one line
on stderr naming the option and exit status 1, never a traceback or a run."""

from __future__ import annotations

import pytest

from rnnkit.cli import main
from rnnkit.textgen import CharLM

#: the shared trainer options (rnnkit.training.TrainerOptions): both applications have them
SHARED = ["--epochs", "--steps", "--minutes", "--lr", "--weight-decay", "--lr-decay",
          "--lr-decay-every", "--lr-decay-after", "--lr-min", "--grad-clip", "--ema-decay",
          "--eval-every", "--evals-per-epoch", "--log-every", "--patience", "--val-fraction",
          "--seed"]  # fmt: skip
TEXTGEN = [*SHARED, "--seq-length", "--batch-size", "--sample-length", "--embedding-dim",
           "--hidden-size", "--num-layers", "--dropout"]  # fmt: skip
SENTIMENT = [*SHARED, "--batch-size", "--distill-weight", "--embedding-dim", "--hidden-size",
             "--num-layers", "--dropout", "--embedding-dropout", "--word-dropout",
             "--embedding-init", "--min-freq", "--max-vocab", "--max-length",
             "--ngram-min-words", "--max-ngrams"]  # fmt: skip
FLOATS = {"--epochs", "--minutes", "--lr", "--lr-decay", "--lr-min", "--grad-clip",
          "--ema-decay", "--val-fraction", "--dropout", "--weight-decay", "--distill-weight",
          "--embedding-dropout", "--word-dropout",
          "--embedding-init"}  # fmt: skip
HUGE_FLOAT, HUGE_INT = "1e308", "99999999999999999999999"


def _train_cases():
    for app, options in (("textgen", TEXTGEN), ("sentiment", SENTIMENT)):
        for option in options:
            values = ["-1", HUGE_INT]
            if option in FLOATS:
                values += [HUGE_FLOAT, "inf", "nan"]
            for value in values:
                yield app, option, value


@pytest.mark.parametrize("app, option, value", list(_train_cases()))
def test_training_options_out_of_range_are_one_line(app, option, value, tmp_path, capsys):
    argv = [app, "train", "--out", str(tmp_path / "run"), "--quiet", option, value]
    if app == "sentiment":
        data = tmp_path / "toy.tsv"
        data.write_text("text\tlabel\ngood film\tpos\nbad film\tneg\n")
        argv[2:2] = ["--train", str(data)]
    else:
        corpus = tmp_path / "corpus.txt"
        corpus.write_text("to be or not to be, that is the question\n" * 8)
        argv[2:2] = [str(corpus)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    name = option[2:].replace("-", "_")
    assert err.startswith(f"rnnkit: error: {name} must be"), err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ranges") / "run"
    lm = CharLM(hidden_size=8, num_layers=1, embedding_dim=4, dropout=0.0)
    lm.fit("to be or not to be, that is the question\n" * 8, out=out, steps=2, progress=False,
           seq_length=8, batch_size=2, sample_length=0)  # fmt: skip
    return out


@pytest.mark.parametrize(
    "argv, name",
    [
        (["textgen", "sample", "RUN", "--length", HUGE_INT], "length"),
        (["textgen", "sample", "RUN", "--length", "-1"], "length"),
        (["textgen", "sample", "RUN", "--temperature", HUGE_FLOAT], "temperature"),
        (["textgen", "sample", "RUN", "--temperature", "inf"], "temperature"),
        (["textgen", "sample", "RUN", "--temperature", "nan"], "temperature"),
        (["textgen", "sample", "RUN", "--top-k", HUGE_INT], "top-k"),
        (["textgen", "sample", "RUN", "--top-p", "nan"], "top-p"),
        (["textgen", "sample", "RUN", "--seed", "-1"], "seed"),
        (["textgen", "sample", "RUN", "--seed", HUGE_INT], "seed"),
        (["demo", "--minutes", HUGE_FLOAT], "minutes"),
        (["demo", "--minutes", "inf"], "minutes"),
        (["demo", "--length", HUGE_INT], "length"),
        (["demo", "--seed", HUGE_INT], "seed"),
        (["analyze", "gradients", "--input-scale", HUGE_FLOAT], "input_scale"),
        (["analyze", "gradients", "--input-scale", "inf"], "input_scale"),
        (["analyze", "gradients", "--radii", "0.5", "inf"], "radii"),
        (["analyze", "gradients", "--forget-biases", "nan"], "forget_biases"),
        (["analyze", "gradients", "--max-norm", "inf"], "max_norm"),
        (["analyze", "gradients", "--steps", HUGE_INT], "steps"),
        (["analyze", "gradients", "--seed", "-1"], "seed"),
    ],
)
def test_other_numeric_options_out_of_range_are_one_line(argv, name, tiny_run, tmp_path, capsys):
    argv = [str(tiny_run) if a == "RUN" else a for a in argv]
    if argv[0] == "analyze":
        argv += ["--out", str(tmp_path / "analysis")]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"rnnkit: error: {name} must be"), err
    assert out == ""


def test_the_api_checks_the_same_ranges():
    for stop in ({"epochs": 1e308}, {"minutes": float("inf")}, {"steps": 10**20}):
        with pytest.raises(ValueError, match=f"{next(iter(stop))} must be"):
            CharLM().fit("some text", **stop)
