"""Encoder fine-tuning benchmark: base vs fine-tuned MiniLM, through the command line.

    python benchmarks/finetune.py --data-root ../shared/data [--work benchmarks/results/finetune]

Steps (each skipped when its output exists, so an interrupted run resumes):
  1. `neurank finetune --dataset scifact --split train` (MNRL + Matryoshka, one BM25 hard
     negative, 3 epochs; `--force` so a worse model is still measured, the gate's verdict is
     reported), the same with plain MNRL (`--matryoshka-dims none`, "scifact-plain") and with
     plain MNRL and a 3% gate carve ("scifact-plain-97"), the ablations of scifact-plain
     (LoRA; no hard negatives; an auto curriculum, 3 and 1 epochs per phase), and
     `neurank finetune --pairs stsb/train.tsv` (CoSENT + Matryoshka).
  2. SciFact test, NDCG@10: `neurank index` with the base and the fine-tuned models, fusion tuned
     on train (`neurank tune`; for a fine-tuned model only on the train queries its gate held
     out, `--held-out-of`), `neurank evaluate --mode dense,hybrid`; on the plain-MNRL model's
     collection also the learned ranker (`neurank ranker train`, then `--mode learned`).
  3. STS-B test Spearman / ROC-AUC / F1 (`neurank finetune evaluate`) of the base, the STS-B
     model and the SciFact model (forgetting).
  4. Matryoshka: NDCG@10 of exact cosine retrieval on SciFact test with embeddings truncated to
     384..32 dimensions and renormalised, base vs fine-tuned.
Training time on this CPU is read from each checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from cli_steps import console, ndcg_by_mode, neurank, step
from rich.table import Table

DIMS = (384, 256, 128, 64, 32)
# name -> (checkpoint folder, `neurank finetune` flags); the names key the cached results
SCIFACT_VARIANTS = {
    "scifact-tuned": ("scifact-mnrl", []),
    "scifact-plain": ("scifact-mnrl-plain", ["--matryoshka-dims", "none"]),
    "scifact-plain-97": ("scifact-mnrl-plain-97", ["--matryoshka-dims", "none",
                                                    "--validation-fraction", "0.03"]),
    # ablations of scifact-plain, one change each
    "plain-lora": ("scifact-mnrl-plain-lora", ["--matryoshka-dims", "none", "--lora"]),
    "plain-no-hard-negatives": ("scifact-mnrl-plain-no-hn", ["--matryoshka-dims", "none",
                                                             "--no-hard-negatives"]),
    # easy -> medium -> hard, 3 epochs per phase: each pair is seen 3 times, as in
    # scifact-plain (same compute); and 1 epoch per phase, a third of it
    "plain-curriculum": ("scifact-mnrl-plain-curriculum", ["--matryoshka-dims", "none",
                                                           "--curriculum", "auto"]),
    "plain-curriculum-1": ("scifact-mnrl-plain-curriculum-1", ["--matryoshka-dims", "none",
                                                               "--curriculum", "auto",
                                                               "--epochs", "1"]),
}


def collection_metrics(work: Path, name: str, scifact: Path, model: str,
                       trained_on_train: bool) -> dict[str, float]:
    folder = work / f"collection-{name}"
    report = work / f"evaluate-{name}.json"
    step(folder, "index", scifact, "--out", folder, "--model", model)
    if not report.exists():
        # a model fine-tuned on train queries overrates itself on them: tune fusion on the
        # queries its gate held out
        held_out = ["--held-out-of", model] if trained_on_train else []
        neurank("tune", folder, "--dataset", scifact, "--split", "train", *held_out)
        neurank("evaluate", folder, "--dataset", scifact, "--split", "test", "--mode",
                "dense,hybrid", "--json", report)
    return ndcg_by_mode(report)


def ranker_on_top(work: Path, name: str, scifact: Path) -> float:
    """SciFact test NDCG@10 of the learned ranker (default neural, trained on SciFact train)
    over a fine-tuned model's collection."""
    folder, report = work / f"collection-{name}", work / f"evaluate-{name}-learned.json"
    if not report.exists():
        neurank("ranker", "train", folder, "--dataset", scifact, "--split", "train")
        neurank("evaluate", folder, "--dataset", scifact, "--split", "test", "--mode", "learned",
                "--json", report)
    return ndcg_by_mode(report)["learned"]


