"""``rnnkit data download``."""

from __future__ import annotations

from .parsing import EXIT_OK, Command, add_command_group, given_options


def add_data_commands(sub) -> None:
    from ..text.download import DownloadRequest

    add_command_group(sub, "data", "download public datasets into the user cache", None, [
        Command("download",
                "fetch a dataset (checked by sha256) into ~/.cache/rnnkit or $RNNKIT_CACHE",
                None, cmd_data_download, (DownloadRequest,)),
    ])  # fmt: skip


def cmd_data_download(args) -> int:
    from ..text import download

    request = download.DownloadRequest(**given_options(args, download.DownloadRequest))
    print(download.download(request.name, force=request.force))
    return EXIT_OK
