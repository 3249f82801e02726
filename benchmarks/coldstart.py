"""Cold-start benchmark on MovieLens 100K: recommending to users the models have never seen.

    python benchmarks/coldstart.py --data-root ../shared/data [--seeds 0,1,2,3,4]

Protocol (printed with the tables): 20% of users held out entirely (seeded), positives =
ratings >= 4, every item ranked for each held-out user from its profile (age, gender,
occupation, zip) alone; HR@10, NDCG@10, Recall@10, mean +- std over seeds. Every row goes
through `evaluate_cold_users`. The few-interactions curve reveals n of a held-out user's liked
items (seeded) and judges the rest, the revealed ones excluded from the ranking.
Also: train time on this CPU and p95 of one profile's recommendation over all items.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from neurank.data.interactions import read_interaction_log, read_interactions, validation_split
from neurank.data.profiles import read_movielens_items, read_movielens_users
from neurank.eval.protocols import full_ranking_metrics
from neurank.recommend import MODELS
from neurank.recommend.blend import BlendConfig, Component, blend_of_fitted, choose_weights
from neurank.recommend.coldstart import evaluate_cold_users, holdout_users, positives
from neurank.recommend.evaluation import evaluate_sampled
from neurank.recommend.request import RecommendRequest, answer, chain_scores
from neurank.recommend.selection import GRIDS, select_model
from neurank.topk import top_indices

BASELINES = ("pop", "pop-segment", "profile-knn")
ABLATIONS = {
    "profile": {},
    "profile - augmentation": {"augment": None},
    "profile - category & rating heads": {"loss_weights": {"score": 1.0}},
    "profile - text features": {"use_text": False},
    "profile - segment prior": {"use_prior": False},
}
KNOWN = (1, 3, 5)


def fit(family: str, overrides: dict, split, users, items, seed: int):
    cls = MODELS[family]
    if family == "profile":
        config = cls.Config(**overrides)
        config.trainer.seed = seed
        config.trainer.show_progress = False
    else:
        config = cls.Config()
    model = cls(config)
    if hasattr(model, "with_features"):
        model.with_features(users, items, ratings=split.train)
    else:
        model.catalog = items
    start = time.perf_counter()
    model.fit(positives(split.train, 4.0))
    return model, time.perf_counter() - start


def known_items_curve(models: dict, split, users, seed: int) -> dict[str, dict[int, float]]:
    """NDCG@10 on the unrevealed liked items after revealing n, per chain step."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[int, float]] = {}
    for n in KNOWN:
        judged = [u for u in split.held_out if len(split.relevant[u]) > n]
        revealed = {u: list(rng.choice(split.relevant[u], size=n, replace=False)) for u in judged}
        for name, (model, use_profile, use_items) in models.items():
            tops, relevant = [], []
            for u in judged:
                request = RecommendRequest(profile=users.get(u) if use_profile else None,
                                           known_items=revealed[u] if use_items else [])
                scores, _, _, _ = chain_scores(model, request)
                scores = scores.copy()
                hidden = model._items(revealed[u])
                scores[hidden] = -np.inf  # revealed items are neither hits nor candidates
                tops.append(model.top_items(scores[None, :], None, 10, False)[0])
                relevant.append(np.array([model.item_index[i] for i in split.relevant[u]
                                          if i not in revealed[u]]))
            out.setdefault(name, {})[n] = full_ranking_metrics(np.array(tops), relevant,
                                                               10)["ndcg@10"]
    return out


def warm_blend(folder: Path, users, items, console: Console) -> dict[str, dict[str, float]]:
    """Issue 3's warm protocol (leave-one-out by time, 99 sampled negatives, seed 0): the
    best collaborative model (`--model blend`) alone, the profile model alone, and both blended
    with a weight chosen on the validation split carved from train."""
    split = read_interactions(folder / "u.data", seed=0)
    selection = select_model(split.train, "blend", budget_s=600, seed=0, log=lambda *_: None)
    fit_part, validation = validation_split(split.train, seed=0)
    config = MODELS["profile"].Config()
    config.trainer.show_progress = False

    def profile_on(data):
        model = MODELS["profile"](config)
        return model.with_features(users, items).fit(data)

    collaborative_fit = MODELS["blend"](selection.model.config).fit(fit_part)
    weights, _ = choose_weights([collaborative_fit, profile_on(fit_part)], validation)
    profile = profile_on(split.train)
    blended = blend_of_fitted([selection.model, profile], BlendConfig(components=[
        Component(family="blend", config={}, weight=weights[0]),
        Component(family="profile", config={}, weight=weights[1])]))
    rows = {"collaborative (" + selection.chosen.describe() + ")": selection.model,
            "profile model alone": profile,
            f"blend {weights[0]:.1f} x collaborative + {weights[1]:.1f} x profile": blended}
    table = Table(title="ML-100K warm users: leave-one-out by timestamp, held-out item vs 99 "
                        "sampled negatives (seed 0), weights chosen on validation",
                  title_justify="left")
    for column in ("model", "HR@10", "NDCG@10"):
        table.add_column(column, justify="left" if column == "model" else "right")
    out = {}
    for name, model in rows.items():
        metrics = evaluate_sampled(model, split.test)
        out[name] = metrics
        table.add_row(name, f"{metrics['hr@10']:.4f}", f"{metrics['ndcg@10']:.4f}")
    console.print(table)
    return out


