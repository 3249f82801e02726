"""neurank rec train / evaluate / recommend: the recommendation flow."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from neurank.artifacts import atomic_write_json
from neurank.cli.app import app, console, console_err
from neurank.errors import NeurankError

rec = typer.Typer(help="Recommend items to users from interaction logs.", no_args_is_help=True)
app.add_typer(rec, name="rec")

DataOption = Annotated[Path, typer.Option(
    "--data", help="NCF folder/prefix (*.train.rating ...), MovieLens file/folder, or CSV/JSONL log.")]
FormatOption = Annotated[str, typer.Option(
    "--format", help="auto, ncf, movielens or csv (logs are split leave-one-out by time).")]
UserFieldOption = Annotated[str, typer.Option("--user-field", help="Log column of the user id.")]
ItemFieldOption = Annotated[str, typer.Option("--item-field", help="Log column of the item id.")]
RatingFieldOption = Annotated[str, typer.Option("--rating-field",
                                                help="Log column of the rating.")]
TimeFieldOption = Annotated[str, typer.Option("--time-field", help="Log column of the time.")]
MinRatingOption = Annotated[float | None, typer.Option(
    "--min-rating", help="Keep ratings >= this as positives (cold-users protocol: 4 when the "
                         "log has ratings).")]
UsersOption = Annotated[Path | None, typer.Option(
    "--users", help="User features (CSV/JSONL with an id column, or u.user); default: u.user "
                    "beside MovieLens data.")]
ItemsOption = Annotated[Path | None, typer.Option(
    "--items", help="Item catalog (CSV/JSONL with an id column, or u.item); default: u.item "
                    "beside MovieLens data.")]
PROFILE_FAMILIES = ("profile", "pop-segment", "profile-knn")


def _check_format(fmt: str) -> None:
    if fmt not in ("auto", "ncf", "movielens", "csv"):
        raise NeurankError(f"--format must be auto, ncf, movielens or csv, got {fmt!r}")


def _split(data: Path, fmt: str, seed: int, columns=None, min_rating: float | None = None):
    from neurank.data.interactions import read_interactions

    _check_format(fmt)
    return read_interactions(data, "log" if fmt in ("movielens", "csv") else fmt, seed=seed,
                             columns=columns, min_rating=min_rating)


def _beside(data: Path, given: Path | None, name: str):
    """A feature table: the given file, else MovieLens' `name` next to the data, else None."""
    from neurank.data.profiles import read_profiles

    folder = data if data.is_dir() else data.parent
    path = given or (folder / name if (folder / name).exists() else None)
    return read_profiles(path) if path is not None else None


def _cold_split(data: Path, fmt: str, columns, fraction: float, seed: int,
                min_rating: float | None, items):
    """The cold-users split; positives default to ratings >= 4 when the log has ratings."""
    from neurank.data.interactions import read_log
    from neurank.recommend.coldstart import holdout_users

    _check_format(fmt)
    if fmt == "ncf":
        raise NeurankError("--holdout-users needs a log (MovieLens or CSV/JSONL), not NCF files")
    log = read_log(data, columns)
    if min_rating is None and len(set(log.weights[:10_000].tolist())) > 1:
        min_rating = 4.0
    return holdout_users(log, fraction, seed, min_rating=min_rating,
                         items=items.ids if items is not None else None), min_rating


@rec.command()
def train(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")],
    model: Annotated[str, typer.Option(
        help="auto, blend, pop, itemknn, rp3beta, ease, als, bpr, gmf, mlp, neumf, or from "
             "profiles: profile, pop-segment, profile-knn.")] = "auto",
    fmt: FormatOption = "auto",
    budget_s: Annotated[float, typer.Option(
        "--budget-s", min=1, help="Time budget of --model auto, in seconds.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed for splits, sampling and training.")] = 0,
    holdout_users: Annotated[float | None, typer.Option(
        "--holdout-users", min=0.0, max=1.0,
        help="Hold this share of users out entirely (the cold-users protocol).")] = None,
    users: UsersOption = None,
    items: ItemsOption = None,
    min_rating: MinRatingOption = None,
    user_field: UserFieldOption = "user",
    item_field: ItemFieldOption = "item",
    rating_field: RatingFieldOption = "rating",
    time_field: TimeFieldOption = "timestamp",
    config_file: Annotated[Path | None, typer.Option(
        "--config", help="YAML/JSON settings of a profile family (e.g. loss_weights, augment, "
                         "trainer.epochs), validated against its config.")] = None,
) -> None:
    """Train a recommender; hyperparameters are chosen on a validation split carved from train."""
    from neurank.data.interactions import LogColumns
    from neurank.recommend.coldstart import positives
    from neurank.recommend.selection import GRIDS, select_model

    columns = LogColumns(user_field, item_field, rating_field, time_field)
    catalog = _beside(data, items, "u.item")
    if holdout_users is not None:
        cold, min_rating = _cold_split(data, fmt, columns, holdout_users, seed, min_rating,
                                       catalog)
        ratings, description = cold.train, cold.description
        train_data = positives(cold.train, min_rating)
        split_info = {"protocol": "cold-users", "holdout_users": holdout_users, "seed": seed,
                      "min_rating": min_rating, "held_out": cold.held_out}
    else:
        split = _split(data, fmt, seed, columns, min_rating)
        ratings, description, train_data = None, split.description, split.train
        split_info = {"protocol": "leave-one-out", "seed": seed, "min_rating": min_rating}
    console_err.print(f"{data.name}: {train_data.num_users} users, {train_data.num_items} "
                      f"items, {len(train_data)} training interactions ({description})")
    if model in PROFILE_FAMILIES:
        trained = _train_profile_family(model, train_data, data, users, catalog, ratings, seed,
                                        config_file)
        metrics: dict = {}
    else:
        grids = GRIDS if model == "auto" else {model: GRIDS.get(model, [{}])}
        selection = select_model(train_data, model, budget_s=budget_s, seed=seed, grids=grids,
                                 show_progress=True, log=console_err.print)
        trained, metrics = selection.model, {"validation": selection.chosen.metrics}
        if len(selection.trials) > 1:
            console.print(_leaderboard(selection))
        trained.catalog = catalog
    trained.info["split"] = {**split_info, "columns": dataclasses.asdict(columns)}
    trained.save(out, metrics=metrics)
    shown = f" (validation ndcg@10={metrics['validation']['ndcg@10']:.4f})" if metrics else ""
    console.print(f"[green]saved[/] {trained.family} to {out}{shown}")


