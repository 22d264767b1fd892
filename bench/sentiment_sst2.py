"""Sentiment quality benchmark 1: SST-2 (GLUE), no pretrained vectors. Target: dev accuracy >= 85%.

Usage::

    .venv/bin/python bench/sentiment_sst2.py                   # held-out train sentences select
    .venv/bin/python bench/sentiment_sst2.py --seeds 0 1 2 3   # four runs, the mean is the figure
    .venv/bin/python bench/sentiment_sst2.py --protocol dev    # dev selects (optimistic)
    .venv/bin/python bench/sentiment_sst2.py -- --cell gru --epochs 3  # extra train options
    # one model distilled from the eight of `--seeds 0 1 2 3 4 5 6 7 --out runs/sst2-teachers`
    .venv/bin/python bench/sentiment_sst2.py --seeds 10 --teachers runs/sst2-teachers/seed*

What it runs (the exact commands are printed and recorded)::

    rnnkit sentiment train --train ../shared/data/sst2/glue_train.tsv \\
        --valid ../shared/data/sst2/glue_dev.tsv --out runs/bench-sst2 --force [SST-2 recipe]
    rnnkit sentiment eval runs/bench-sst2 --data ../shared/data/sst2/glue_dev.tsv --json

``--protocol sentences`` (default) picks the best checkpoint on 10% of the
*sentences* of the SST training split (``stsa.binary.train``), held out
together with every training phrase that occurs inside them, so the dev
figure is untouched by model selection and the selection set is as unlike the
training data as dev is; the whole training sentences left in the training
file are repeated (``--sentence-copies``, 3), since dev is made of whole
sentences and the file is mostly short phrases. ``--protocol dev`` picks it on the 872 dev sentences
themselves, like the "best epoch" figures usually quoted for SST-2 (an
optimistic figure). ``--protocol phrases`` picks it on a random 5% of the
training phrases: those overlap the rest (a phrase and its sub-phrases are all
in the file), so the held-out accuracy says little about dev. Writes
``bench/results/sentiment_sst2_<protocol>.json`` and the learning curves
``docs/figures/sentiment_sst2_<protocol>.png``. The data are read from
``../shared/data`` and never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

from sentiment_run import ROOT, rel, rnnkit, save, train_and_evaluate

DATA = ROOT.parent / "shared" / "data" / "sst2"
TARGET = 0.85
# The recipe (see docs/sentiment.md); everything else is the command's default.
RECIPE = ["--lr-decay", "0.8", "--embedding-dim", "300", "--hidden-size", "256",
          "--char-ngrams", "3-5", "--ema-decay", "0.998"]  # fmt: skip
SENTENCE_COPIES = 3  # the sentences protocol repeats whole training sentences this often
DISTILL_WEIGHT = 0.5  # with --teachers: the teachers' share of each training target


def sentence_holdout(
    dest: Path, fraction: float = 0.1, seed: int = 0, sentence_copies: int = 1
) -> tuple[Path, Path, dict]:
    """Hold out whole training sentences and every phrase inside them (see the docstring).

    Writes ``dest/train.tsv`` (the GLUE phrases left) and ``dest/valid.tsv``
    (the held-out sentences, GLUE format). Phrases are matched as token
    sequences: a GLUE phrase is dropped when it is a contiguous run of tokens
    of a held-out sentence (``stsa`` uses PTB brackets ``-lrb-``, GLUE ``(``).
    """
    rows = (DATA / "glue_train.tsv").read_text(encoding="utf-8").split("\n")[1:]
    glue = [(text.strip(), label) for text, label in (r.rsplit("\t", 1) for r in rows if r)]
    sentences = []
    for line in (DATA / "stsa.binary.train").read_text(encoding="utf-8").split("\n"):
        if line:
            label, text = line.split(" ", 1)
            text = text.replace("-lrb-", "(").replace("-rrb-", ")").replace("\\/", "/")
            sentences.append((text.strip(), label))
    rng = random.Random(seed)
    held = rng.sample(sentences, round(len(sentences) * fraction))
    inside = set()  # every contiguous token run of a held-out sentence
    for text, _ in held:
        tokens = text.split()
        for i in range(len(tokens)):
            for j in range(i + 1, len(tokens) + 1):
                inside.add(" ".join(tokens[i:j]))
    kept = [(t, y) for t, y in glue if t.replace("\\/", "/") not in inside]
    info = {"held_out_sentences": len(held), "train_phrases_kept": len(kept),
            "train_phrases_dropped": len(glue) - len(kept)}  # fmt: skip
    if sentence_copies > 1:  # whole training sentences repeated: dev is whole sentences
        whole = {text for text, _ in sentences}
        extra = [(t, y) for t, y in kept if t.replace("\\/", "/") in whole] * (sentence_copies - 1)
        kept += extra
        info["sentence_copies_added"] = len(extra)
    dest.mkdir(parents=True, exist_ok=True)
    suffix = f"_x{sentence_copies}" if sentence_copies > 1 else ""
    train, valid = dest / f"train{suffix}.tsv", dest / "valid.tsv"
    for path, data in ((train, kept), (valid, held)):  # atomic: parallel runs may share dest
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(
            "sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in data), encoding="utf-8"
        )
        os.replace(part, path)
    return train, valid, info


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocol", choices=("sentences", "dev", "phrases"), default="sentences")
    parser.add_argument(
        "--name", help="results file name: bench/results/NAME.json, docs/figures/NAME.png"
    )
    parser.add_argument(
        "--sentence-copies",
        type=int,
        default=SENTENCE_COPIES,
        help="sentences protocol: whole training sentences appear this many times "
             f"({SENTENCE_COPIES})",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0],
        help="one run per seed, one after the other (0)"
    )
    parser.add_argument("--out", default=None, help="run directory (runs/bench-sst2-<protocol>)")
    parser.add_argument(
        "--teachers",
        nargs="+",
        default=[],
        metavar="RUN_DIR",
        help=f"distil these trained runs into each new model (--distill-weight {DISTILL_WEIGHT})",
    )
    parser.add_argument(
        "extra", nargs="*", help="extra options for 'rnnkit sentiment train' (after --)"
    )
    args = parser.parse_args()
    train, dev = DATA / "glue_train.tsv", DATA / "glue_dev.tsv"
    if not train.is_file():
        print(f"no SST-2 data at {DATA}", file=sys.stderr)
        return 1
    out = Path(args.out or ROOT / "runs" / f"bench-sst2-{args.protocol}")
    split = {}
    if args.protocol == "sentences":
        train, held, split = sentence_holdout(
            ROOT / "runs" / "bench-sst2-data", sentence_copies=args.sentence_copies
        )
        valid = ["--valid", rel(held)]
    elif args.protocol == "dev":
        valid = ["--valid", rel(dev)]
    else:
        valid = ["--val-fraction", "0.05"]
    distil = [arg for t in args.teachers for arg in ("--teacher", t)]
    if distil:
        distil += ["--distill-weight", str(DISTILL_WEIGHT)]
    runs = []
    for seed in args.seeds:
        seed_out = out / f"seed{seed}" if len(args.seeds) > 1 else out
        train_args = ["sentiment", "train", "--train", rel(train), *valid, "--out", rel(seed_out),
                      "--force", *RECIPE, "--seed", str(seed), *distil, *args.extra]  # fmt: skip
        report, run = train_and_evaluate(train_args, seed_out, dev)
        runs.append({"seed": seed, "dev_accuracy": report["accuracy"],
                     "dev_macro_f1": report["macro_f1"],
                     "confusion_matrix": report["confusion_matrix"], **run})  # fmt: skip
        print(f"seed {seed}: SST-2 dev accuracy {report['accuracy']:.4f}, training "
              f"{run['train_wall_s'] / 60:.1f} min", flush=True)  # fmt: skip
    accuracies = [r["dev_accuracy"] for r in runs]
    mean = sum(accuracies) / len(accuracies)
    ensemble = {}
    if len(runs) > 1:  # every seed's model together: the mean of their probabilities
        dirs = [rel(out / f"seed{seed}") for seed in args.seeds]
        others = [arg for d in dirs[1:] for arg in ("--ensemble-with", d)]
        cmd = ["sentiment", "eval", dirs[0], "--data", rel(dev), "--json", *others]
        report = json.loads(rnnkit(*cmd, capture=True).stdout)
        ensemble = {"ensemble_command": "rnnkit " + " ".join(cmd),
                    "ensemble_dev_accuracy": report["accuracy"]}  # fmt: skip
        print(f"ensemble of {len(runs)}: SST-2 dev accuracy {report['accuracy']:.4f}", flush=True)
    result = {
        "benchmark": "SST-2 (GLUE) dev accuracy" + ("" if "--vectors" in args.extra
                                                     else ", no pretrained vectors"),
        "protocol": args.protocol,
        **({"extra_options": args.extra} if args.extra else {}),
        **({"split": split} if split else {}),
        "recipe": RECIPE,
        **({"teachers": args.teachers, "distill_weight": DISTILL_WEIGHT} if distil else {}),
        "seeds": args.seeds,
        "dev_accuracies": accuracies,
        "dev_accuracy_mean": mean,
        "target": TARGET,
        "met": mean >= TARGET,  # the mean over the seeds, not the luckiest one
        **ensemble,
        "runs": runs,
    }
    first = out / f"seed{args.seeds[0]}" if len(args.seeds) > 1 else out
    dest = save(result, args.name or f"sentiment_sst2_{args.protocol}", first)
    print(f"SST-2 dev accuracy {mean:.4f} (mean of {len(runs)} seed(s): "
          f"{', '.join(f'{a:.4f}' for a in accuracies)}; target {TARGET:.2f}) "
          f"-> {dest.relative_to(ROOT)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