def training_size_curve(data, users, items, seeds: list[int], fractions: list[float],
                        console: Console) -> dict[str, Any]:
    """NDCG@10 of the baselines and the profile model trained on a seeded share of the
    training users, judged on the same held-out users: how the profile model's lead over the
    best baseline grows with the number of users it learns from."""
    families = (*BASELINES, "profile")
    scores: dict[tuple[float, str], list[float]] = {}
    sizes: dict[float, list[int]] = {}
    held_out_popularity = []
    for seed in seeds:
        split = holdout_users(data, 0.2, seed, min_rating=4.0, items=items.ids)
        held_out_popularity.append(others_popularity_ndcg(split))
        order = np.random.default_rng([seed, 1]).permutation(split.train.num_users)
        for fraction in fractions:
            kept = np.zeros(split.train.num_users, dtype=bool)
            kept[order[:round(fraction * len(order))]] = True
            sizes.setdefault(fraction, []).append(int(kept.sum()))
            part = dataclasses.replace(split, train=split.train.of_users(kept))
            for family in families:
                model, _ = fit(family, {}, part, users, items, seed)
                scores.setdefault((fraction, family), []).append(
                    evaluate_cold_users(model, split, users)["ndcg@10"])
            console.print(f"seed {seed} {fraction:.0%} of training users done")
    table = Table(title=f"ML-100K cold users (seeds {','.join(map(str, seeds))}): NDCG@10 when "
                        "the models learn from a seeded share of the training users",
                  title_justify="left")
    for column in ("training users", *families, "profile x best baseline"):
        table.add_column(column, justify="right")
    out: dict[str, Any] = {}
    for fraction in fractions:
        means = {f: float(np.mean(scores[(fraction, f)])) for f in families}
        ratio = means["profile"] / max(means[f] for f in BASELINES)
        out[f"{fraction:g}"] = {**means, "users": float(np.mean(sizes[fraction])),
                                "ratio": ratio}
        table.add_row(f"{np.mean(sizes[fraction]):.0f} ({fraction:.0%})",
                      *(f"{means[f]:.4f}" for f in families), f"{ratio:.3f}")
    console.print(table)
    out["held_out_popularity"] = float(np.mean(held_out_popularity))
    console.print("the held-out users ranked by how many *other* held-out users liked each item "
                  f"(popularity measured on them, not on training): NDCG@10 "
                  f"{np.mean(held_out_popularity):.4f}")
    return out


