"""Text handling: tokenizers, vocabularies, file readers, word vectors, batching, corpora and downloads."""
