"""The grid behind the text generator's budget rule (``rnnkit.textgen.sizing``): LSTM sizes x
time budgets on two corpora, each run ``rnnkit textgen train CORPUS --num-layers L
--hidden-size H --minutes M`` with the defaults otherwise, one process after the other.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/textgen_budget.py
    .venv/bin/python bench/textgen_budget.py --merge A.json B.json ...   # table from runs made
    .venv/bin/python bench/textgen_budget.py --check                     # the rule against it

The corpora: tiny-shakespeare (1.1 M characters) and IMDB's 25,000 training reviews, one a
line (``gzip -dc ../shared/data/imdb/train.tsv.gz | tail -n +2 | cut -f4``: 33 M
characters, written to ``--imdb-text``). The figure is each run's best validation loss on
its corpus's last 10 % (the split no run trains on; the best checkpoint is chosen on it).
Writes ``bench/results/textgen_budget.json`` (every row, with its corpus's length) and
prints the grid with the rule's choice marked; ``--check`` exits 1 where the rule's choice
is more than ``sizing.TOLERANCE`` above the best of its (corpus, budget) or was not
measured (``tests/test_textgen_sizing.py`` runs the same check on the committed JSON).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from cells_quality import CORPUS, run_cell  # noqa: E402

from rnnkit.textgen.sizing import TOLERANCE, size_for_budget  # noqa: E402

JSON = ROOT / "bench" / "results" / "textgen_budget.json"
IMDB = ROOT / "runs" / "imdb_train.txt"
#: (corpus, budget in minutes, sizes as (num_layers, hidden_size)), in the order they run
GRID = (
    ("tinyshakespeare", 3, ((1, 256), (2, 256), (1, 512), (2, 512))),
    ("tinyshakespeare", 15, ((1, 512), (2, 512), (2, 768))),
    ("imdb", 3, ((1, 256), (1, 512), (2, 512))),
    ("imdb", 15, ((2, 512), (1, 512))),
)


def corpus_path(name: str, imdb_text: Path) -> Path:
    if name == "tinyshakespeare":
        return CORPUS
    if not imdb_text.is_file():
        source = ROOT.parent / "shared" / "data" / "imdb" / "train.tsv.gz"
        imdb_text.parent.mkdir(parents=True, exist_ok=True)
        with open(imdb_text, "w") as out:
            subprocess.run(f"gzip -dc '{source}' | tail -n +2 | cut -f4", shell=True, check=True,
                           stdout=out)  # fmt: skip
    return imdb_text


def corpus_name(path: str) -> str:
    return "tinyshakespeare" if "tinyshakespeare" in str(path) else "imdb"


def characters(path: Path) -> int:
    return len(path.read_text(encoding="utf-8"))


def check(rows: list[dict]) -> list[str]:
    """What the rule gets wrong on ``rows``: for each (corpus, budget), its choice unmeasured
    or more than TOLERANCE above the best loss measured there."""
    problems = []
    for corpus, minutes in sorted({(r["corpus_name"], r["minutes"]) for r in rows}):
        here = [r for r in rows if (r["corpus_name"], r["minutes"]) == (corpus, minutes)]
        best = min(r["best_val_loss"] for r in here)
        layers, hidden = size_for_budget(minutes)
        chosen = [r for r in here if (r["layers"], r["hidden"]) == (layers, hidden)]
        if not chosen:
            problems.append(f"{corpus}, {minutes:g} min: {layers}x{hidden} was not measured")
        elif chosen[0]["best_val_loss"] > best + TOLERANCE:
            problems.append(f"{corpus}, {minutes:g} min: {layers}x{hidden} reached "
                            f"{chosen[0]['best_val_loss']:.3f}, the best {best:.3f}")  # fmt: skip
    return problems


def table(rows: list[dict]) -> str:
    lines = ["| corpus | budget | layers x hidden | steps | best validation loss | rule |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        chosen = size_for_budget(r["minutes"]) == (r["layers"], r["hidden"])
        lines.append(f"| {r['corpus_name']} | {r['minutes']:g} min | {r['layers']} x "
                     f"{r['hidden']} | {r['steps']:,} | {r['best_val_loss']:.3f} | "
                     f"{'chosen' if chosen else ''} |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                   help="rows of bench/cells_quality.py runs instead of running the grid")
    p.add_argument("--check", action="store_true", help="only check the rule against --json")
    p.add_argument("--imdb-text", type=Path, default=IMDB)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-budget")
    p.add_argument("--json", type=Path, default=JSON)
    args = p.parse_args(argv)
    if args.check:
        rows = json.loads(args.json.read_text())["rows"]
    elif args.merge:
        rows, meta = [], {}
        for path in args.merge:
            data = json.loads(path.read_text())
            meta = {k: v for k, v in data.items() if k != "rows"}
            for r in data["rows"]:
                r["corpus_name"] = corpus_name(data["corpus"])
                r["chars"] = characters(Path(data["corpus"]))
                rows.append(r)
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    else:
        rows = []
        for name, minutes, sizes in GRID:
            path = corpus_path(name, args.imdb_text)
            for layers, hidden in sizes:
                out = args.out / f"{name}-{layers}x{hidden}-{minutes}m"
                row = run_cell("lstm", layers, hidden, minutes, out, path)
                rows.append({**row, "corpus_name": name, "chars": characters(path)})
                args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    print(table(rows))
    problems = check(rows)
    for problem in problems:
        print("rule:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
