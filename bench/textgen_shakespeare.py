"""The text generator's quality benchmark: tiny-shakespeare, default settings, 15 minutes.

Usage::

    .venv/bin/python bench/textgen_shakespeare.py                 # rnnkit, then PyTorch
    .venv/bin/python bench/textgen_shakespeare.py --minutes 5 --skip-torch
    .venv/bin/python bench/textgen_shakespeare.py --skip-rnnkit   # only the reference
    .venv/bin/python bench/textgen_shakespeare.py -- --hidden-size 384   # extra train options

What it does:

1. ``rnnkit textgen train ../shared/data/tinyshakespeare/input.txt --minutes 15``
   with the default settings (run directory ``runs/bench-shakespeare``),
   exactly the command of the issue: no size given, so the budget rule
   (``rnnkit.textgen.sizing``) chooses the LSTM's layers and width; the
   validation split is the last 10%.
2. The architecture that run trained (read from its checkpoint; with
   ``--skip-rnnkit``, the one the rule gives) in plain PyTorch CPU (LSTM,
   embedding 64, dropout 0.2, Adam 2e-3, clip 5, batches 64 x 100 with the
   state carried, evaluation every 200 steps on the same validation split
   with the same streaming evaluation), for the same wall-clock budget
   (evaluation time included in both).
3. A 600-character sample from the rnnkit run's best checkpoint.

Writes ``bench/results/textgen_shakespeare.json`` (every figure, the machine,
its load average before and after; running one side keeps the other's
figures) and ``docs/figures/textgen_shakespeare.png``
(validation loss against wall-clock minutes for both). The corpus is read
from ``../shared/data``; it is never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
TARGET = 1.45  # nats/char, from the issue (the text generator's second round, item 8)


# -- rnnkit ------------------------------------------------------------------------
def run_rnnkit(corpus: Path, minutes: float, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "rnnkit.cli", "textgen", "train", str(corpus),
           "--minutes", f"{minutes:g}", "--out", str(out), "--force", *extra]  # fmt: skip
    print("$", " ".join(cmd[2:]), flush=True)
    start = time.monotonic()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.monotonic() - start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    summary = summarize(records, "chars_per_s")
    summary["command"] = "rnnkit " + " ".join(cmd[3:])
    summary["wall_s"] = round(wall, 1)
    sample = subprocess.run(
        [sys.executable, "-m", "rnnkit.cli", "textgen", "sample", str(out), "--length", "600",
         "--temperature", "0.8", "--seed", "1", "--prime", "ROMEO:"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    summary["sample"] = sample.stdout
    return summary


# -- the PyTorch reference -------------------------------------------------------------
def architecture(corpus: Path, minutes: float, run: Path | None) -> tuple[int, int]:
    """``(num_layers, hidden_size)``: the rnnkit run's, or what the budget rule gives."""
    from rnnkit.textgen import CharLM
    from rnnkit.textgen.sizing import size_for_budget

    if run is not None:
        config = CharLM.load(run).config
        return config.num_layers, config.hidden_size
    return size_for_budget(minutes)


