"""The classifier against the linear baseline it must beat, on the same splits (IMDB).

Three rows, each in its own process, one after the other, on the same split of IMDB's
25,000 training reviews (2,500 held out for model selection by ``--val-fraction 0.1
--seed 0``, the split ``rnnkit sentiment train`` makes) and evaluated once on the
25,000 test reviews:

* ``nblr``: NB-weighted logistic regression on binary unigrams and bigrams (Wang &
  Manning 2012's NB-LR; scikit-learn, a benchmark-only dependency). The tokens are
  rnnkit's tokenizer's; the n-grams are those in at least 2 training reviews; the
  ratios use alpha = 1; ``C`` is chosen on the held-out reviews from :data:`C_GRID`,
  then the test is read once.
* ``labels``: rnnkit from labels alone, the recipe of ``bench/sentiment_imdb.py``.
* ``wide``: rnnkit with the wide path (``--word-ngrams 1-2``) beside the recurrent one,
  :data:`WIDE`.
* ``lm``: no test figure; the language-model pretraining of the labels recipe's network on
  the training reviews (labels unused), :data:`PRETRAIN_MINUTES` minutes, written to
  ``runs/bench-vs-linear-lm/pretrained.npz`` for the next two rows.
* ``lm_labels``, ``lm_wide``: the ``labels`` and ``wide`` recipes started from that
  language model (``--init-from``); their training time is the pretraining's plus theirs.
* ``lm_wide3`` (not run by default): ``lm_wide`` with word uni-, bi- and trigrams
  (``--word-ngrams 1-3``; NB-LR with trigrams did 0.16 points better on the held-out reviews).
* ``sst2_nblr`` (not run by default): NB-LR on SST-2, on the split of
  ``bench/sentiment_sst2.py`` (checkpoints chosen on held-out training sentences), GLUE dev
  read once.

Usage::

    .venv/bin/pip install scikit-learn        # for the nblr row only
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/sentiment_vs_linear.py
    .venv/bin/python bench/sentiment_vs_linear.py --only nblr      # one row; the others kept

Rows are merged into ``bench/results/sentiment_vs_linear.json`` (a row run again replaces
its old figures). The data are read from ``../shared/data/imdb`` and never copied.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from sentiment_run import ROOT, rel, train_and_evaluate

DATA = ROOT.parent / "shared" / "data" / "imdb"
RESULTS = ROOT / "bench" / "results" / "sentiment_vs_linear.json"
TARGET = 0.92  # issue 27: IMDB test accuracy within 60 minutes of training
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
SPLIT = ["--val-fraction", "0.1", "--seed", "0"]
LABELS = ["--cell", "gru", "--hidden-size", "64", "--lr", "2e-3", "--lr-decay", "0.7",
          "--word-dropout", "0.1"]  # fmt: skip
WIDE = [*LABELS, "--word-ngrams", "1-2"]
PRETRAIN_MINUTES = 20.0
LM = ROOT / "runs" / "bench-vs-linear-lm"
FROM_LM = ["--init-from", rel(LM / "pretrained.npz"), "--lr", "2e-3", "--lr-decay", "0.7"]
ROWS = {"labels": (LABELS, 30.0), "wide": (WIDE, 30.0), "lm_labels": (FROM_LM, 30.0),
        "lm_wide": ([*FROM_LM, "--word-ngrams", "1-2"], 30.0),
        "lm_wide3": ([*FROM_LM, "--word-ngrams", "1-3"], 30.0)}  # train options, minutes


def imdb_nblr(train: Path, test: Path) -> dict:
    """The ``nblr`` row: IMDB's training reviews split as ``sentiment train`` splits them."""
    from rnnkit.sentiment.data import hold_out
    from rnnkit.text.readers import read_labeled

    start = time.monotonic()
    data = read_labeled(train)
    split = hold_out(list(data.texts), list(data.labels), 0.1, 0)
    return nblr(*split, read_labeled(test), start)


def sst2_nblr() -> dict:
    """The ``sst2_nblr`` row: SST-2 split as ``bench/sentiment_sst2.py`` splits it (held-out
    training sentences and their phrases; whole sentences x3), GLUE dev read once."""
    from sentiment_sst2 import DATA as SST2
    from sentiment_sst2 import SENTENCE_COPIES, sentence_holdout

    from rnnkit.text.readers import read_labeled

    start = time.monotonic()
    train, valid, _ = sentence_holdout(ROOT / "runs" / "bench-sst2-data",
                                       sentence_copies=SENTENCE_COPIES)  # fmt: skip
    a, b = read_labeled(train), read_labeled(valid)
    row = nblr(list(a.texts), list(a.labels), list(b.texts), list(b.labels),
               read_labeled(SST2 / "glue_dev.tsv"), start)  # fmt: skip
    return {**row, "split": "bench/sentiment_sst2.py --protocol sentences, GLUE dev as test"}


