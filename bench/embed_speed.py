"""Words per second of rnnkit's word2vec kernel and gensim's ``Word2Vec``, same settings,
each library in its own process (see bench/speed.py for why one library per process).

Usage::

    .venv/bin/python bench/embed_speed.py TEXT [--threads 2] [--dim 100] [--window 5]
        [--negative 5] [--min-count 5] [--sample 1e-3] [--epochs 1] [--cbow] [--json OUT]

TEXT is a plain text file (text8, for instance); words are split on white space and each
line is a sentence for both libraries. ``--threads`` sets gensim's ``workers``, rnnkit's
(``rnnkit.embed.train.Workers``: the threads that train a chunk's parts at once) and the
thread pools of both processes; gensim's figure is the
words it trained (before subsampling) over its training time, rnnkit's the corpus words of
its chunks over the kernel's time (vocabulary and encoding excluded in both). Runs only
when asked: no test times it (a smoke run on a tiny file is in tests/test_embed.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def run_rnnkit(args) -> dict:
    from rnnkit.embed.model import (
        EmbedConfig,
        WordVectors,
        WordVocab,
        count_words,
        encode_lines,
        read_lines,
    )
    from rnnkit.embed.train import Workers

    config = EmbedConfig(dim=args.dim, window=args.window, negative=args.negative,
                         min_count=args.min_count, sample=args.sample, cbow=args.cbow)  # fmt: skip
    lines = read_lines([args.text])
    vocab = WordVocab.build(count_words(lines, config.tokenizer), config.min_count, None)
    ids, sentences = encode_lines(lines, config.tokenizer, vocab)
    model = WordVectors(len(vocab), config.dim)
    keep, cum = vocab.keep_probabilities(config.sample), vocab.noise_distribution()
    chunk = 50_000
    workers = Workers(args.threads)
    W_in, W_out = model.W_in.data, model.W_out.data
    workers.train(ids[:100], sentences[:100], keep, W_in, W_out, cum, config, 0.0, (0,))  # compile
    words, start = 0, time.perf_counter()
    for epoch in range(args.epochs):
        for index, at in enumerate(range(0, len(ids), chunk)):
            workers.train(ids[at : at + chunk], sentences[at : at + chunk], keep, W_in, W_out,
                          cum, config, 0.025, (0, epoch, index))  # fmt: skip
            words += len(ids[at : at + chunk])
    seconds = time.perf_counter() - start
    return {"library": "rnnkit", "words": words, "seconds": seconds, "threads": args.threads,
            "words_per_s": words / seconds, "vocab": len(vocab)}  # fmt: skip


def run_gensim(args) -> dict:
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    model = Word2Vec(vector_size=args.dim, window=args.window, negative=args.negative, hs=0,
                     min_count=args.min_count, sample=args.sample, sg=0 if args.cbow else 1,
                     workers=args.threads, seed=0)  # fmt: skip
    model.build_vocab(LineSentence(args.text))
    start = time.perf_counter()
    model.train(LineSentence(args.text), total_examples=model.corpus_count,
                epochs=args.epochs)  # fmt: skip
    seconds = time.perf_counter() - start
    words = model.corpus_total_words * args.epochs
    return {"library": "gensim", "words": words, "seconds": seconds,
            "words_per_s": words / seconds, "vocab": len(model.wv)}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--only", choices=("rnnkit", "gensim"), help="run one library, here")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    if args.only:  # a worker: one library in this process
        result = (run_rnnkit if args.only == "rnnkit" else run_gensim)(args)
        print(json.dumps(result))
        return 0
    rows = []
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "OPENBLAS_NUM_THREADS": str(args.threads)}  # fmt: skip
    for library in ("rnnkit", "gensim"):
        done = subprocess.run([sys.executable, __file__, *(argv or sys.argv[1:]), "--only",
                               library], capture_output=True, text=True, env=env)  # fmt: skip
        if done.returncode != 0:
            print(f"{library}: failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for row in rows:
        print(f"{row['library']:>7}: {row['words']:>12,} words in {row['seconds']:8.2f} s = "
              f"{row['words_per_s']:>12,.0f} words/s (vocabulary {row['vocab']:,})")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": rows}, f, indent=1)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
