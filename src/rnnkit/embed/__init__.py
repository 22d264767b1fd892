"""Word vectors: word2vec's skip-gram (or CBOW) with negative sampling, from scratch.

The parts of the application (docs/shape.md): the model config
(:class:`EmbedConfig`: dim, window, negative, min_count, sample, cbow, max_vocab,
lowercase), the training settings (:class:`EmbedSettings`, a
:class:`~rnnkit.training.TrainerOptions` with word2vec's defaults), the network
(:class:`WordVectors`: ``W_in`` and ``W_out``) and the task the shared trainer runs
(:class:`EmbedTask`: one chunk of the corpus per step, through the compiled kernel of
:mod:`rnnkit.embed.sgns`). :class:`Word2Vec` is the application (a
:class:`rnnkit.training.Application`: ``Word2Vec(dim=100).fit(files, out=run)``,
``Word2Vec.load(run)``); :func:`train` is the same in one call;
:class:`KeyedVectors` reads vectors back (run or word2vec text file) for neighbours and
analogies. See docs/embed.md.
"""

from .api import APP, KeyedVectors, Word2Vec, export_word2vec, train
from .model import EmbedConfig, WordVectors, WordVocab
from .train import DEFAULT_STOP, EmbedSettings, EmbedTask

__all__ = [
    "APP", "DEFAULT_STOP", "EmbedConfig", "EmbedSettings", "EmbedTask", "KeyedVectors",
    "Word2Vec", "WordVectors", "WordVocab", "export_word2vec", "train",
]  # fmt: skip
