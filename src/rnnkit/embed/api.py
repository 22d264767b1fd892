"""Train word vectors into a run directory; read them back from a run or a word2vec file.

A run directory (:mod:`rnnkit.training.rundir`) holds the vectors in its checkpoints
(``latest.npz``: the safe binary format, read member by member without pickle), with
the vocabulary and its counts. ``vectors.txt`` in the word2vec text format is written on
request (:func:`export_word2vec`, ``rnnkit embed export``) to a path the user names, so the
run directory keeps only the names it owns.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import skip_init
from ..text.readers import DataError
from ..training import (
    CheckpointError,
    StopRule,
    TrainResult,
    load_checkpoint,
    resolve_checkpoint,
)
from ..training.application import Application
from ..training.lifecycle import FitStart, sha256_text
from ..training.options import stop_rule_for
from ..training.settings import count, from_dict, option
from .model import EmbedConfig, WordVectors, WordVocab, count_words, encode_lines, read_lines
from .train import DEFAULT_STOP, EmbedSettings, EmbedTask, LinearDecay, schedule_steps

APP = "embed"
CONFIG_VERSION = 1


class Word2Vec(Application):
    """Word vectors as an application (docs/shape.md): the model ``config``
    (:class:`~rnnkit.embed.model.EmbedConfig`, fixed at construction:
    ``Word2Vec(dim=100, window=5)``), the training ``settings``
    (:class:`~rnnkit.embed.train.EmbedSettings`), the vocabulary built from the text,
    the network ``.network`` (:class:`~rnnkit.embed.model.WordVectors`) and the task
    the shared trainer runs (:class:`~rnnkit.embed.train.EmbedTask`). :meth:`vectors`
    gives the trained vectors; ``Word2Vec.load(run)`` reads a run back."""

    app, what, config_version = APP, "word-vector", CONFIG_VERSION
    settings_class, default_stop = EmbedSettings, DEFAULT_STOP

    def __init__(self, config: EmbedConfig | None = None, **config_fields: Any):
        self.config = replace(config or EmbedConfig(), **config_fields)
        self.settings = EmbedSettings()
        self.vocab: WordVocab | None = None
        self.network: WordVectors | None = None
        self.data: dict[str, Any] = {}  # the text files trained on, and their sha256
        self.decay_steps: int | None = None  # the steps of the learning rate's linear decay

    def fit(
        self,
        texts: Sequence[str | os.PathLike] = (),
        *,
        out: str | os.PathLike | None = None,
        resume: bool = False,
        force: bool = False,
        lock: bool = True,
        epochs: float | None = None,
        steps: int | None = None,
        minutes: float | None = None,
        progress: bool = True,
        encoding: str = "utf-8",
        **settings: Any,
    ) -> TrainResult:
        """Train on the text files ``texts`` (or continue the run ``out``: its config,
        settings and decay; ``texts``, else the files the run names, checked by sha256).
        The run's keywords are every application's (:mod:`rnnkit.training.application`);
        the stop rule (default 5 epochs) also sets the length of the learning rate's
        linear decay (its epochs or steps: ``minutes`` alone is refused for a new run).
        Other keywords are :class:`~rnnkit.embed.train.EmbedSettings` fields."""
        stop = StopRule(epochs, steps, minutes)
        return self.fit_lifecycle(
            (list(texts), encoding, stop), out=out, resume=resume, force=force, lock=lock,
            stop=stop, engine="numpy", settings=settings, progress=progress,
        )  # fmt: skip

    def prepare(self, checkpoint: dict | None, settings: EmbedSettings, data, out):
        """Become the new run (vocabulary, network and the decay from the text files of
        ``data = (texts, encoding, stop)``) or the run saved in ``checkpoint`` (its files
        checked by sha256); returns the encoded corpus ``(ids, sentences)``."""
        texts, encoding, stop = data
        if checkpoint is None:
            self.config.validate()
            settings.validate()
            if not texts:
                raise ValueError("give the text files to train on")
            rule = stop_rule_for(stop, DEFAULT_STOP)
            schedule_steps(rule, 1)  # refuses a rule without epochs or steps, before reading
            paths = [os.fspath(p) for p in texts]
            lines = read_lines(paths, encoding)
            vocab = WordVocab.build(count_words(lines, self.config.tokenizer),
                                    self.config.min_count, self.config.max_vocab)  # fmt: skip
            if len(vocab) == 0:
                raise DataError(f"no word occurs min_count={self.config.min_count} times in "
                                f"{', '.join(paths)}")  # fmt: skip
            ids, sentences = encode_lines(lines, self.config.tokenizer, vocab)
            self.settings, self.vocab = settings, vocab
            self.network = WordVectors(len(vocab), self.config.dim, seed=settings.seed)
            self.decay_steps = schedule_steps(rule, -(-len(ids) // settings.chunk_words))
            self.data = {"paths": [os.path.abspath(p) for p in paths], "encoding": encoding,
                         "sha256": _fingerprint(paths)}  # fmt: skip
            return ids, sentences
        run = self.restored(checkpoint, out)
        paths = [os.fspath(p) for p in texts] or list(run.data["paths"])
        if _fingerprint(paths) != run.data["sha256"]:
            raise DataError(f"{', '.join(paths)}: not the text this run was trained on "
                            "(sha256 differs)")  # fmt: skip
        lines = read_lines(paths, run.data.get("encoding", encoding))
        vars(self).update(vars(run))  # the run's config, settings, vocabulary, network, decay
        return encode_lines(lines, self.config.tokenizer, self.vocab)

    def build(self, prepared, start: FitStart) -> tuple[WordVectors, EmbedTask]:
        """The network and the task: one chunk of the corpus a step (NumPy engine only)."""
        ids, sentences = prepared
        self._schedule = LinearDecay(self.settings.lr, self.settings.lr_min, self.decay_steps)
        return self.network, EmbedTask(self.network, self.vocab, self.config, self.settings,
                                       ids, sentences, self._schedule)  # fmt: skip

    def trainer_hooks(self, prepared, start: FitStart) -> dict[str, Any]:
        """No validation data (the training loss is what is logged); the learning rate
        falls linearly over the decay (word2vec's schedule, not the shared one)."""
        return {"monitor": "train_loss", "mode": "min", "monitored": False,
                "lr_schedule": self._schedule}  # fmt: skip

    def app_config(self) -> dict:
        """The checkpoint's JSON: config, settings, vocabulary (with counts), data, decay."""
        return {"version": CONFIG_VERSION, "model": _asdict(self.config),
                "train": self.settings.to_dict(), "vocab": self.vocab.to_dict(),
                "data": self.data, "schedule_steps": self.decay_steps}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict, weights: dict | None = None, path="checkpoint"):
        """The model of a checkpoint's JSON (:meth:`app_config`), its network built
        (without a random draw when ``weights`` replace it)."""
        w2v = cls(from_dict(EmbedConfig, config["model"]))
        w2v.settings = EmbedSettings.from_dict(config["train"])
        w2v.vocab = WordVocab.from_dict(config["vocab"])
        w2v.data, w2v.decay_steps = dict(config["data"]), int(config["schedule_steps"])
        with skip_init():
            w2v.network = WordVectors(len(w2v.vocab), w2v.config.dim, seed=w2v.settings.seed)
        return w2v

    def vectors(self) -> KeyedVectors:
        """The trained input vectors ``W_in`` by word (a copy)."""
        self._require_model()
        return KeyedVectors(self.vocab.words, self.network.W_in.data.copy())


