"""Training throughput of the text generator: the NumPy engine, the torch engine in one
process, and the torch engine in two processes (torchrun, DistributedDataParallel on gloo).

Usage::

    .venv/bin/python bench/torch_engine.py                     # textgen defaults, minutes
    .venv/bin/python bench/torch_engine.py --rounds 5 --json bench/results/torch_engine.json
    .venv/bin/python bench/torch_engine.py --tiny              # does it run? (seconds, no figures)

Method: every configuration is a fresh ``rnnkit textgen train`` process (two
under ``torchrun --standalone`` for the 2-process one) with the same model
and global batch (the textgen defaults: 2-layer LSTM 512, embedding 64,
batches 64 x 100; dropout and samples as configured), a fixed number of
steps and no evaluation before the end. Throughput is the characters trained
between the end of step ``--warmup`` and the last step, divided by the
time the trainer measured for those steps, read from the run's
``metrics.jsonl`` (``log_every 1``: one ``chars_per_s`` a step): start-up,
warm-up and the final evaluation are excluded.
The configurations alternate, round after round (the order rotating), so a
slow minute of the machine hits all of them; the table gives each one's
median over the rounds, its min-max, and the median relative to the NumPy
engine. The cores are shared out: ``--threads`` BLAS/OpenMP threads for a
one-process configuration, ``--threads / 2`` for each of the two processes.
Run it on an idle machine: other work on the cores changes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this process only reads the runs' files
CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
CONFIGS = {"numpy": ("numpy", 1), "torch, 1 process": ("torch", 1),
           "torch, 2 processes": ("torch", 2)}  # fmt: skip
TINY = ["--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4", "--seq-length", "16"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def train_command(engine: str, processes: int, corpus: Path | None, out: Path, args) -> list[str]:
    train = ["-m", "rnnkit.cli", "textgen", "train", *([str(corpus)] if corpus else []),
             "--out", str(out), "--force", "--engine", engine, "--steps", str(args.steps),
             "--eval-every", str(args.steps + 1), "--log-every", "1", "--sample-length", "0",
             "--quiet", *args.train_options]  # fmt: skip
    if processes > 1:
        train = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                 str(processes), *train]  # fmt: skip
    return [sys.executable, *train]


def throughput(run: Path, warmup: int) -> float:
    """Characters per second between the end of step ``warmup`` and the last step."""
    from rnnkit.training import read_checkpoint_meta

    train = read_checkpoint_meta(run / "latest.npz")["tree"]["config"]["train"]
    chars_per_step = train["batch_size"] * train["seq_length"]  # what was trained, global
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if "train_loss" in r and r["step"] > warmup]  # one a step
    seconds = sum(chars_per_step / r["chars_per_s"] for r in timed)  # each step's own time
    return len(timed) * chars_per_step / seconds


def run_once(name: str, corpus: Path | None, args, work: Path) -> float:
    engine, processes = CONFIGS[name]
    out = work / name.replace(", ", "-").replace(" ", "-")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for variable in THREAD_VARIABLES:
        env[variable] = str(max(1, args.threads // processes))
    command = train_command(engine, processes, corpus, out, args)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return throughput(out, args.warmup)


def table(rates: dict[str, list[float]]) -> str:
    base = statistics.median(rates["numpy"])
    lines = ["| engine | chars/s, median | min - max | vs NumPy | rounds |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    for name, values in rates.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:,.0f} | {min(values):,.0f} - {max(values):,.0f} | "
                     f"{median / base:.2f}x | {len(values)} |")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="training text (tiny-shakespeare; the default corpus if absent)")
    parser.add_argument("--steps", type=int, default=20, help="steps per run (20)")
    parser.add_argument("--warmup", type=int, default=5, help="steps not timed (5)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration (3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="cores shared by the processes of a configuration (all)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run (900)")
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny model, 1 round of 4 steps: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("train_options", nargs="*",
                        help="extra options for 'rnnkit textgen train' (after --)")
    args = parser.parse_args()
    if args.tiny:
        args.steps, args.warmup, args.rounds = 4, 1, 1
        args.train_options = [*TINY, *args.train_options]
    if not 0 < args.warmup < args.steps:
        parser.error("--warmup must be between 0 and --steps")
    corpus = args.corpus if args.corpus.exists() else None
    machine = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
               "python": platform.python_version(),
               "load_average_before": os.getloadavg()}  # fmt: skip
    rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
    names = list(CONFIGS)
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):  # alternate, the order rotating each round
            for name in names[round_ % 3 :] + names[: round_ % 3]:
                rates[name].append(run_once(name, corpus, args, Path(tmp)))
                print(f"round {round_ + 1}: {name}: {rates[name][-1]:,.0f} chars/s",
                      file=sys.stderr, flush=True)  # fmt: skip
    machine["load_average_after"] = os.getloadavg()
    print(table(rates))
    options = " ".join(args.train_options) or "(the defaults)"
    print(f"\n{args.steps} steps a run, the first {args.warmup} not timed; corpus "
          f"{corpus or 'the default corpus'}; options {options}; {args.threads} threads; "
          f"load average {machine['load_average_before'][0]:.2f} before, "
          f"{machine['load_average_after'][0]:.2f} after")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"chars_per_s": rates, "machine": machine,
                                         "settings": {k: v for k, v in vars(args).items()
                                                      if k != "json"}}, indent=1, default=str)
                             + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