def others_popularity_ndcg(split) -> float:
    """NDCG@10 of ranking each held-out user's items by the other held-out users' likes: how
    well popularity could do if it were measured on the judged users themselves."""
    index = split.train.item_index
    judged = [u for u in split.held_out if split.relevant[u]]
    relevant = [np.array([index[i] for i in split.relevant[u]]) for u in judged]
    counts = np.bincount(np.concatenate(relevant), minlength=len(index)).astype(np.float64)
    tops = []
    for items in relevant:
        others = counts.copy()
        others[items] -= 1
        tops.append(top_indices(others, 10))
    return full_ranking_metrics(np.array(tops), relevant, 10)["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/coldstart.json"))
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--variants", type=Path, default=None,
                        help="JSON {name: ProfileConfig overrides} run instead of the ablations "
                             "(must name 'profile'), e.g. benchmarks/coldstart_variants.json")
    parser.add_argument("--warm", action="store_true",
                        help="only the warm-user blend (issue 3's protocol)")
    parser.add_argument("--train-fractions", default=None,
                        help="only the training-size curve, e.g. 0.25,0.5,1 (shares of the "
                             "training users the models learn from)")
    args = parser.parse_args()
    folder = args.data_root / "ml-100k"
    data = read_interaction_log(folder / "u.data")
    users, items = read_movielens_users(folder / "u.user"), read_movielens_items(folder / "u.item")
    console = Console()
    if args.warm:
        warm = warm_blend(folder, users, items, console)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_name("coldstart-warm.json").write_text(json.dumps(warm, indent=2))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.train_fractions:
        fractions = [float(f) for f in args.train_fractions.split(",")]
        if not all(0.0 < f <= 1.0 for f in fractions):
            parser.error("--train-fractions: each share must be in (0, 1]")
        curve = training_size_curve(data, users, items, seeds, fractions, console)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_name(args.out.stem + "-fractions.json").write_text(
            json.dumps(curve, indent=2))
        return
    variants = json.loads(args.variants.read_text()) if args.variants else ABLATIONS
    if "profile" not in variants:
        parser.error(f"{args.variants}: needs a 'profile' entry (the model the curves use)")
    rows = [(f, {}) for f in BASELINES] + [
        ("profile", o) for name, o in variants.items()
        if not args.no_ablations or name == "profile"]
    names = list(BASELINES) + [n for n in variants if not args.no_ablations or n == "profile"]
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    curves: dict[str, list[dict[int, float]]] = {}
    latencies: list[float] = []
    for seed in seeds:
        split = holdout_users(data, 0.2, seed, min_rating=4.0, items=items.ids)
        fitted = {}
        for name, (family, overrides) in zip(names, rows, strict=True):
            model, seconds = fit(family, overrides, split, users, items, seed)
            metrics = evaluate_cold_users(model, split, users)
            results[name].append({**metrics, "train_s": seconds})
            fitted[name] = model
            console.print(f"seed {seed} {name:36s} ndcg@10={metrics['ndcg@10']:.4f} "
                          f"({seconds:.1f}s)")
        # the peer gets its validation-chosen setting (leave-one-out on the training users)
        als = select_model(positives(split.train, 4.0), "als", budget_s=120, seed=seed,
                           grids={"als": GRIDS["als"]}, log=lambda *_: None).model
        profile = fitted["profile"]
        curve = known_items_curve({
            "popularity": (fitted["pop"], False, False),
            "iALS fold-in": (als, False, True),
            "profile model, profile only": (profile, True, False),
            "profile model fold-in (profile + items)": (profile, True, True),
            "profile model fold-in (items only)": (profile, False, True)}, split, users, seed)
        for name, values in curve.items():
            curves.setdefault(name, []).append(values)
        for u in split.held_out[:200]:
            start = time.perf_counter()
            answer(profile, RecommendRequest(profile=users.get(u), k=10))
            latencies.append((time.perf_counter() - start) * 1000)

    protocol = (f"ML-100K cold users: 20% of users held out entirely (seeds {args.seeds}), "
                "positives = ratings >= 4, all 1682 items ranked from the profile alone; "
                "mean +- std over seeds")
    table = Table(title=protocol, title_justify="left")
    for column in ("model", "HR@10", "NDCG@10", "Recall@10", "x best baseline", "train s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    best = max(np.mean([r["ndcg@10"] for r in results[b]]) for b in BASELINES)
    summary = {}
    for name in names:
        values = {m: [r[m] for r in results[name]] for m in ("hr@10", "ndcg@10", "recall@10",
                                                               "train_s")}
        summary[name] = {m: [float(np.mean(v)), float(np.std(v))] for m, v in values.items()}
        table.add_row(name, *(f"{np.mean(values[m]):.4f} ± {np.std(values[m]):.4f}"
                              for m in ("hr@10", "ndcg@10", "recall@10")),
                      f"{np.mean(values['ndcg@10']) / best:.3f}",
                      f"{np.median(values['train_s']):.1f}")
    console.print(table)
    curve_table = Table(title="few known items: NDCG@10 on the unrevealed liked items "
                              "(same cold users)", title_justify="left")
    curve_table.add_column("method")
    for n in KNOWN:
        curve_table.add_column(f"{n} known", justify="right")
    curve_summary = {}
    for name, per_seed in curves.items():
        means = {n: float(np.mean([c[n] for c in per_seed])) for n in KNOWN}
        curve_summary[name] = means
        curve_table.add_row(name, *(f"{means[n]:.4f}" for n in KNOWN))
    console.print(curve_table)
    p50, p95 = np.percentile(latencies, [50, 95])
    console.print(f"profile model: recommend for one profile over all items p50 {p50:.2f} ms, "
                  f"p95 {p95:.2f} ms ({len(latencies)} requests); train median "
                  f"{np.median([r['train_s'] for r in results['profile']]):.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"protocol": protocol, "models": summary,
                                    "known_items_ndcg@10": curve_summary,
                                    "recommend_ms": {"p50": p50, "p95": p95}}, indent=2))


if __name__ == "__main__":
    main()
