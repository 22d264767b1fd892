"""Known public corpora, downloaded once into a user cache and checked by sha256.

The cache is ``$RNNKIT_CACHE`` if set, else ``$XDG_CACHE_HOME/rnnkit``, else
``~/.cache/rnnkit``. A file already in the cache with the right checksum is
used without touching the network. Every failure (offline, HTTP error, wrong
checksum, unknown name) raises :class:`DownloadError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class DownloadError(RuntimeError):
    """A dataset could not be fetched or did not match its checksum."""


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    sha256: str
    filename: str
    description: str


DATASETS: dict[str, Dataset] = {
    "tinyshakespeare": Dataset(
        name="tinyshakespeare",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="tinyshakespeare.txt",
        description="char-rnn's tiny-shakespeare, 1,115,394 bytes of plays (ASCII)",
    ),
}


def cache_dir() -> Path:
    """Where downloads are kept (see the module docstring)."""
    if os.environ.get("RNNKIT_CACHE"):
        return Path(os.environ["RNNKIT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rnnkit"


def fetch_url(url: str, timeout: float = 60.0) -> bytes:
    """GET ``url`` and return the body (the one function that uses the network)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def cached_path(name: str) -> Path | None:
    """The cached file of dataset ``name`` if it is there and its checksum is right."""
    path = cache_dir() / get_dataset(name).filename
    if path.is_file() and _sha256(path.read_bytes()) == DATASETS[name].sha256:
        return path
    return None


@dataclass(frozen=True)
class DownloadRequest:
    """What ``rnnkit data download`` asks (flags generated from the fields' ``help``
    metadata, the form of ``rnnkit.training.option``, which this floor may not import)."""

    name: str = field(default=None, metadata={"help": ", ".join(DATASETS), "metavar": "NAME",
                                            "positional": True, "required": True})  # fmt: skip
    force: bool = field(default=False, metadata={"help": "download again even if cached"})


def download(name: str, *, force: bool = False) -> Path:
    """Fetch dataset ``name`` into the cache (unless already there) and return its path."""
    dataset = get_dataset(name)
    if not force:
        path = cached_path(name)
        if path is not None:
            return path
    try:
        data = fetch_url(dataset.url)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(
            f"could not download {name} from {dataset.url} ({reason}); "
            "check the network connection (are you offline?)"
        ) from None
    digest = _sha256(data)
    if digest != dataset.sha256:
        raise DownloadError(
            f"{name}: sha256 mismatch (expected {dataset.sha256}, received {digest}); "
            "the download was not saved"
        )
    target_dir = cache_dir()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        path = target_dir / dataset.filename
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, path)  # never a half-written file under the final name
    except OSError as exc:
        detail = exc.strerror or exc
        raise DownloadError(f"could not write to the cache {target_dir}: {detail}") from None
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