def train(texts: Sequence[str | os.PathLike] = (), **keywords: Any,
          ) -> tuple[TrainResult, KeyedVectors]:  # fmt: skip
    """Train word vectors: ``Word2Vec(**config).fit(texts, **rest)``, where ``keywords``
    holding :class:`~rnnkit.embed.model.EmbedConfig` fields make the model and the rest
    go to :meth:`Word2Vec.fit`. Returns the result and the vectors."""
    config = {k: keywords.pop(k) for k in list(keywords) if k in _names(EmbedConfig)}
    w2v = Word2Vec(**config)
    result = w2v.fit(texts, **keywords)
    return result, w2v.vectors()


def _names(cls) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(cls)}


def _asdict(config) -> dict:
    import dataclasses

    return dataclasses.asdict(config)


def _fingerprint(paths: Sequence[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        try:
            with open(path, "rb") as f:
                digest.update(sha256_text(f.read()).encode())
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return digest.hexdigest()


class KeyedVectors:
    """Words and their vectors (V, D): nearest neighbours by cosine, analogies, files."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray):
        self.words = list(words)
        self.vectors = np.asarray(vectors)
        self.index = {w: i for i, w in enumerate(self.words)}
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = self.vectors / np.where(norms == 0, 1.0, norms)  # (V, D)

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._id(word)]

    def _id(self, word: str) -> int:
        index = self.index.get(word)
        if index is None:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self):,} words)")
        return index

    def nearest(self, query: np.ndarray, k: int, exclude: Sequence[int] = ()):
        """The ``k`` words with the largest cosine to ``query`` (D,): [(word, cosine)]."""
        q = query / (np.linalg.norm(query) or 1.0)
        scores = self._unit @ q  # (V,)
        scores[list(exclude)] = -np.inf
        k = min(k, len(self) - len(set(exclude)))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.zeros(0, int)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top]

    def neighbors(self, word: str, k: int = 10):
        index = self._id(word)
        return self.nearest(self._unit[index], k, exclude=[index])

    def analogy(self, a: str, b: str, c: str, k: int = 10):
        """``a`` is to ``b`` as ``c`` is to ...: nearest to ``b - a + c`` (unit vectors), the
        three inputs excluded."""
        ia, ib, ic = self._id(a), self._id(b), self._id(c)
        query = self._unit[ib] - self._unit[ia] + self._unit[ic]
        return self.nearest(query, k, exclude=[ia, ib, ic])

    def save_word2vec(self, path: str | os.PathLike) -> None:
        """The word2vec text format (header ``N D``, then ``word v1 ... vD``), atomically."""
        from ..training.checkpoint import atomic_write

        def write(f) -> None:
            f.write(f"{len(self)} {self.vectors.shape[1]}\n".encode())
            for word, row in zip(self.words, self.vectors, strict=True):
                f.write((word + " " + " ".join(f"{x:.7g}" for x in row) + "\n").encode("utf-8"))

        atomic_write(path, write)

    @classmethod
    def load(cls, source: str | os.PathLike, which: str = "latest") -> KeyedVectors:
        """From a run directory, a checkpoint ``.npz`` or a word2vec/GloVe text file."""
        path = Path(source)
        if path.is_dir() or path.suffix == ".npz":
            return cls._from_checkpoint(load_checkpoint(resolve_checkpoint(path, which), app=APP))
        return cls._from_text(path)

    @classmethod
    def _from_checkpoint(cls, tree: dict) -> KeyedVectors:
        vocab = WordVocab.from_dict(tree["config"]["vocab"])
        return cls(vocab.words, tree["model"]["W_in"])

    @classmethod
    def _from_text(cls, path: Path) -> KeyedVectors:
        from ..text.vectors import read_all_vectors

        words, vectors = read_all_vectors(path)
        return cls(words, vectors)


VECTORS_HELP = "run directory, checkpoint .npz or word2vec/GloVe text file"


@dataclass(frozen=True)
class NeighborsRequest:
    """What ``rnnkit embed neighbors`` asks: the K words nearest to WORD."""

    vectors: str = option(None, VECTORS_HELP, metavar="RUN_OR_FILE", positional=True,
                          required=True)  # fmt: skip
    word: str = option(None, "the word", metavar="WORD", positional=True, required=True)
    k: int = option(10, "how many", flags=("-k",), bounds=count(1))


@dataclass(frozen=True)
class AnalogyRequest:
    """What ``rnnkit embed analogy`` asks: the K words nearest to b - a + c."""

    vectors: str = option(None, VECTORS_HELP, metavar="RUN_OR_FILE", positional=True,
                          required=True)  # fmt: skip
    a: str = option(None, "a (is to b)", metavar="A", positional=True, required=True)
    b: str = option(None, "b", metavar="B", positional=True, required=True)
    c: str = option(None, "c (is to ...)", metavar="C", positional=True, required=True)
    k: int = option(10, "how many", flags=("-k",), bounds=count(1))


@dataclass(frozen=True)
class ExportRequest:
    """What ``rnnkit embed export`` asks: a run's vectors as a word2vec text file."""

    run_dir: str = option(None, "run directory or checkpoint .npz", metavar="RUN_DIR",
                          positional=True, required=True)  # fmt: skip
    out: str | None = option(None, "the text file to write", metavar="FILE", required=True)
    force: bool = option(False, "overwrite an existing FILE")


@dataclass(frozen=True)
class TrainTexts:
    """The files ``rnnkit embed train`` reads (``train``'s ``texts``)."""

    texts: tuple[str, ...] = option((), "training text files (on --resume: default the run's "
                                    "own)", metavar="TEXT", positional=True, nargs="*")  # fmt: skip


def export_word2vec(source: str | os.PathLike, out: str | os.PathLike, force: bool = False):
    """Write the vectors of a run (or checkpoint) to ``out`` in the word2vec text format;
    an existing ``out`` is refused unless ``force``. Returns the vectors."""
    if os.path.exists(out) and not force:
        raise FileExistsError(f"{out} exists; give force=True (--force) to overwrite it")
    vectors = KeyedVectors.load(source)
    vectors.save_word2vec(out)
    return vectors


__all__ = ["APP", "CheckpointError", "KeyedVectors", "export_word2vec", "train"]
