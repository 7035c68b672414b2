"""Teaching the bundled model the show: the duel corpus, and LoRA training on it."""
