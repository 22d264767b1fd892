"""``rnnkit export``."""

from __future__ import annotations

import sys
from pathlib import Path

from .parsing import (
    EXIT_ERROR,
    EXIT_OK,
)

# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------


def add_export_commands(sub) -> None:
    ex = sub.add_parser(
        "export", help="write a trained model as ONNX or safetensors",
        description="Export a text generator or classifier (RUN_DIR's best.npz, else "
        "latest.npz, a checkpoint file, or a safetensors export) for use without rnnkit; ONNX "
        "also writes FILE.json (preprocessing). Never overwrites its input or a checkpoint; "
        "an existing FILE (or FILE.json) is replaced, atomically, only with --force.",
    )  # fmt: skip
    ex.add_argument("run_dir", metavar="RUN_DIR",
                    help="a run directory, a checkpoint file or a safetensors export")  # fmt: skip
    ex.add_argument("--format", required=True, choices=("onnx", "safetensors"),
                    help="onnx or safetensors")  # fmt: skip
    ex.add_argument("--out", help="the file to write (default: RUN_DIR/model.FORMAT, or the "
                    "checkpoint's name with .FORMAT)")  # fmt: skip
    ex.add_argument("--force", action="store_true",
                    help="replace an existing output file (and its .json sidecar)")  # fmt: skip
    ex.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    from ..interop import MissingExtraError, export

    run_dir = Path(args.run_dir)
    if run_dir.is_dir():
        default = run_dir / f"model.{args.format}"
    else:
        default = run_dir.with_suffix(f".{args.format}")
    try:
        written = export(args.run_dir, args.format, args.out or default, force=args.force)
    except MissingExtraError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("wrote " + ", ".join(map(str, written)))
    return EXIT_OK
