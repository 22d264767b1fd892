"""``CharLM``: the text generator as one object for notebooks and the command line.

lm = CharLM(cell="lstm", hidden_size=256, num_layers=2)
lm.fit("input.txt", minutes=5, out="runs/shakespeare")   # or a str of text
lm.fit(out="runs/shakespeare", resume=True, minutes=10)  # continue it exactly
print(lm.generate(300, prime="ROMEO:", temperature=0.8, seed=1))
print(lm.generate(300, num_samples=8, stop="\n\n", seed=1))  # 8 texts, one batch
print(lm.generate(100, beam=8, stop="\n"))                 # beam search: the likeliest
print(lm.evaluate())                                     # the validation split
print(lm.score(["ROMEO:", "The king is dead."]))         # each line's log-probability
lm = CharLM.load("runs/shakespeare")                     # best.npz of a run
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import random as nnrandom
from ..nn import skip_init
from ..text.corpus import (
    DEFAULT_CORPUS_CHARS,
    CharVocab,
    CorpusError,
    StreamBatches,
    Text,
    check_encoding,
    default_corpus,
    iter_corpus,
    read_corpus,
    scan_corpus,
    sha256_file,
    split_documents,
    split_tail,
)
from ..training import (
    StopRule,
    Trainer,
    TrainResult,
    TrainTask,
    check_parameter_count,
    check_seed,
)
from ..training.application import Application
from ..training.lifecycle import FitStart, sha256_text
from ..training.rundir import RunDir
from ..training.settings import count
from . import corpus_file
from .beam import beam_search
from .corpus_file import CorpusIds, MappedSlice, MappedStreamBatches, check_ids_file, ids_info
from .documents import (
    DocumentBatches,
    DocumentTask,
    batch_documents,
    document_ids,
    evaluate_documents,
    split_corpus,
    until_end,
)
from .evaluate import evaluate_ids
from .model import CharRNN, CharRNNConfig
from .sampling import SamplingOptions, sample_generators, sample_ids
from .scoring import summary, surprises
from .sizing import describe, size_for_budget
from .stopping import batch_texts, cut_at
from .train import CharLMTask, TrainSettings

APP = "textgen"
#: version of the checkpoint's "config"; 1 (no "version" key) named embedding_dim embedding_size
CONFIG_VERSION = 2

#: the stop rule when none is given
DEFAULT_STOP = StopRule(minutes=15.0)
#: documents printed at each evaluation in documents mode
SAMPLE_DOCUMENTS = 4


class CharLM(Application):
    """A character-level language model: train on any text, sample, evaluate, save.

    The three parts of the application: the architecture ``config``
    (:class:`~rnnkit.textgen.model.CharRNNConfig`, fixed at construction:
    ``CharLM(hidden_size=256)`` or ``CharLM(CharRNNConfig(...))``; without a config,
    ``num_layers`` or ``hidden_size``, a new run's size is chosen for its time budget by
    :mod:`~rnnkit.textgen.sizing`), the
    training ``settings`` (:class:`~rnnkit.textgen.train.TrainSettings`, saved
    whole in every checkpoint) and the task the shared trainer runs
    (:class:`~rnnkit.textgen.train.CharLMTask`). The vocabulary comes from the
    text given to :meth:`fit` (or from a checkpoint, see :meth:`load`); the
    network is ``.network``.
    """

    app, what, config_version = APP, "text-generator", CONFIG_VERSION
    settings_class, default_stop = TrainSettings, DEFAULT_STOP

    def __init__(self, config: CharRNNConfig | None = None, **architecture: Any):
        self.config = replace(config or CharRNNConfig(), **architecture)
        self.config.validate()
        #: whether the size was given (else a new run's comes from :mod:`.sizing`)
        self.size_given = config is not None or not {"num_layers", "hidden_size"}.isdisjoint(
            architecture
        )
        self._size_note: str | None = None  # the line saying what the rule chose, if it did
        self.vocab: CharVocab | None = None
        self.network: CharRNN | None = None
        self.settings = TrainSettings()
        self.data: dict[str, Any] = {}  # where the training text came from (see _source)
        self._corpus: Text | None = None  # the training text of this session, if any
        self._ids: CorpusIds | None = None  # its ids file, for a corpus too large to hold
        self._home: Path | None = None  # the directory of the checkpoint it was loaded from

    # -- training --------------------------------------------------------------
    def fit(
        self,
        text: Text | os.PathLike | None = None,
        *,
        encoding: str = "utf-8",
        out: str | os.PathLike | None = None,
        resume: bool = False,
        force: bool = False,
        lock: bool = True,
        epochs: float | None = None,
        steps: int | None = None,
        minutes: float | None = None,
        progress: bool = True,
        engine: str = "numpy",
        init_from: str | os.PathLike | None = None,
        map_unknown: str | None = None,
        **settings: Any,
    ) -> TrainResult:
        """Train on ``text``, or (``resume=True``) continue the run in ``out`` exactly.

        ``text``: a path (``Path``, or a ``str`` naming an existing file), a ``str`` of
        text, ``bytes`` (byte vocabulary), or None for the default corpus (Python's
        standard library source). ``out``, ``resume``, ``force``, ``lock``, the stop
        rule (default 15 minutes), ``engine`` and ``progress`` are every
        application's (see :mod:`rnnkit.training.application`); on resume the run's
        architecture, vocabulary and settings replace this object's and its corpus is
        read again from where the run found it (checked by sha256; pass ``text`` for
        a run trained on in-memory text). A corpus file of ``corpus_file.MEMMAP_MIN_BYTES``
        (64 MB) or more is never read whole: it is scanned in chunks, encoded into
        ``out/corpus.ids`` and memory-mapped (see :mod:`.corpus_file`); evaluation reads at
        most ``val_max_chars`` of the validation split. ``init_from``: a run whose weights,
        architecture and vocabulary this new run starts from (fine-tuning). Other
        keywords are :class:`~rnnkit.textgen.train.TrainSettings` fields. Without a size
        given at construction, a new run's is chosen for ``minutes`` (15 when the run stops
        by steps or epochs only) by :mod:`.sizing`.
        """
        budget = minutes if minutes is not None else DEFAULT_STOP.minutes
        return self.fit_lifecycle(
            (text, encoding, init_from, map_unknown, budget), out=out, resume=resume, force=force,
            lock=lock,
            stop=StopRule(epochs, steps, minutes), engine=engine, progress=progress,
            settings=settings,
        )  # fmt: skip

    def prepare(self, checkpoint: dict | None, settings: TrainSettings, data, out):
        """Become the new run (``settings``, vocabulary and network from the text of
        ``data = (text, encoding, init_from)``, or from the run ``init_from`` to fine-tune)
        or, with a checkpoint, the run saved there (its corpus read again and checked);
        returns the training batches and the validation ids."""
        text, encoding, init_from, map_unknown, budget = data
        if map_unknown is not None and (init_from is None or checkpoint is not None):
            raise ValueError("map_unknown maps the characters outside init_from's vocabulary "
                             "in a new run: give init_from, not resume")
        if checkpoint is None:
            settings.validate()
            if init_from is not None:
                return self._take_source(init_from, settings, text, out, map_unknown)
            large = _large_file(text, settings.documents)
            if large is not None:  # never read whole: scanned, then encoded into a file
                check_encoding(encoding)
                scan = scan_corpus(large, encoding)
                vocab = scan.vocab()
                source = {"source": "file", "path": str(large), "encoding": encoding,
                          "sha256": scan.sha256, "chars": scan.length,
                          "ids": ids_info(scan.length, vocab)}  # fmt: skip
                config = self._new_config(len(vocab), budget, scan.length)
                nnrandom.manual_seed(settings.seed)
                self.config, self.settings, self.data = config, settings, source
                self.vocab, self.network, self._corpus = vocab, CharRNN(config), None
                return self._mapped_split(large, out, expected=scan.sha256)
            corpus, source = _source(text, encoding)
            vocab = _vocab_of(corpus, settings.documents)
            batches, val_ids = _split(corpus, vocab, settings)
            config = self._new_config(len(vocab), budget, len(corpus))
            nnrandom.manual_seed(settings.seed)
            network = CharRNN(config)
            self.config, self.settings, self.data = config, settings, source
            self.vocab, self.network, self._corpus = vocab, network, corpus
            return batches, val_ids
        run = self.restored(checkpoint, out)  # the run's parts
        if "ids" in run.data:  # a corpus too large to hold: its ids file
            return self._resume_mapped(run, text, out)
        corpus = run._training_text(text)
        batches, val_ids = _split(corpus, run.vocab, run.settings)
        self.config, self.settings, self.data = run.config, run.settings, run.data
        self.vocab, self.network, self._corpus = run.vocab, run.network, corpus
        return batches, val_ids

    def _new_config(self, vocab_size: int, budget: float, chars: int) -> CharRNNConfig:
        """A new run's architecture: this object's, with the size the budget affords when
        none was given (:func:`.sizing.size_for_budget`)."""
        self._size_note = None
        if self.size_given:
            return replace(self.config, vocab_size=vocab_size)
        num_layers, hidden_size = size_for_budget(budget)
        self._size_note = describe(num_layers, hidden_size, self.config.cell, budget, chars)
        return replace(self.config, vocab_size=vocab_size, num_layers=num_layers,
                       hidden_size=hidden_size)  # fmt: skip

    def _mapped_split(self, path: Path, out, expected: str | None = None):
        """Training batches and validation ids read from the run's ids file (encoded into
        ``out/corpus.ids``, or a temporary file without ``out``, when first used)."""
        info, settings = self.data["ids"], self.settings
        target = Path(out) / RunDir.CORPUS_IDS if out is not None else None
        ids = CorpusIds(path, self.vocab, info, target, expected_corpus_sha256=expected)
        n_train, n_val = _split_sizes(ids.length, settings.val_fraction)
        batches = MappedStreamBatches(ids, n_train, settings.batch_size, settings.seq_length)
        val_ids = MappedSlice(ids, n_train, n_train + min(n_val, settings.val_max_chars))
        self._ids = ids
        return batches, val_ids

    def _resume_mapped(self, run: CharLM, text, out):
        """Resume a run whose corpus is an ids file: the file checked against its sha256
        (refused in one line if it differs) or, if it is missing, the corpus checked
        against the run's fingerprint (it is encoded again when training starts)."""
        self.config, self.settings, self.data = run.config, run.settings, run.data
        self.vocab, self.network, self._corpus = run.vocab, run.network, None
        found = check_ids_file(out, self.data["ids"])
        path = _large_file(text, "none", any_size=True) or Path(self.data["path"])
        if found is None:
            if not path.is_file():
                raise CorpusError(f"the training corpus ({path}) is gone and {out}/"
                                  f"{RunDir.CORPUS_IDS} with it: give the corpus")  # fmt: skip
            if sha256_file(path) != self.data["sha256"]:
                raise CorpusError(f"the training corpus ({path}) has changed since this run "
                                  "started")  # fmt: skip
        return self._mapped_split(path, out, expected=self.data["sha256"])

    def _take_source(self, init_from, given: TrainSettings, text, out=None, map_unknown=None):
        """A new run that starts from another run's weights, architecture and vocabulary
        (fine-tuning): the new text is read with the source's encoding and may hold only
        characters of its vocabulary: the others are named in one line, or, with
        ``map_unknown`` (one character of that vocabulary), each replaced by it (recorded
        in the run's data, so a resume and ``evaluate`` read the text the same way)."""
        source = CharLM.load(init_from)
        same = replace(source.config, vocab_size=self.config.vocab_size)
        if self.config not in (CharRNNConfig(), same):
            raise ValueError(f"init_from takes the architecture of its run ({init_from}); "
                             "give no architecture beside it")  # fmt: skip
        large = _large_file(text, given.documents)
        if map_unknown is not None:
            _check_map_unknown(map_unknown, source.vocab, large)
        if large is not None and not source.vocab.markers:  # never read whole
            scan = scan_corpus(large, source.vocab.encoding)
            unknown = sorted(set(scan.symbols) - set(source.vocab.symbols))
            if unknown:
                shown = [source.vocab.show(u) for u in unknown[:20]]
                raise CorpusError(
                    f"the text has {len(unknown)} character(s) outside the vocabulary of "
                    f"{init_from}: {', '.join(shown)}; fine-tuning keeps that vocabulary"
                )
            nnrandom.manual_seed(given.seed)
            self.config, self.settings = source.config, given
            self.data = {"source": "file", "path": str(large), "encoding": scan.encoding,
                         "sha256": scan.sha256, "chars": scan.length,
                         "ids": ids_info(scan.length, source.vocab), "init_from": str(init_from)}
            self.vocab, self.network, self._corpus = source.vocab, source.network, None
            return self._mapped_split(large, out, expected=scan.sha256)
        corpus, data = _source(text, source.vocab.encoding)
        if source.vocab.markers != (given.documents != "none"):
            raise ValueError(f"init_from: {init_from} was trained "
                             + ("in documents mode" if source.vocab.markers else "on one stream")
                             + f", this run has documents {given.documents!r}: give the same mode")
        if map_unknown is not None:
            data["map_unknown"] = map_unknown
            corpus = _mapped(corpus, source.vocab, map_unknown)
        unknown = source.vocab.unknown(_characters(corpus, given.documents))
        if unknown:
            raise CorpusError(
                f"the text has {len(unknown)} character(s) outside the vocabulary of "
                f"{init_from}: {', '.join(unknown[:20])}; fine-tuning keeps that vocabulary"
            )
        batches, val_ids = _split(corpus, source.vocab, given)
        nnrandom.manual_seed(given.seed)  # dropout draws from here on
        data = {**data, "init_from": str(init_from)}
        self.config, self.settings, self.data = source.config, given, data
        self.vocab, self.network, self._corpus = source.vocab, source.network, corpus
        return batches, val_ids

    def build(self, prepared, start: FitStart) -> tuple[CharRNN, TrainTask]:
        """The network and the task of the engine: NumPy's, or PyTorch's with processes."""
        batches, val_ids = prepared
        processes = start.processes
        if self._size_note and start.shows_progress:
            print(f"{APP}: {self._size_note}", file=sys.stderr, flush=True)
        if isinstance(batches, MappedStreamBatches):
            batches.ids.progress = start.shows_progress
            if not start.writer:  # the other ranks never write into the run directory
                batches.ids.target = None
        if self.settings.documents != "none":
            if processes is not None:
                raise ValueError("documents mode trains with the NumPy engine only for now")
            return self.network, DocumentTask(self.network, batches, val_ids)
        if processes is None:
            return self.network, CharLMTask(self.network, batches, val_ids)
        from .torch_engine import TorchCharLMTask

        seed = self.settings.seed
        return self.network, TorchCharLMTask(self.network, batches, val_ids, processes, seed=seed)

    def trainer_hooks(self, prepared, start: FitStart) -> dict[str, Any]:
        """Validation loss picks the best checkpoint; rank 0 prints a sample at each
        evaluation (when ``sample_length`` > 0)."""
        sample = self.settings.sample_length > 0 and start.writer
        return {"monitor": "val_loss", "mode": "min",
                "on_eval": self._print_sample if sample else None}  # fmt: skip

    def _print_sample(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """At each evaluation: a short sample, from its own seeded generator."""
        documents = self.vocab is not None and self.vocab.markers
        text = self.generate(
            self.settings.sample_length,
            temperature=0.8,
            seed=(self.settings.seed, trainer.step),
            **({"num_samples": SAMPLE_DOCUMENTS} if documents else {}),
        )
        if documents:  # a few whole documents, one after the other
            text = self._separator().join(text)
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        val = metrics.get("val_loss")
        head = f"step {trainer.step}" + (
            f", val loss {val:.3f} nats/char" if val is not None else ""
        )
        trainer.write(f"--- sample at {head} ---\n{text}\n---")

    # -- sampling --------------------------------------------------------------
    def stream(
        self,
        length: int = 200,
        *,
        prime: Text | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        beam: int | None = None,
        length_alpha: float = 1.0,
        stop: Text | None = None,
        seed: int | tuple | None = None,
    ) -> Iterator[Text]:
        """Yield up to ``length`` generated characters one at a time (``bytes`` for a bytes
        model).

        ``prime`` (default: a newline) is fed first and not repeated in the
        output; characters outside the vocabulary raise ``CorpusError`` naming
        them. The same ``seed`` gives the same text; None draws a fresh one.
        ``stop``: the text ends where this string first appears in what is
        generated (the string itself is not yielded; characters that may begin
        it are held back until they cannot). ``beam``: beam search with that
        many beams (see :mod:`.beam`; the text comes when the search is done).
        """
        yield from self._texts(length, 1, prime=prime, temperature=temperature, top_k=top_k,
                               top_p=top_p, greedy=greedy, beam=beam, length_alpha=length_alpha,
                               stop=stop, seed=seed)[0]  # fmt: skip

    def generate(
        self, length: int = 200, *, num_samples: int | None = None, **kwargs: Any
    ) -> Text | list[Text]:
        """The :meth:`stream` joined into one ``str`` (or ``bytes``); with ``num_samples``, a
        list of that many texts drawn together in one batch (with ``beam``: the best
        ``num_samples`` beams, best first). Sample ``k`` of a seeded batch is the same in
        every batch of more than ``k`` samples, and sample 0 is the single sample's text."""
        vocab, _ = self._require_model()
        join = b"".join if vocab.encoding == "bytes" else "".join
        n = 1 if num_samples is None else num_samples
        texts = [join(pieces) for pieces in self._texts(length, n, **kwargs)]
        return texts[0] if num_samples is None else texts  # type: ignore[return-value]

    def _texts(self, length: int, num_samples: int, *, prime: Text | None = None,
               stop: Text | None = None, seed: int | tuple | None = None,
               beam: int | None = None, length_alpha: float = 1.0,
               **sampling: Any) -> list[Iterator[Text]]:  # fmt: skip
        """The ``num_samples`` texts as iterators of pieces (all checks done first)."""
        vocab, network = self._require_model()
        options = SamplingOptions(**sampling, beam=beam, length_alpha=length_alpha)
        options.validate()
        count(0).check("length", length)
        count(1, 10_000).check("num_samples", num_samples)
        if seed is not None and not isinstance(seed, tuple):
            check_seed(seed)
        prime_ids = self._encode_prime(prime)
        stop_ids = self._encode_stop(stop)
        if vocab.markers:
            return self._document_texts(network, prime_ids, length, num_samples, options,
                                        stop_ids, seed)  # fmt: skip
        if beam is not None:
            found = beam_search(network, prime_ids, length, beam, alpha=length_alpha,
                                stop=stop_ids, num_results=num_samples)  # fmt: skip
            cut = len(stop_ids) if stop_ids is not None else 0
            return [iter([vocab.decode(list(h.ids[: len(h.ids) - cut if h.stopped else None]))])
                    for h in found]  # fmt: skip
        steps = sample_ids(network, prime_ids, length, options,
                           sample_generators(seed, num_samples))  # fmt: skip
        stop_text = vocab.decode(stop_ids) if stop_ids is not None else None
        if num_samples == 1:  # streamed
            return [cut_at((vocab.decode([int(ids[0])]) for ids in steps), stop_text)]
        return batch_texts(steps, vocab.decode, num_samples, stop_text)

    def _document_texts(self, network, prime_ids, length, num_samples, options, stop_ids, seed):
        """Documents mode: each sample continues the document begun by the prime and ends
        at the end marker (or after ``length`` characters); markers are never written."""
        vocab = self.vocab
        stop_text = vocab.decode(stop_ids) if stop_ids is not None else None

        def chars(ids):  # a generator (cut_at may close it)
            return (vocab.decode([i]) for i in ids)

        if options.beam is not None:
            found = beam_search(network, prime_ids, length, options.beam,
                                alpha=options.length_alpha, stop=[vocab.end_id],
                                num_results=num_samples)  # fmt: skip
            return [cut_at(chars([i for i in h.ids if i != vocab.end_id]), stop_text)
                    for h in found]  # fmt: skip
        steps = sample_ids(network, prime_ids, length, options,
                           sample_generators(seed, num_samples), exclude=(vocab.start_id,))
        if num_samples == 1:  # streamed
            return [cut_at(chars(int(ids[0]) for ids in until_end(steps, vocab.end_id)),
                           stop_text)]  # fmt: skip
        return [cut_at(chars(doc), stop_text)
                for doc in batch_documents(steps, num_samples, vocab.end_id)]  # fmt: skip

    def _separator(self) -> Text:
        """What separates documents in the corpus: a newline, or a blank line."""
        sep = "\n\n" if self.settings.documents == "blank-lines" else "\n"
        return sep.encode() if self.vocab is not None and self.vocab.encoding == "bytes" else sep

    def _encode_stop(self, stop: Text | None) -> np.ndarray | None:
        if stop is None:
            return None
        if len(stop) == 0:
            raise ValueError("stop must be a non-empty string")
        vocab, _ = self._require_model()
        if vocab.encoding == "bytes" and isinstance(stop, str):
            stop = stop.encode("utf-8")
        unknown = vocab.unknown(stop)
        if unknown:
            raise CorpusError(
                f"the stop string has {len(unknown)} character(s) that are not in the model's "
                f"vocabulary, so it could never appear: {', '.join(unknown)}"
            )
        return vocab.encode(stop)

    def default_prime(self) -> Text:
        """A newline (or the first symbol of a vocabulary without one); in documents mode
        nothing: a sample is a document from its start."""
        vocab, _ = self._require_model()
        if vocab.markers:
            return b"" if vocab.encoding == "bytes" else ""
        newline = ord("\n")
        symbol = newline if newline in vocab.symbols else vocab.symbols[0]
        return vocab.decode([vocab.symbols.index(symbol)])

    def _encode_prime(self, prime: Text | None) -> np.ndarray:
        vocab, _ = self._require_model()
        if vocab.markers:  # the prime is the beginning of a document
            return np.concatenate([[vocab.start_id], self._encode_prime_text(prime or "")])
        if prime is None or len(prime) == 0:
            prime = self.default_prime()
        return self._encode_prime_text(prime)

    def _encode_prime_text(self, prime: Text) -> np.ndarray:
        vocab, _ = self._require_model()
        if vocab.encoding == "bytes" and isinstance(prime, str):
            prime = prime.encode("utf-8")
        if vocab.encoding != "bytes" and isinstance(prime, bytes):
            raise ValueError("this model was trained on text: give the prime as str")
        unknown = vocab.unknown(prime)
        if unknown:
            raise CorpusError(
                f"the prime text has {len(unknown)} character(s) that are not in the model's "
                f"vocabulary: {', '.join(unknown)}"
            )
        return vocab.encode(prime)

    # -- evaluation ------------------------------------------------------------
    def evaluate(
        self, text: Text | os.PathLike | None = None, *, encoding: str | None = None
    ) -> dict[str, float]:
        """Nats/char (``loss``), bits/char (``bpc``), ``perplexity`` and ``chars`` scored.

        On ``text`` (a path, a str or bytes) or, without it, on the validation
        split of the training corpus. In documents mode the text is split into
        documents, each scored from its start marker, its end marker predicted too
        (``chars`` counts those predictions, ``documents`` the documents); without
        ``text``, the held-out documents.
        """
        vocab, network = self._require_model()
        if vocab.markers:
            return self._evaluate_documents(text, encoding)
        if text is None:
            ids = self._validation_ids()
            if len(ids) < 2:
                raise CorpusError("this run has no validation split (val_fraction 0): give a file")
        else:
            hint = "this model was trained on UTF-8 text, so it scores UTF-8 text only"
            corpus, _ = _source(text, encoding or vocab.encoding, utf8_hint=hint)
            unknown = vocab.unknown(corpus)
            if unknown:
                raise CorpusError(
                    f"the text has {len(unknown)} character(s) that are not in the model's "
                    f"vocabulary: {', '.join(unknown[:20])}"
                )
            ids = vocab.encode(corpus)
        return evaluate_ids(network, ids)

    def _validation_ids(self) -> np.ndarray:
        """The validation split of the run's corpus, at most ``val_max_chars`` of its tail:
        from the run's ids file if it is there, else read from the corpus."""
        cap = self.settings.val_max_chars
        if "ids" not in self.data:
            _, ids = split_tail(self._vocab_encode(self._training_text(None)),
                                self.settings.val_fraction)  # fmt: skip
            return ids[:cap]
        info = self.data["ids"]
        n_train, n_val = _split_sizes(int(info["length"]), self.settings.val_fraction)
        stop = n_train + min(n_val, cap)
        if self._ids is not None:
            return np.asarray(MappedSlice(self._ids, n_train, stop))
        home = self._home / RunDir.CORPUS_IDS if self._home is not None else None
        if home is not None and home.is_file():
            try:
                check_ids_file(self._home, info)
            except CorpusError:
                pass  # not this run's: read the corpus instead
            else:
                shape = (int(info["length"]),)
                mapped = np.memmap(home, dtype=info["dtype"], mode="r", shape=shape)
                return np.asarray(mapped[n_train:stop]).astype(np.int32)
        path = Path(self.data["path"])
        if not path.is_file():
            raise CorpusError(f"the training corpus ({path}) is gone: give a file")
        return _stream_slice(path, self.vocab, n_train, stop, self.data.get("sha256"))

    def _vocab_encode(self, text: Text) -> np.ndarray:
        vocab, _ = self._require_model()
        return vocab.encode(text)

    def _evaluate_documents(self, text, encoding) -> dict[str, float]:
        vocab, network = self._require_model()
        mode = self.documents_mode()
        if text is None:
            if self.settings.val_fraction == 0:
                raise CorpusError("this run has no held-out documents (val_fraction 0): "
                                  "give a file")  # fmt: skip
            _, docs = split_corpus(self._training_text(None), mode, self.settings.val_fraction)
        else:
            hint = "this model was trained on UTF-8 text, so it scores UTF-8 text only"
            corpus, _ = _source(text, encoding or vocab.encoding, utf8_hint=hint)
            docs = split_documents(corpus, mode)
            if not docs:
                raise CorpusError(f"the text has no documents (documents {mode})")
            unknown = vocab.unknown(_characters(corpus, mode))
            if unknown:
                raise CorpusError(
                    f"the text has {len(unknown)} character(s) that are not in the model's "
                    f"vocabulary: {', '.join(unknown[:20])}"
                )
        return evaluate_documents(network, document_ids(vocab, docs), vocab.start_id)

    def documents_mode(self) -> str:
        """``none``, ``lines`` or ``blank-lines`` (a model with document markers whose
        settings were not saved, as an export, reads lines)."""
        mode = self.settings.documents
        if self.vocab is not None and self.vocab.markers and mode == "none":
            return "lines"
        return mode

    def score(self, texts: Iterable[Text], *, per_char: bool = False) -> list[dict[str, Any]]:
        """How likely each of ``texts`` is, scored as a line (see :mod:`.scoring`).

        Each text is read from the model's start state after the default prime
        (a newline), and the newline that ends it is scored too (when the
        vocabulary has one), so an empty line is the chance of an empty line
        and every line has at least one character. Each result has
        :meth:`evaluate`'s keys (``loss`` in nats/char, ``bpc``, ``perplexity``,
        ``chars``) and ``log_prob`` (total, nats); ``per_char`` adds
        ``surprise``, ``[[character, nats], ...]``. A text with characters
        outside the vocabulary gets ``{"unscorable": [those characters]}``.

        In documents mode each text is a document: read from the start marker,
        its end marker scored after it (shown as ``""`` in ``surprise``).
        """
        vocab, network = self._require_model()
        if vocab.markers:
            start, end = vocab.start_id, None
        else:
            prime = self.default_prime()  # a newline, if the vocabulary has one
            start = int(vocab.encode(prime)[0])
            end = prime if prime in ("\n", b"\n") else None  # the newline that ends a line
        lines, results = [], []
        for text in texts:
            if vocab.encoding == "bytes" and isinstance(text, str):
                text = text.encode("utf-8")
            line = text + end if end is not None else text
            unknown = vocab.unknown(line)
            results.append({"unscorable": unknown} if unknown else None)
            ids = None if unknown else vocab.encode(line)
            if ids is not None and vocab.markers:
                ids = np.append(ids, vocab.end_id)
            lines.append(None if unknown else (line, ids))
        scorable = [x for x in lines if x is not None]
        nats = iter(surprises(network, [ids for _, ids in scorable], start))
        for i, item in enumerate(lines):
            if item is None:
                continue
            values = next(nats)
            results[i] = summary(values)
            if per_char:  # (the end marker of a document is the empty string)
                results[i]["surprise"] = [[item[0][j : j + 1], float(v)]
                                          for j, v in enumerate(values)]  # fmt: skip
        return results

    def trace(self, text: Text, top_k: int = 5):
        """States, gates and top-k next-character guesses at every character (see :mod:`.trace`)."""
        from .trace import trace_text

        return trace_text(self, text, top_k=top_k)

    # -- files -----------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict, weights: dict | None = None, path="checkpoint") -> CharLM:
        """The model of a checkpoint's JSON ``config`` (:meth:`app_config`), its network
        built without a random draw (``weights`` replace it; their count is checked)."""
        model_config = CharRNNConfig.from_dict(config["model"])
        model_config.validate()
        vocab = CharVocab.from_dict(config["vocab"])
        settings = TrainSettings.from_dict(config.get("train", {}))
        if model_config.vocab_size != len(vocab):
            raise ValueError(
                f"vocab_size {model_config.vocab_size} but {len(vocab)} vocabulary symbols"
            )
        if weights is not None:
            check_parameter_count(model_config.num_parameters(), weights)
        lm = cls(model_config)
        lm.vocab, lm.settings, lm.data = vocab, settings, dict(config.get("data", {}))
        if isinstance(path, (str, os.PathLike)) and Path(path).is_file():
            lm._home = Path(path).parent  # the run directory of a run's checkpoint
        with skip_init():  # the checkpoint's weights replace any draw
            lm.network = CharRNN(model_config)
        return lm

    def app_config(self) -> dict:
        """The JSON ``config`` of a checkpoint: architecture, vocabulary, settings, data."""
        vocab, _ = self._require_model(building=True)
        return {
            "version": CONFIG_VERSION,
            "model": replace(self.config, vocab_size=len(vocab)).to_dict(),
            "vocab": vocab.to_dict(),
            "train": self.settings.to_dict(),
            "data": self.data,
        }

    def _training_text(self, text: Text | os.PathLike | None) -> Text:
        """The training corpus again, from where the run found it (checked by sha256)."""
        source = self.data.get("source")
        if text is None and self._corpus is not None:
            return self._corpus
        if text is not None:
            corpus, _ = _source(text, self.data.get("encoding", "utf-8"))
        elif source == "default":
            corpus = default_corpus(int(self.data.get("max_chars", DEFAULT_CORPUS_CHARS)))
        elif source == "file":
            corpus = read_corpus(self.data["path"], self.data.get("encoding", "utf-8"))
        else:
            raise CorpusError("this model was trained on in-memory text: give the text (or FILE)")
        if "sha256" in self.data and sha256_text(corpus) != self.data["sha256"]:
            where = self.data.get("path", "the default corpus")
            raise CorpusError(f"the training corpus ({where}) has changed since this run started")
        if self.data.get("map_unknown") is not None:  # as the run read it (fine-tuning)
            corpus = _mapped(corpus, self.vocab, self.data["map_unknown"])
        return corpus

    def _require_model(self, building: bool = False) -> tuple[CharVocab, CharRNN]:
        if self.vocab is None or (self.network is None and not building):
            raise RuntimeError("the model is not trained yet: call fit() or CharLM.load()")
        return self.vocab, self.network  # type: ignore[return-value]

    def __repr__(self) -> str:
        arch = ", ".join(
            f"{k}={v!r}" for k, v in self.config.to_dict().items() if k != "vocab_size"
        )
        state = f"vocab={len(self.vocab)}" if self.vocab is not None else "untrained"
        return f"CharLM({arch}; {state})"


def _source(
    text: Text | os.PathLike | None, encoding: str, utf8_hint: str | None = None
) -> tuple[Text, dict[str, Any]]:
    """The corpus and a JSON record of where it came from (for resume and ``eval``);
    ``utf8_hint`` replaces the advice given for a file that is not UTF-8."""
    check_encoding(encoding)
    if text is None:
        corpus: Text = default_corpus()
        info: dict[str, Any] = {"source": "default", "max_chars": DEFAULT_CORPUS_CHARS}
        if encoding == "bytes":
            corpus = corpus.encode("utf-8")
    elif isinstance(text, os.PathLike) or (isinstance(text, str) and _is_file(text)):
        path = Path(text).resolve()
        corpus = read_corpus(path, encoding, *([utf8_hint] if utf8_hint else []))
        info = {"source": "file", "path": str(path)}
    elif isinstance(text, bytes):
        corpus, info, encoding = text, {"source": "inline"}, "bytes"
    elif isinstance(text, str):
        corpus, info = (text.encode("utf-8") if encoding == "bytes" else text), {"source": "inline"}
    else:
        raise TypeError(f"expected a path, str or bytes, received {type(text).__name__}")
    if len(corpus) == 0:
        raise CorpusError("the corpus is empty")
    info.update(encoding=encoding, sha256=sha256_text(corpus), chars=len(corpus))
    return corpus, info


def _characters(corpus: Text, documents: str) -> Text:
    """The characters the model reads: the corpus, or (documents mode) its documents
    without the separators."""
    if documents == "none":
        return corpus
    return corpus[:0].join(split_documents(corpus, documents))


def _vocab_of(corpus: Text, documents: str) -> CharVocab:
    """The vocabulary of a new run: the corpus's characters (in documents mode those of
    its documents, and the two markers)."""
    chars = _characters(corpus, documents)
    if len(chars) == 0:
        raise CorpusError(f"the corpus has no documents (documents {documents})")
    return CharVocab.from_text(chars, markers=documents != "none")


def _split(corpus: Text, vocab: CharVocab, settings: TrainSettings):
    """Training batches (the head of the corpus) and validation ids (its tail); in
    documents mode the batches of the training documents and the held-out documents'
    ids."""
    if settings.documents != "none":
        if not vocab.markers:
            raise CorpusError("documents mode needs a vocabulary with document markers")
        train, val = split_corpus(corpus, settings.documents, settings.val_fraction)
        batches = DocumentBatches(document_ids(vocab, train), settings.batch_size,
                                  vocab.start_id, seed=settings.seed)  # fmt: skip
        return batches, document_ids(vocab, val)
    train_ids, val_ids = split_tail(vocab.encode(corpus), settings.val_fraction)
    batches = StreamBatches(
        train_ids, settings.batch_size, settings.seq_length, what="training text"
    )
    return batches, val_ids[: settings.val_max_chars]


def _large_file(text, documents: str, any_size: bool = False) -> Path | None:
    """The corpus file to stream (one stream, not documents mode: those are read whole),
    when it is at least ``corpus_file.MEMMAP_MIN_BYTES`` long (or ``any_size``)."""
    if documents != "none":
        return None
    if not (isinstance(text, os.PathLike) or (isinstance(text, str) and _is_file(text))):
        return None
    path = Path(text).resolve()
    if not path.is_file():
        return None
    return path if any_size or path.stat().st_size >= corpus_file.MEMMAP_MIN_BYTES else None


def _split_sizes(length: int, val_fraction: float) -> tuple[int, int]:
    """The training head's and the validation tail's lengths (:func:`split_tail`'s)."""
    if not 0 <= val_fraction < 1:
        raise CorpusError(f"val_fraction must be in [0, 1), received {val_fraction}")
    n_val = int(round(length * val_fraction))
    return length - n_val, n_val


def _stream_slice(path, vocab: CharVocab, start: int, stop: int, sha256: str | None) -> np.ndarray:
    """ids ``[start, stop)`` of a corpus file read chunk by chunk (the whole file hashed on
    the way and checked against ``sha256``)."""
    digest, pieces, at = hashlib.sha256(), [], 0
    for raw, text in iter_corpus(path, vocab.encoding):
        digest.update(raw)
        n = len(text)  # code points (a str) or bytes, as the ids count them
        lo, hi = max(start - at, 0), min(stop - at, n)
        if lo < hi:
            pieces.append(vocab.encode(text[lo:hi]))
        at += n
    if sha256 is not None and digest.hexdigest() != sha256:
        raise CorpusError(f"the training corpus ({path}) has changed since this run started")
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int32)