def nblr(texts, labels, valid_texts, valid_labels, test, start: float) -> dict:
    """NB-LR on binary uni+bigrams, ``C`` picked on the validation texts; ``test`` (texts
    and labels) read once."""
    try:
        import numpy as np
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        sys.exit("the nblr rows need scikit-learn: .venv/bin/pip install scikit-learn")
    from rnnkit.sentiment.data import TextConfig

    tokenizer = TextConfig().tokenizer()
    vectorizer = CountVectorizer(tokenizer=tokenizer, lowercase=False, token_pattern=None,
                                 ngram_range=(1, 2), min_df=2, binary=True)  # fmt: skip
    X = vectorizer.fit_transform(texts)
    names = sorted(set(labels))
    y = np.array([names.index(label) for label in labels])
    p = 1.0 + np.asarray(X[y == 1].sum(axis=0)).ravel()
    q = 1.0 + np.asarray(X[y == 0].sum(axis=0)).ravel()
    r = np.log(p / p.sum()) - np.log(q / q.sum())
    Xr = X.multiply(r).tocsr()
    Xv = vectorizer.transform(valid_texts).multiply(r).tocsr()
    yv = np.array([names.index(label) for label in valid_labels])
    scores = {}
    for C in C_GRID:
        model = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=1000).fit(Xr, y)
        scores[C] = float((model.predict(Xv) == yv).mean())
    best = max(C_GRID, key=lambda c: (scores[c], -c))
    model = LogisticRegression(C=best, solver="liblinear", dual=True, max_iter=1000).fit(Xr, y)
    yt = np.array([names.index(label) for label in test.labels])
    accuracy = float((model.predict(vectorizer.transform(test.texts).multiply(r)) == yt)
                     .mean())  # fmt: skip
    import sklearn

    return {
        "test_accuracy": accuracy,
        "val_accuracy_by_C": {str(c): round(s, 4) for c, s in scores.items()},
        "C": best,
        "features": int(X.shape[1]),
        "wall_s": round(time.monotonic() - start, 1),
        "library": f"scikit-learn {sklearn.__version__}",
    }


def pretrain(train: Path) -> dict:
    """The language model of the ``lm_*`` rows: the labels recipe's network pretrained for
    :data:`PRETRAIN_MINUTES` minutes (then one fine-tuning step, which nothing uses)."""
    from sentiment_run import rnnkit

    start = time.monotonic()
    rnnkit("sentiment", "train", "--train", rel(train), *SPLIT, *LABELS, "--pretrain",
           "--pretrain-minutes", f"{PRETRAIN_MINUTES:g}", "--pretrain-steps", "1000000",
           "--steps", "1", "--out", rel(LM), "--force")  # fmt: skip
    curve = [json.loads(x) for x in (LM / "pretrain-metrics.jsonl").read_text().splitlines()]
    return {
        "pretrain_wall_s": round(time.monotonic() - start, 1),
        "curve": [(r["step"], round(r.get("elapsed", 0), 1), round(r["val_lm_loss"], 4))
                  for r in curve if "val_lm_loss" in r],  # fmt: skip
        "test_accuracy": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="nblr,labels,wide,lm,lm_labels,lm_wide",
                        help="comma-separated rows to run (nblr, labels, wide, lm, lm_labels, "
                        "lm_wide; lm_wide3: lm_wide with trigrams; sst2_nblr: NB-LR on "
                        "SST-2)")  # fmt: skip
    parser.add_argument("--minutes", type=float, help="training budget of the rnnkit rows "
                        "(default: 30 each)")  # fmt: skip
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(only) - {"nblr", "sst2_nblr", "lm", *ROWS})
    if unknown:
        parser.error(f"--only: unknown rows {unknown}")
    train, test = DATA / "train.tsv.gz", DATA / "test.tsv.gz"
    if not train.is_file():
        print(f"no IMDB data at {DATA}", file=sys.stderr)
        return 1
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"rows": {}}
    for name in only:
        when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        load_before = os.getloadavg()
        if name == "nblr":
            row = imdb_nblr(train, test)
        elif name == "sst2_nblr":
            row = sst2_nblr()
        elif name == "lm":
            row = pretrain(train)
        else:
            options, minutes = ROWS[name]
            minutes = args.minutes or minutes
            out = ROOT / "runs" / f"bench-vs-linear-{name}"
            train_args = ["sentiment", "train", "--train", rel(train), *SPLIT, "--minutes",
                          f"{minutes:g}", "--out", rel(out), "--force", *options]  # fmt: skip
            report, run = train_and_evaluate(train_args, out, test)
            row = {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_f1"],
                   "minutes": minutes, **run}  # fmt: skip
        row.update(date=when, load_before=load_before, load_after=os.getloadavg(),
                   machine=platform.platform(), cpus=os.cpu_count())  # fmt: skip
        results["rows"][name] = row
        results["target"] = TARGET
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        if row["test_accuracy"] is not None:
            print(f"{name}: test accuracy {row['test_accuracy']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