def _train_profile_family(family: str, train_data, data: Path, users_file: Path | None,
                          catalog, ratings, seed: int, config_file: Path | None):
    from neurank.config import read_settings, validate_settings
    from neurank.recommend import MODELS

    users = _beside(data, users_file, "u.user")
    if users is None:
        raise NeurankError(f"--model {family} needs user features: --users FILE (or u.user "
                           "beside MovieLens data)")
    cls = MODELS[family]
    settings = read_settings(config_file) if config_file is not None else {}
    config = validate_settings(settings, cls.Config, str(config_file))
    if hasattr(config, "trainer") and "seed" not in settings.get("trainer", {}):
        config.trainer.seed = seed
    return cls(config).with_features(users, catalog, ratings).fit(train_data,
                                                                  show_progress=True)


def _leaderboard(selection, top: int = 10) -> Table:
    """The best trials by validation NDCG@10 (all of them in the checkpoint's manifest)."""
    ranked = sorted(selection.trials, key=lambda t: -t.metrics["ndcg@10"])
    table = Table(title=f"validation leaderboard · {len(ranked)} trials (top {min(top, len(ranked))})",
                  title_justify="left")
    for column in ("#", "model", "hr@10", "ndcg@10", "seconds"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for rank, trial in enumerate(ranked[:top], start=1):
        chosen = " [green]<- chosen[/]" if trial is selection.chosen else ""
        table.add_row(str(rank), trial.describe() + chosen, f"{trial.metrics['hr@10']:.4f}",
                      f"{trial.metrics['ndcg@10']:.4f}", f"{trial.seconds:.1f}")
    return table


@rec.command("evaluate")
def evaluate_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `rec train`.")],
    data: DataOption,
    fmt: FormatOption = "auto",
    protocol: Annotated[str, typer.Option(
        help="sampled (held-out vs negatives), full, or cold-users (users held out by "
             "`rec train --holdout-users`, ranked from their profiles).")] = "sampled",
    ties: Annotated[str, typer.Option(help="random (seeded) or pessimistic.")] = "random",
    seed: Annotated[int, typer.Option(help="Seed of the split / tie rule.")] = 0,
    users: UsersOption = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
) -> None:
    """Evaluate a trained recommender on the test split of --data."""
    from neurank.eval.protocols import TIE_RULES
    from neurank.recommend import load_recommender
    from neurank.recommend.evaluation import evaluation_report

    if protocol not in ("sampled", "full", "cold-users"):
        raise NeurankError(f"--protocol must be sampled, full or cold-users, got {protocol!r}")
    if ties not in TIE_RULES:
        raise NeurankError(f"--ties must be {' or '.join(TIE_RULES)}, got {ties!r}")
    model = load_recommender(checkpoint)
    split_info = model.info.get("split", {})
    columns = _columns(split_info)
    if protocol == "cold-users":
        report = _cold_users_report(model, checkpoint, data, fmt, columns, split_info, users)
        name = report["dataset"]
    else:
        split = _split(data, fmt, seed, columns, split_info.get("min_rating"))
        if split.train.item_ids != model.item_ids or split.train.user_ids != model.user_ids:
            raise NeurankError(f"{checkpoint} was trained on other users/items than {data}")
        report = evaluation_report(model, split.test, dataset=split.name, protocol=protocol,
                                   ties=ties, seed=seed)  # type: ignore[arg-type]
        name = split.name
    table = Table(title=f"{name} · {model.family} · {report['description']}",
                  title_justify="left")
    for metric in report["metrics"]:
        table.add_column(metric, justify="right", no_wrap=True)
    table.add_row(*[f"{v:.4f}" for v in report["metrics"].values()])
    console.print(table)
    if json_out:
        atomic_write_json(json_out, report)