def run_torch(
    corpus: Path, minutes: float, out: Path, eval_every: int = 200, log_every: int = 10,
    max_steps: int | None = None, size: tuple[int, int] = (2, 512),
) -> dict:  # fmt: skip
    import torch

    from rnnkit.text.corpus import CharVocab, StreamBatches, eval_streams, read_corpus, split_tail

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    text = read_corpus(corpus)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_tail(vocab.encode(text), 0.1)
    batches = StreamBatches(train_ids, 64, 100)
    V = len(vocab)
    layers, H = size

    class CharRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, 64)
            self.rnn = torch.nn.LSTM(64, H, num_layers=layers, dropout=0.2 if layers > 1 else 0.0)
            self.dropout = torch.nn.Dropout(0.2)
            self.decoder = torch.nn.Linear(H, V)

        def forward(self, x, state=None):
            h, state = self.rnn(self.embedding(x), state)
            return self.decoder(self.dropout(h)), state

    model = CharRNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    vx, vy = (torch.from_numpy(a.astype(np.int64)) for a in eval_streams(val_ids, 64))

    def evaluate() -> float:
        model.eval()
        total, state = 0.0, None
        with torch.no_grad():
            for s in range(0, vx.shape[0], 256):
                logits, state = model(vx[s : s + 256], state)
                total += torch.nn.functional.cross_entropy(
                    logits.reshape(-1, V), vy[s : s + 256].reshape(-1), reduction="sum"
                ).item()
        model.train()
        return total / vx.numel()

    out.mkdir(parents=True, exist_ok=True)
    records, state, step, interval, clock = [], None, 0, [], time.monotonic()
    start = time.monotonic()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"PyTorch reference: {layers} x {H} LSTM, {n_params:,} parameters", flush=True)
    while time.monotonic() - start < minutes * 60 and (max_steps is None or step < max_steps):
        index = step % len(batches)
        if index == 0:
            state = None
        x, y = (torch.from_numpy(a.astype(np.int64)) for a in batches.chunk(index))
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        interval.append(loss.item())
        if step % log_every == 0:
            now = time.monotonic()
            records.append({"step": step, "train_loss": sum(interval) / len(interval),
                            "chars_per_s": log_every * x.numel() / (now - clock),
                            "elapsed": now - start})  # fmt: skip
            interval, clock = [], now
        if step % eval_every == 0:
            records.append({"step": step, "val_loss": evaluate(),
                            "elapsed": time.monotonic() - start})
            print(f"  torch step {step}: val {records[-1]['val_loss']:.4f} "
                  f"at {records[-1]['elapsed'] / 60:.1f} min", flush=True)  # fmt: skip
            clock = time.monotonic()
    if not records or "val_loss" not in records[-1]:
        records.append({"step": step, "val_loss": evaluate(), "elapsed": time.monotonic() - start})
    with open(out / "metrics.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    summary = summarize(records, "chars_per_s")
    summary["command"] = "PyTorch reference (bench/textgen_shakespeare.py run_torch)"
    summary["num_layers"], summary["hidden_size"] = layers, H
    summary["torch_version"] = torch.__version__
    return summary


# -- figures ---------------------------------------------------------------------------
def summarize(records: list[dict], rate_key: str) -> dict:
    """Final/best validation loss, bits/char, throughput and when the target was reached."""
    evals = [r for r in records if r.get("val_loss") is not None]
    rates = [r[rate_key] for r in records if r.get(rate_key)]
    elapsed = {r["step"]: r["elapsed"] for r in records if "elapsed" in r}
    final = evals[-1]
    best = min(evals, key=lambda r: r["val_loss"])
    reached = next((r for r in evals if r["val_loss"] <= TARGET), None)

    def minutes_at(r):
        return round(r.get("elapsed", elapsed.get(r["step"], float("nan"))) / 60, 2)

    return {
        "steps": final["step"],
        "final_val_loss": round(final["val_loss"], 4),
        "final_val_bpc": round(final["val_loss"] / math.log(2), 4),
        "best_val_loss": round(best["val_loss"], 4),
        "best_step": best["step"],
        "median_chars_per_s": round(statistics.median(rates)) if rates else None,
        "target": TARGET,
        "target_reached_at_minutes": minutes_at(reached) if reached else None,
        "curve": [(minutes_at(r), round(r["val_loss"], 4)) for r in evals],
    }


def plot(results: dict, path: Path, title: str) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib missing: no figure")
        return
    fig = Figure(figsize=(7, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name, summary in results.items():
        xs, ys = zip(*summary["curve"], strict=True)
        ax.plot(xs, ys, marker="o", markersize=3,
                label=f"{name} (final {summary['final_val_loss']:.3f})")
    ax.axhline(TARGET, color="gray", linestyle="--", linewidth=0.8, label=f"target {TARGET}")
    ax.set_xlabel("wall-clock minutes (evaluation included)")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_ylim(top=min(3.0, ax.get_ylim()[1]))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-shakespeare")
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--skip-rnnkit", action="store_true")
    parser.add_argument("--torch-steps", type=int,
                        help="stop the reference after this many steps too "
                        "(a loss-per-step comparison on a busy machine)")  # fmt: skip
    parser.add_argument("--torch-eval-every", type=int, default=200)
    parser.add_argument("--json", type=Path,
                        default=ROOT / "bench" / "results" / "textgen_shakespeare.json")
    parser.add_argument("--figure", type=Path,
                        default=ROOT / "docs" / "figures" / "textgen_shakespeare.png")
    parser.add_argument("extra", nargs="*",
                        help="extra options for 'rnnkit textgen train' (after --)")
    args = parser.parse_args()
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus} (needs ../shared/data)", file=sys.stderr)
        return 1
    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_before": os.getloadavg(),
    }
    results = {}
    if not args.skip_rnnkit:
        results["rnnkit"] = run_rnnkit(args.corpus, args.minutes, args.out, args.extra)
        print(json.dumps({k: v for k, v in results["rnnkit"].items() if k != "curve"}, indent=1))
    if not args.skip_torch:
        torch_out = args.out.with_name(args.out.name + "-torch")
        size = architecture(args.corpus, args.minutes, None if args.skip_rnnkit else args.out)
        results["pytorch"] = run_torch(args.corpus, args.minutes, torch_out,
                                       eval_every=args.torch_eval_every, max_steps=args.torch_steps,
                                       size=size)  # fmt: skip
        print(json.dumps({k: v for k, v in results["pytorch"].items() if k != "curve"}, indent=1))
    machine["load_average_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(args.json.read_text()) if args.json.exists() else {}
    for name, summary in results.items():  # a run of one side keeps the other's figures
        saved[name] = {**summary, "machine": machine, "minutes": args.minutes}
    args.json.write_text(json.dumps(saved, indent=1) + "\n")
    layers, hidden = architecture(args.corpus, args.minutes, None if args.skip_rnnkit else args.out)
    title = f"tiny-shakespeare, {layers}-layer LSTM {hidden}, {os.cpu_count()}-core CPU"
    plot({k: v for k, v in saved.items() if k in ("rnnkit", "pytorch")}, args.figure, title)
    print(f"wrote {args.json} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
