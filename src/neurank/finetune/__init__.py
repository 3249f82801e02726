"""Fine-tuning sentence encoders with sentence-transformers' own trainer (MNRL + Matryoshka,
CoSENT for scored pairs, BM25 hard negatives, LoRA, curriculum), behind a baseline gate."""
