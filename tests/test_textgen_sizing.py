"""A model sized for the budget (issue: the text generator's second round, item 6): without
a size, a new run's ``(num_layers, hidden_size)`` comes from its time budget by
:mod:`rnnkit.textgen.sizing`; a given size, a resume and ``--init-from`` keep theirs; the
real table is within the tolerance of the measured grid's best at every measured budget."""

from __future__ import annotations

import pytest

from rnnkit.cli import main
from rnnkit.textgen import CharLM, sizing

INF = float("inf")
#: a made-up table: tiny sizes (the tests check the wiring; the real table's check is below)
TABLE = ((1.0, (1, 8)), (2.0, (1, 12)), (INF, (2, 6)))
TEXT = "the cat sat on the mat. " * 20  # 480 characters
FIT = {"seq_length": 8, "batch_size": 2, "eval_every": 2, "sample_length": 0,
       "progress": False, "embedding_dim": 4}  # fmt: skip


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(sizing, "BUDGET_SIZES", TABLE)


def fit(lm: CharLM, text: str = TEXT, **kw) -> CharLM:
    settings = {k: v for k, v in FIT.items() if k != "embedding_dim"}
    lm.fit(text, steps=2, **{**settings, **kw})
    return lm


def test_the_rule_reads_the_table_by_budget(table):
    assert sizing.size_for_budget(0.5) == (1, 8)
    assert sizing.size_for_budget(1.0) == (1, 8)  # "up to" includes the bound
    assert sizing.size_for_budget(1.01) == (1, 12)
    assert sizing.size_for_budget(600) == (2, 6)


def test_the_real_table_is_within_tolerance_of_the_measured_grid():
    """bench/results/textgen_budget.json: for every (corpus, budget) measured, the rule's size
    was measured there and is within ``TOLERANCE`` of the best (bench/textgen_budget.py)."""
    import json
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        import textgen_budget
    finally:
        sys.path.remove(str(bench))
    rows = json.loads((bench / "results" / "textgen_budget.json").read_text())["rows"]
    assert {(r["corpus_name"], r["minutes"]) for r in rows} >= {
        ("tinyshakespeare", 3), ("tinyshakespeare", 15), ("imdb", 3)}
    assert textgen_budget.check(rows) == []
    worse = [dict(r, best_val_loss=r["best_val_loss"] + 1.0) if (r["layers"], r["hidden"]) ==
             sizing.size_for_budget(r["minutes"]) else r for r in rows]  # fmt: skip
    groups = [(r["corpus_name"], r["minutes"]) for r in rows]
    compared = {g for g in groups if groups.count(g) > 1}  # a size beside the rule's
    assert len(textgen_budget.check(worse)) == len(compared) >= 3  # the check can fail


def test_a_new_run_without_a_size_takes_the_budgets(table):
    lm = fit(CharLM(embedding_dim=4), minutes=0.5)  # steps=2 stop it first: the budget is 0.5
    assert (lm.config.num_layers, lm.config.hidden_size) == (1, 8)
    assert lm.network.rnn.hidden_size == 8 and lm.network.rnn.num_layers == 1
    lm = fit(CharLM(embedding_dim=4), minutes=1.5)
    assert (lm.config.num_layers, lm.config.hidden_size) == (1, 12)
    lm = fit(CharLM(embedding_dim=4))  # stops by steps only: the default budget, 15 minutes
    assert (lm.config.num_layers, lm.config.hidden_size) == (2, 6)


def test_a_given_size_always_wins(table):
    lm = fit(CharLM(embedding_dim=4, hidden_size=5), minutes=0.5)
    assert (lm.config.num_layers, lm.config.hidden_size) == (2, 5)  # the other: its default
    lm = fit(CharLM(embedding_dim=4, num_layers=1), minutes=0.5)
    assert (lm.config.num_layers, lm.config.hidden_size) == (1, 512)


def test_a_resumed_and_a_fine_tuned_run_keep_their_size(table, tmp_path):
    fit(CharLM(embedding_dim=4), minutes=0.5, out=tmp_path / "run")  # (1, 8)
    resumed = CharLM()
    resumed.fit(TEXT, out=tmp_path / "run", resume=True, steps=4, minutes=600, progress=False)
    assert (resumed.config.num_layers, resumed.config.hidden_size) == (1, 8)
    tuned = CharLM()
    tuned.fit(TEXT, out=tmp_path / "tuned", init_from=tmp_path / "run", steps=1, minutes=600,
              **{k: v for k, v in FIT.items() if k != "embedding_dim"})  # fmt: skip
    assert (tuned.config.num_layers, tuned.config.hidden_size) == (1, 8)


def test_the_command_line_says_what_the_rule_chose(table, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    code = main(["textgen", "train", str(corpus), "--out", str(tmp_path / "run"), "--steps", "2",
                 "--minutes", "0.5", "--seq-length", "8", "--batch-size", "2",
                 "--embedding-dim", "4", "--sample-length", "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert "no size given: 1 layer of 8 (lstm), the size for a 0.5-minute budget" in err
    assert "on 480 characters" in err
    code = main(["textgen", "train", str(corpus), "--out", str(tmp_path / "given"), "--steps",
                 "2", "--seq-length", "8", "--batch-size", "2", "--embedding-dim", "4",
                 "--hidden-size", "6", "--num-layers", "1", "--sample-length", "0"])  # fmt: skip
    assert code == 0 and "no size given" not in capsys.readouterr().err
    assert CharLM.load(tmp_path / "given").config.hidden_size == 6
