"""Throughput of the text generator's training: NumPy engine, torch engine in 1 and 2 processes.

Each configuration runs in its own process (torchrun for 2 processes), the
configurations alternate round after round, and the median chars/s of each
(from its metrics.jsonl, evaluation excluded) is printed and written as JSON.
Measure on an idle machine: other work on the cores changes every figure.

    python bench/torch_engine.py --steps 200 --rounds 5 --out bench/results/torch_engine.json
    python bench/torch_engine.py --steps 3 --rounds 1            # smoke: it runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"numpy": ("numpy", 1), "torch-1": ("torch", 1), "torch-2": ("torch", 2)}


def run_once(name: str, corpus: Path, args, workdir: Path) -> float:
    engine, procs = CONFIGS[name]
    out = workdir / name
    train = ["-m", "rnnkit.cli", "textgen", "train", str(corpus), "--out", str(out), "--force",
             "--engine", engine, "--steps", str(args.steps), "--eval-every", str(args.steps + 1),
             "--log-every", "1", "--sample-length", "0", "--quiet", "--dropout", "0",
             "--hidden-size", str(args.hidden_size), "--batch-size", str(args.batch_size),
             "--seq-length", str(args.seq_length)]  # fmt: skip
    if procs > 1:
        train = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs), *train]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(args.threads // procs)}
    subprocess.run([sys.executable, *train], env=env, check=True, stdout=subprocess.DEVNULL)
    rates = [json.loads(line).get("chars_per_s") for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r for r in rates if r is not None][1:] or [r for r in rates if r is not None]  # skip warm-up
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-length", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="cores shared by all processes")
    parser.add_argument("--corpus", help="text file (default: a generated one)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = Path(args.corpus) if args.corpus else work / "corpus.txt"
        if not args.corpus:
            words = ("the quick brown fox jumps over the lazy dog and runs far away " * 4000).split()
            corpus.write_text("\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)))
        rates = {name: [] for name in CONFIGS}
        for _ in range(args.rounds):  # alternate, so that a slow minute hits every configuration
            for name in CONFIGS:
                rates[name].append(run_once(name, corpus, args, work))
    result = {name: {"median_chars_per_s": statistics.median(r), "runs": r} for name, r in rates.items()}
    result["settings"] = vars(args)
    for name in CONFIGS:
        print(f"{name:8s} {result[name]['median_chars_per_s']:>12,.0f} chars/s")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
