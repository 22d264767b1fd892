"""The explorer's load test, full length: 16 loopback clients mixing every endpoint for a minute.

    python bench/explore_load.py [--seconds 60] [--clients 16] [RUN_DIR ...]

Without RUN_DIRs it trains the two small models of the test suite first. The
server runs as ``rnnkit explore ... --port 0`` in a subprocess on 127.0.0.1;
the clients and the RSS reading are those of tests/test_explore_server.py
(the same test, 10 s long). Prints the status counts and the server's RSS
after the first 10 s and at the end; exit 1 if any answer is not 200/429 or
the RSS grew by more than 20%.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from explore_models import train_sentiment, train_textgen  # noqa: E402
from test_explore_server import load_test, start_server  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", help="tg and st runs (default: train the test models)")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--first", type=float, default=10.0,
                   help="RSS reference after this many seconds")  # fmt: skip
    p.add_argument("--clients", type=int, default=16)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs
        if not runs:
            train_textgen(Path(tmp) / "tg", steps=30)
            train_sentiment(Path(tmp) / "st", epochs=20)
            runs = [Path(tmp) / "tg", Path(tmp) / "st"]
        proc, base = start_server(runs)
        try:
            counts, first, end = load_test(base, proc.pid, args.seconds, args.clients, args.first)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    result = {"seconds": args.seconds, "clients": args.clients, "status_counts": counts,
              "rss_kib_after_first": first, "rss_kib_end": end,
              "rss_ratio": round(end / first, 3)}  # fmt: skip
    print(json.dumps(result, indent=1))
    ok = set(counts) <= {200, 429} and end <= 1.2 * first
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
