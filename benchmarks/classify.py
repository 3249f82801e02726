"""Multi-label classification benchmark: neurank classifiers vs scikit-learn peers, one run.

    python benchmarks/classify.py --data ../shared/data/goemotions [--finetuned CKPT]

Every row is scored by the same function: probabilities on dev -> per-label thresholds
(`tune_thresholds`) -> micro/macro F1 on test at those thresholds (`multilabel_metrics`), and
at a flat 0.5 for reference. Rows:
  - TF-IDF (1-2 grams) + class-balanced one-vs-rest logistic regression (peer)
  - frozen MiniLM embeddings + one-vs-rest logistic regression (peer; same vectors as below)
  - neurank frozen: the same vectors + a trained MLP head (`classify train --mode frozen`)
  - neurank finetune: checkpoints of `neurank classify train --mode finetune` (--finetuned;
    trained separately: ~50 min for 3 epochs on a 2-core CPU), on ONNX int8 and on torch
  - augmentation, measured: neurank frozen on a 2,000-text slice of train, with and without
    growing it to 8,000 texts by `--augment-to`
Also: train time, one-text predict p50/p95 (200 texts, after warm-up) and batch throughput,
and a per-label F1 plot (PNG). Writes JSON + PNG under --work.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from neurank.classify import Classifier, read_labelled, train_classifier, tune_thresholds
from neurank.classify.data import LabelledTexts, label_order
from neurank.config import ClassifierConfig
from neurank.encoders import load_encoder
from neurank.eval.classification import multilabel_metrics

LATENCY_TEXTS = 200


def score(name: str, dev_p: np.ndarray, test_p: np.ndarray, dev_y: np.ndarray,
          test_y: np.ndarray, labels: list[str], **extra: object) -> dict:
    """The one scoring function of every row."""
    thresholds = tune_thresholds(dev_p, dev_y, labels)
    tuned, per_label = multilabel_metrics(test_y, test_p >= thresholds.as_array(labels), labels)
    flat, _ = multilabel_metrics(test_y, test_p >= 0.5, labels)
    return {"system": name, "macro_f1": tuned["macro_f1"], "micro_f1": tuned["micro_f1"],
            "macro_f1@0.5": flat["macro_f1"], "per_label_f1": {k: v["f1"]
                                                              for k, v in per_label.items()},
            **extra}


def latency(predict_one, predict_batch, texts: list[str]) -> dict[str, float]:
    for text in texts[:10]:
        predict_one(text)
    samples = []
    for text in texts[:LATENCY_TEXTS]:
        start = time.perf_counter()
        predict_one(text)
        samples.append((time.perf_counter() - start) * 1e3)
    start = time.perf_counter()
    for i in range(0, len(texts), 64):
        predict_batch(texts[i:i + 64])
    return {"p50_ms": float(np.percentile(samples, 50)), "p95_ms": float(np.percentile(samples, 95)),
            "batch_texts_per_s": len(texts) / (time.perf_counter() - start)}


def embeddings(work: Path, encoder, splits: dict[str, LabelledTexts]) -> dict[str, np.ndarray]:
    """Encoder vectors of each split, cached (encoding GoEmotions takes a few minutes)."""
    cache = work / f"embeddings-{encoder.backend}.npz"
    if cache.exists():
        return dict(np.load(cache))
    vectors = {name: encoder.encode(data.texts, show_progress=True) for name, data in splits.items()}
    np.savez(cache, **vectors)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions-style folder")
    parser.add_argument("--finetuned", type=Path, nargs="*", default=[],
                        help="checkpoints of `neurank classify train --mode finetune`")
    parser.add_argument("--backends", default="onnx,torch",
                        help="runtimes the fine-tuned checkpoints are scored on")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "results" / "classify")
    args = parser.parse_args()
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    torch.set_num_threads(2)
    console = Console(width=160)
    args.work.mkdir(parents=True, exist_ok=True)
    splits = {name: read_labelled(args.data, name) for name in ("train", "dev", "test")}
    labels = label_order(splits["train"])
    truth = {name: data.matrix(labels) for name, data in splits.items()}
    console.print(f"{args.data.name}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
                  + f" texts, {len(labels)} labels")
    rows = []
    test_texts = splits["test"].texts

    def lr() -> OneVsRestClassifier:
        return OneVsRestClassifier(LogisticRegression(max_iter=1000, class_weight="balanced"),
                                   n_jobs=1)

    # --- peer: TF-IDF + logistic regression
    start = time.perf_counter()
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = tfidf.fit_transform(splits["train"].texts)
    model = lr().fit(x_train, truth["train"])
    seconds = time.perf_counter() - start
    rows.append(score("TF-IDF 1-2g + OvR logistic regression (scikit-learn)",
                      model.predict_proba(tfidf.transform(splits["dev"].texts)),
                      model.predict_proba(tfidf.transform(test_texts)), truth["dev"],
                      truth["test"], labels, train_s=seconds,
                      **latency(lambda t: model.predict_proba(tfidf.transform([t])),
                                lambda b: model.predict_proba(tfidf.transform(b)), test_texts)))
    console.print(rows[-1]["system"], f"{rows[-1]['macro_f1']:.4f}")

    # --- shared frozen vectors (ONNX int8 MiniLM, as neurank's frozen mode uses them)
    encoder = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "onnx")
    start = time.perf_counter()
    vectors = embeddings(args.work, encoder, splits)
    encode_s = time.perf_counter() - start

    start = time.perf_counter()
    model_e = lr().fit(vectors["train"], truth["train"])
    rows.append(score("frozen MiniLM + OvR logistic regression (scikit-learn)",
                      model_e.predict_proba(vectors["dev"]), model_e.predict_proba(vectors["test"]),
                      truth["dev"], truth["test"], labels, train_s=time.perf_counter() - start,
                      encode_s=encode_s,
                      **latency(lambda t: model_e.predict_proba(encoder.encode_queries([t])),
                                lambda b: model_e.predict_proba(encoder.encode(b)), test_texts)))
    console.print(rows[-1]["system"], f"{rows[-1]['macro_f1']:.4f}")

    # --- neurank frozen (MLP head on the same vectors), plain and with rare labels weighted
    for pos_weight in ("none", "sqrt"):
        config = ClassifierConfig.for_mode("frozen", encoder="onnx", pos_weight=pos_weight)
        folder = args.work / f"goemotions-frozen-{pos_weight}"
        trained = train_classifier(splits["train"], splits["dev"], config, folder,
                                   embeddings=(vectors["train"], vectors["dev"]))
        frozen = Classifier(folder)
        rows.append(score(f"neurank classify --mode frozen (MLP head), pos_weight {pos_weight}",
                          frozen.probabilities(splits["dev"].texts),
                          frozen.probabilities(test_texts), truth["dev"], truth["test"], labels,
                          train_s=trained.seconds, encode_s=encode_s,
                          **latency(lambda t, c=frozen: c.predict([t]), frozen.predict,
                                    test_texts)))
        console.print(rows[-1]["system"], f"{rows[-1]['macro_f1']:.4f}")

    # --- neurank finetune (trained separately), on each runtime
    for checkpoint in args.finetuned:
        manifest = json.loads((checkpoint / "manifest.json").read_text())
        history = manifest["history"]
        settings = manifest["config"]
        for backend in args.backends.split(","):
            classifier = Classifier(checkpoint, encoder=backend)
            name = (f"neurank classify --mode finetune, {len(history)} epochs, pos_weight "
                    f"{settings['pos_weight']} ({backend})")
            rows.append(score(name, classifier.probabilities(splits["dev"].texts,
                                                             show_progress=True),
                              classifier.probabilities(test_texts, show_progress=True),
                              truth["dev"], truth["test"], labels,
                              train_s=history[-1]["seconds"], epochs=len(history),
                              **latency(lambda t, c=classifier: c.predict([t]),
                                        classifier.predict, test_texts)))
            console.print(rows[-1]["system"], f"{rows[-1]['macro_f1']:.4f}")

    # --- augmentation on a small training set
    rng = np.random.default_rng(0)
    small_rows = rng.choice(len(splits["train"]), size=2000, replace=False)
    small = LabelledTexts([splits["train"].texts[i] for i in small_rows],
                          [splits["train"].labels[i] for i in small_rows], "train slice",
                          splits["train"].label_set)
    for target in (None, 8000):
        config = ClassifierConfig.for_mode("frozen", encoder="onnx", augment_to=target)
        small_vectors = None if target else (vectors["train"][small_rows], vectors["dev"])
        trained = train_classifier(small, splits["dev"], config, args.work / "small",
                                   embeddings=small_vectors)
        classifier = Classifier(args.work / "small")
        name = f"neurank frozen, 2,000 train texts{' + augmented to 8,000' if target else ''}"
        rows.append(score(name, classifier.probabilities(splits["dev"].texts),
                          classifier.probabilities(test_texts), truth["dev"], truth["test"],
                          labels, train_s=trained.seconds))
        console.print(rows[-1]["system"], f"{rows[-1]['macro_f1']:.4f}")

    table = Table(title=f"{args.data.name} test ({len(test_texts)} texts, {len(labels)} labels); "
                        "thresholds tuned per label on dev for every row", title_justify="left")
    columns = ("system", "macro-F1", "micro-F1", "macro-F1 @0.5", "train s", "p50 ms", "p95 ms",
               "batch texts/s")
    for column in columns:
        table.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        table.add_row(row["system"], f"{row['macro_f1']:.4f}", f"{row['micro_f1']:.4f}",
                      f"{row['macro_f1@0.5']:.4f}", f"{row['train_s']:.0f}",
                      *(f"{row[k]:.2f}" if k in row else "-" for k in ("p50_ms", "p95_ms")),
                      f"{row['batch_texts_per_s']:.0f}" if "batch_texts_per_s" in row else "-")
    console.print(table)
    console.print(f"frozen vectors: {encode_s:.0f} s to encode all splits (0 when cached)")
    plot_per_label(rows, labels, args.work / "per_label_f1.png")
    out = args.work / "classify.json"
    out.write_text(json.dumps({"dataset": args.data.name, "labels": labels, "rows": rows},
                              indent=2))
    console.print(f"wrote {out} and {args.work / 'per_label_f1.png'}")


def plot_per_label(rows: list[dict], labels: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if "2,000" not in r["system"] and "(torch)" not in r["system"]]
    best_frozen = max(shown[2:4], key=lambda r: r["macro_f1"])
    best_tuned = max(shown[4:] or shown[2:4], key=lambda r: r["macro_f1"])
    shown = [*shown[:2], best_frozen, best_tuned]  # the peers, neurank's best of each mode
    order = sorted(labels, key=lambda x: -shown[-1]["per_label_f1"][x])
    figure, axes = plt.subplots(figsize=(14, 5))
    width = 0.8 / len(shown)
    for i, row in enumerate(shown):
        axes.bar(np.arange(len(order)) + i * width, [row["per_label_f1"][x] for x in order],
                 width, label=f"{row['system']} (macro {row['macro_f1']:.3f})")
    axes.set_xticks(np.arange(len(order)) + 0.4 - width / 2, order, rotation=60, ha="right")
    axes.set_ylabel("test F1 at dev-tuned threshold")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
