"""Text handling: tokenizers, vocabularies, readers for labelled-text formats, word vectors, batching."""
