"""``rnnkit export``."""

from __future__ import annotations

import sys

from .parsing import (
    EXIT_ERROR,
    EXIT_OK,
    add_options,
    given_options,
)


def add_export_commands(sub) -> None:
    from ..interop import ExportOptions
    from ..training.settings import ModelArgument

    ex = sub.add_parser(
        "export", help="write a trained model as ONNX or safetensors",
        description="Export a text generator or classifier (RUN_DIR's best.npz, else "
        "latest.npz, a checkpoint file, or a safetensors export) for use without rnnkit; ONNX "
        "also writes FILE.json (preprocessing). Never overwrites its input or a checkpoint; "
        "an existing FILE (or FILE.json) is replaced, atomically, only with --force.",
    )  # fmt: skip
    add_options(ex, ModelArgument)
    add_options(ex, ExportOptions)
    ex.set_defaults(run=cmd_export)


def cmd_export(args) -> int:
    from ..interop import ExportOptions, MissingExtraError, export

    options = ExportOptions(**given_options(args, ExportOptions))
    try:
        written = export(args.run_dir, options.format, options.output(args.run_dir),
                         force=options.force)  # fmt: skip
    except MissingExtraError as exc:
        print(f"rnnkit: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("wrote " + ", ".join(map(str, written)))
    return EXIT_OK