def _columns(split_info: dict):
    from neurank.data.interactions import LogColumns

    return LogColumns(**split_info["columns"]) if "columns" in split_info else None


def _cold_users_report(model, checkpoint: Path, data: Path, fmt: str, columns, split_info: dict,
                       users_file: Path | None) -> dict:
    """Rebuild the checkpoint's own held-out users from --data and rank items for them."""
    from neurank.recommend.coldstart import evaluate_cold_users

    if split_info.get("protocol") != "cold-users":
        raise NeurankError(f"{checkpoint} was not trained with --holdout-users, so no user was "
                           "held out for the cold-users protocol")
    cold, _ = _cold_split(data, fmt, columns, split_info["holdout_users"], split_info["seed"],
                          split_info["min_rating"], model.catalog)
    if cold.held_out != split_info["held_out"] or cold.train.item_ids != model.item_ids:
        raise NeurankError(f"{data} does not give back the users {checkpoint} held out: "
                           "evaluate on the data it was trained on")
    users = _beside(data, users_file, "u.user")
    if users is None:
        raise NeurankError("the cold-users protocol needs user features: --users FILE")
    metrics = evaluate_cold_users(model, cold, users)
    judged = int(metrics.pop("users"))
    return {"dataset": (data if data.is_dir() else data.parent).name, "protocol": "cold-users",
            "model": model.family, "description": f"{cold.description}; {judged} users judged",
            "num_test": judged, "metrics": metrics}


@rec.command()
def recommend(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `rec train`.")],
    user: Annotated[list[str] | None, typer.Option("--user", help="User id (repeatable).")] = None,
    profile: Annotated[str | None, typer.Option(
        "--profile", help='A new user\'s profile as JSON, e.g. \'{"age": 34, "gender": "F"}\'.')
    ] = None,
    known: Annotated[list[str] | None, typer.Option(
        "--known-item", help="An item a new user already likes (repeatable): fold-in.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    filters: Annotated[list[str] | None, typer.Option(
        "--filter", help='Catalog filter FIELD=VALUE, e.g. price=\'{"lte": 50}\' (repeatable).')
    ] = None,
    max_per_category: Annotated[int | None, typer.Option(
        "--max-per-category", min=1, help="At most this many items of one category.")] = None,
    category_field: Annotated[str | None, typer.Option(
        "--category-field", help="Catalog field of categories (default: the model's).")] = None,
    explain: Annotated[bool, typer.Option(help="Say which profile fields lifted each item.")
                       ] = False,
    include_seen: Annotated[bool, typer.Option(help="Also recommend items already seen.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-k items for users, a profile, or a few known items, along the cold-start chain."""
    from neurank.index.filters import parse_filter_arguments
    from neurank.recommend import load_recommender
    from neurank.recommend.request import RecommendRequest, answer

    parsed_profile = _parse_profile(profile)
    model = load_recommender(checkpoint)
    base = RecommendRequest(profile=parsed_profile, known_items=known or [], k=k,
                            filters=parse_filter_arguments(filters),
                            max_per_category=max_per_category, category_field=category_field,
                            explain=explain, exclude_seen=not include_seen)
    requests = [dataclasses.replace(base, user=u) for u in user] if user else [base]
    results = [answer(model, r) for r in requests]
    if as_json:
        payload = [r.to_dict() for r in results]
        print(json.dumps(payload[0] if len(payload) == 1 else payload))
        return
    for result in results:
        console.print(_recommendation_table(result))


def _parse_profile(raw: str | None) -> dict | None:
    from neurank.data.validate import Invalid, check_metadata

    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NeurankError(f"--profile is not valid JSON ({exc.msg} at character {exc.pos})"
                           ) from None
    if not isinstance(parsed, dict):
        raise NeurankError("--profile must be a JSON object of fields, e.g. '{\"age\": 34}'")
    try:
        check_metadata(parsed)
    except Invalid as exc:
        raise NeurankError(f"--profile: {exc}") from None
    return parsed


def _recommendation_table(result) -> Table:
    flag = {"collaborative": "", "profile": " · from the profile",
            "fold-in": " · [yellow]cold start: fold-in of known items[/]",
            "popularity": " · [yellow]cold start: popular items[/]"}.get(result.source, "")
    table = Table(title=f"user {result.user}{flag}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    shown = [f for f in ("title", "name") if any(f in d for d in result.details)][:1]
    extra = [f for f in ("price", "category", "genres", "year")
             if any(f in d for d in result.details)][:2]
    for column in shown + extra:
        table.add_column(column)
    table.add_column("score", justify="right")
    explained = any("because" in d for d in result.details)
    if explained:
        table.add_column("because")
    details = result.details or [{} for _ in result.items]
    for rank, (item, score, detail) in enumerate(zip(result.items, result.scores, details,
                                                     strict=True), 1):
        cells = [_cell(detail.get(c)) for c in shown + extra]
        row = [str(rank), item, *cells, f"{score:.4f}"]
        if explained:
            row.append(", ".join(detail.get("because", [])))
        table.add_row(*row)
    return table


def _cell(value) -> str:
    if value is None:
        return ""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