def _check_map_unknown(char: str, vocab: CharVocab, large) -> None:
    """``map_unknown`` is one character of ``vocab`` (a string of one character, or one byte
    given as one character for a bytes vocabulary), on a corpus read in memory."""
    symbol = char.encode("latin-1") if vocab.encoding == "bytes" and len(char) == 1 else char
    if not isinstance(char, str) or len(char) != 1 or vocab.unknown(symbol):
        raise ValueError(f"map_unknown must be one character of the vocabulary it maps into, "
                         f"received {char!r}")  # fmt: skip
    if large is not None:
        raise ValueError("map_unknown needs the corpus in memory: it works on corpora under "
                         "the memory-mapped size (docs/textgen.md)")  # fmt: skip


def _mapped(corpus: Text, vocab: CharVocab, char: str) -> Text:
    """``corpus`` with every symbol outside ``vocab`` replaced by ``char``."""
    unknown = set(corpus) - set(vocab.symbols) if isinstance(corpus, bytes) else {
        c for c in set(corpus) if ord(c) not in vocab.symbols}
    if not unknown:
        return corpus
    if isinstance(corpus, bytes):
        table = bytes(ord(char) if b in unknown else b for b in range(256))
        return corpus.translate(table)
    return corpus.translate({ord(c): char for c in unknown})


def _is_file(text: str) -> bool:
    return "\n" not in text and len(text) < 4096 and os.path.isfile(text)

