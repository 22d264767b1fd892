"""Text handling: tokenizers, vocabularies, file readers, vectors, batching, corpora, downloads."""
