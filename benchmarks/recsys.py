"""Recommendation benchmark: every neurank model against `implicit` ALS/BPR, in one run.

    python benchmarks/recsys.py --data-root ../shared/data [--datasets ncf-lastfm,ncf-atoy]

Protocol (printed with every table): NCF leave-one-out, the held-out item ranked among its 99
negatives (given by the NCF files; seeded samples for ml-100k's leave-one-out split by
timestamp), HR@10 and NDCG@10, random tie rule with a fixed seed. Hyperparameters of every model,
peers included, are chosen on a validation split carved from train (each user's latest training
interaction + 99 sampled negatives), never on the test file; the winner is refitted on train.
Reports fit time of that final fit and single-user `recommend` latency over all items.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from neurank.data.interactions import read_interactions, validation_split
from neurank.eval.protocols import sampled_metrics
from neurank.recommend.evaluation import evaluate_sampled
from neurank.recommend.selection import GRIDS, select_model

DATASETS = {"ncf-lastfm": "ncf-lastfm", "ncf-atoy": "ncf-atoy",
            "ncf-ml-latest-small": "ncf-ml-latest-small", "ml-100k": "ml-100k/u.data"}
PAPER = {  # DeepCF (Deng et al., 2019) Table 2, best test epoch: HR@10 / NDCG@10
    "ncf-lastfm": {"CFNet (paper)": (0.8995, 0.6186), "NeuMF (paper)": (0.8868, 0.6007),
                   "ItemPop (paper)": (0.6628, 0.3862)},
    "ncf-atoy": {"CFNet (paper)": (0.4150, 0.2513), "NeuMF (paper)": (0.3650, 0.2155),
                 "ItemPop (paper)": (0.2840, 0.1518)},
}


def latency_ms(fn, users: np.ndarray) -> tuple[float, float]:
    for u in users[:5]:
        fn(u)
    samples = []
    for u in users:
        start = time.perf_counter()
        fn(u)
        samples.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


def implicit_peer(name: str, train, grid: list[dict], seed: int):
    """implicit's own model, tuned on the same validation split; returns (model, config)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    def build(cfg):
        if name == "als":
            return AlternatingLeastSquares(**{"iterations": 15, **cfg}, random_state=seed)
        # one thread, as neurank's BPR: multi-threaded SGD is not reproducible for a seed
        return BayesianPersonalizedRanking(**{"iterations": 100, **cfg}, random_state=seed,
                                           num_threads=1)

    fit, validation = validation_split(train, seed=seed)
    best, best_cfg = -1.0, grid[0]
    for cfg in grid:
        model = build(cfg)
        model.fit(fit.matrix(), show_progress=False)
        score = peer_metrics(model, validation, fit.item_counts())["ndcg@10"]
        if score > best:
            best, best_cfg = score, cfg
    model = build(best_cfg)
    start = time.perf_counter()
    model.fit(train.matrix(), show_progress=False)
    return model, best_cfg, time.perf_counter() - start


def peer_metrics(model, held, popularity: np.ndarray, seed: int = 0) -> dict[str, float]:
    """An implicit model through the same sampled protocol (and tie rule) as neurank's rows."""

    def score_pairs(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return np.einsum("uf,ucf->uc", model.user_factors[users], model.item_factors[items])

    return sampled_metrics(score_pairs, held, popularity, seed=seed, cutoffs=(10,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--families", default=",".join([*GRIDS, "blend"]))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    console = Console(width=140)
    args.out.mkdir(parents=True, exist_ok=True)
    everything = {}
    for name in args.datasets.split(","):
        split = read_interactions(args.data_root / DATASETS[name], seed=args.seed)
        train, test = split.train, split.test
        latency_users = np.arange(min(200, train.num_users))
        rows = []
        for family in args.families.split(","):
            grids = None if family == "blend" else {family: GRIDS[family]}
            selection = select_model(train, family, seed=args.seed, grids=grids,
                                     log=lambda *a: None)
            model, fit_s = selection.model, selection.fit_seconds
            metrics = evaluate_sampled(model, test)
            users = [model.user_ids[u] for u in latency_users]
            lat = latency_ms(lambda u, m=model: m.recommend([u], 10), np.array(users))
            rows.append({"model": f"neurank {family}", "hr@10": metrics["hr@10"],
                         "ndcg@10": metrics["ndcg@10"], "fit_s": fit_s, "latency_ms": lat,
                         "chosen": selection.chosen.config})
            console.print(f"{name} {family}: {rows[-1]['hr@10']:.4f} / {rows[-1]['ndcg@10']:.4f}"
                          f" fit {fit_s:.1f}s {selection.chosen.config}")
        for peer, grid in (("als", GRIDS["als"]), ("bpr", GRIDS["bpr"])):
            model, cfg, fit_s = implicit_peer(peer, train, grid, args.seed)
            metrics = peer_metrics(model, test, train.item_counts())
            matrix = train.matrix()
            lat = latency_ms(lambda u, m=model, x=matrix: m.recommend(int(u), x[int(u)], N=10),
                             latency_users)
            rows.append({"model": f"implicit {peer} (peer)", **metrics, "fit_s": fit_s,
                         "latency_ms": lat, "chosen": cfg})
        table = Table(title=f"{name} · {split.description} · HR@10 / NDCG@10, random ties "
                            f"(seed {args.seed}) · tuned on validation carved from train",
                      title_justify="left")
        for column in ("model", "HR@10", "NDCG@10", "fit s", "rec p50 ms", "rec p95 ms"):
            table.add_column(column, justify="left" if column == "model" else "right",
                             no_wrap=True)
        best_hr = max(r["hr@10"] for r in rows)
        best_ndcg = max(r["ndcg@10"] for r in rows)
        for r in rows:
            table.add_row(r["model"], ("*" if r["hr@10"] == best_hr else "") + f"{r['hr@10']:.4f}",
                          ("*" if r["ndcg@10"] == best_ndcg else "") + f"{r['ndcg@10']:.4f}",
                          f"{r['fit_s']:.1f}", f"{r['latency_ms'][0]:.2f}",
                          f"{r['latency_ms'][1]:.2f}")
        for paper_row, (hr, ndcg) in PAPER.get(name, {}).items():
            table.add_row(paper_row, f"{hr:.4f}", f"{ndcg:.4f}", "", "", "")
        console.print(table)
        everything[name] = {"protocol": split.description, "rows": rows}
        (args.out / "recsys.json").write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