def matryoshka(work: Path, scifact: Path, models: dict[str, str]) -> dict[str, dict[int, float]]:
    from sentence_transformers import SentenceTransformer

    from neurank.data.beir import read_beir
    from neurank.encoders.resolve import resolve_model
    from neurank.encoders.truncated import truncate_vectors
    from neurank.eval.metrics import evaluate_run
    from neurank.finetune.data import document_text

    test = read_beir(scifact, "test", load_corpus=True)
    assert test.corpus is not None
    ids = [d.id for d in test.corpus]
    qids = [q for q in test.queries if q in test.qrels]
    out: dict[str, dict[int, float]] = {}
    for name, model in models.items():
        cache = work / f"embeddings-{name}.npz"
        if not cache.exists():
            encoder = SentenceTransformer(resolve_model(model), device="cpu")
            docs = encoder.encode([document_text(d.title, d.text) for d in test.corpus],
                                  batch_size=32, show_progress_bar=True)
            queries = encoder.encode([test.queries[q] for q in qids], batch_size=64)
            np.savez(cache, docs=docs, queries=queries)
        arrays = np.load(cache)
        out[name] = {}
        for dim in DIMS:
            d = truncate_vectors(arrays["docs"], dim)  # what `index --dim` stores
            q = truncate_vectors(arrays["queries"], dim)
            run = {}
            for qid, row in zip(qids, q @ d.T, strict=True):
                top = np.argsort(-row)[:100]
                run[qid] = {ids[i]: float(row[i]) for i in top}
            means, _ = evaluate_run(run, {q: test.qrels[q] for q in qids}, ["ndcg@10"])
            out[name][dim] = means["ndcg@10"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/finetune"))
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    scifact, stsb = args.data_root / "scifact", args.data_root / "stsb"
    base = "sentence-transformers/all-MiniLM-L6-v2"
    sts_tuned = work / "stsb-cosent"
    variants = {name: work / folder for name, (folder, _) in SCIFACT_VARIANTS.items()}
    for name, (_, flags) in SCIFACT_VARIANTS.items():
        epochs = [] if "--epochs" in flags else ["--epochs", args.epochs]
        step(variants[name], "finetune", "--dataset", scifact, "--split", "train", *epochs,
             *flags, "--out", variants[name], "--force")
    step(sts_tuned, "finetune", "--pairs", stsb / "train.tsv", "--epochs", 2, "--out",
         sts_tuned, "--force")
    sts = {}
    for name, model in (("base", base), ("stsb-tuned", sts_tuned), *variants.items()):
        report = work / f"sts-{name}.json"
        step(report, "finetune", "evaluate", model, "--pairs", stsb / "test.tsv", "--json",
             report)
        sts[name] = json.loads(report.read_text())["metrics"]
    retrieval = {"base": collection_metrics(work, "base", scifact, base, False)}
    for name, folder in variants.items():
        retrieval[name] = collection_metrics(work, name.removeprefix("scifact-"), scifact,
                                             str(folder), True)
    retrieval["scifact-plain"]["learned"] = ranker_on_top(work, "plain", scifact)
    dims = matryoshka(work, scifact, {"base": base,
                                      "scifact-tuned": str(variants["scifact-tuned"])})
    meta = {name: json.loads((folder / "manifest.json").read_text())
            for name, folder in (*variants.items(), ("stsb-tuned", sts_tuned))}

    table = Table(title="SciFact test NDCG@10 (fine-tuned on SciFact train; fusion tuned on "
                        "train) and STS-B test (fine-tuned on STS-B train)", title_justify="left")
    for column in ("model", "dense", "hybrid", "+ ranker", "STS-B Spearman", "ROC-AUC", "F1",
                   "train s", "gate (validation)"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name in ("base", *variants, "stsb-tuned"):
        r = retrieval.get(name, {})
        m = meta.get(name, {})
        gate = m.get("validation", {})
        verdict = (f"{gate['primary']} {gate['base'][gate['primary']]:.4f} -> "
                   f"{gate['finetuned'][gate['primary']]:.4f}") if gate else ""
        table.add_row(name, *(f"{r[k]:.4f}" if k in r else "" for k in ("dense", "hybrid", "learned")),
                      *(f"{sts[name][k]:.4f}" for k in ("spearman", "roc_auc", "f1")),
                      f"{m['seconds']:.0f}" if m else "", verdict)
    console.print(table)
    dim_table = Table(title="Matryoshka: SciFact test NDCG@10 (exact cosine) by dimension",
                      title_justify="left")
    dim_table.add_column("model")
    for dim in DIMS:
        dim_table.add_column(str(dim), justify="right")
    for name, values in dims.items():
        dim_table.add_row(name, *(f"{values[d]:.4f}" for d in DIMS))
    console.print(dim_table)
    (work / "finetune.json").write_text(json.dumps(
        {"retrieval": retrieval, "sts": sts, "matryoshka": dims,
         "train_seconds": {k: v["seconds"] for k, v in meta.items()},
         "gate": {k: v["validation"] for k, v in meta.items()}}, indent=2))


if __name__ == "__main__":
    main()
