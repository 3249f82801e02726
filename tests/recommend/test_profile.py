"""Profile features, the cold-users protocol, the profile recommenders and recommend requests."""

import json
import sqlite3

import numpy as np
import pytest
import torch

from neurank.config import TrainerConfig
from neurank.data.interactions import Interactions
from neurank.data.profiles import (
    FeatureTable,
    read_feature_table,
    read_movielens_items,
    read_movielens_users,
)
from neurank.errors import DataError, NeurankError
from neurank.index.filters import filters_to_sql, matches_filters, validate_filters
from neurank.recommend import MODELS, load_recommender
from neurank.recommend.coldstart import evaluate_cold_users, holdout_users, positives
from neurank.recommend.profile import segment_counts
from neurank.recommend.profile_features import OTHER, FeatureEncoder
from neurank.recommend.request import RecommendRequest, answer, diversify

GENRES = ["Action", "Romance", "Comedy", "Drama"]


@pytest.fixture(scope="module")
def taste_world():
    """300 users whose liked items follow their gender (F: items 0-29, M: items 30-59) with a
    shared popular head (items 60-63) that everyone likes; ratings 1-5, likes are >= 4."""
    rng = np.random.default_rng(0)
    users, items, ratings = [], [], []
    profiles = []
    for u in range(300):
        gender = "F" if u % 2 else "M"
        profiles.append({"gender": gender, "age": int(rng.integers(18, 70)),
                         "hobbies": list(rng.choice(["golf", "chess", "yoga"], size=2))})
        home = np.arange(30) if gender == "F" else np.arange(30, 60)
        liked = [*list(rng.choice(home, size=6, replace=False)), 60 + u % 4]
        disliked = rng.choice(np.setdiff1d(np.arange(64), liked), size=3, replace=False)
        for i in liked:
            users.append(u), items.append(int(i)), ratings.append(5.0)
        for i in disliked:
            users.append(u), items.append(int(i)), ratings.append(2.0)
    data = Interactions([f"u{u}" for u in range(300)], [f"i{i}" for i in range(64)],
                        np.array(users), np.array(items), np.array(ratings, dtype=np.float32),
                        np.arange(len(users), dtype=np.float64))
    user_table = FeatureTable(data.user_ids, profiles)
    item_table = FeatureTable(data.item_ids, [
        {"title": f"item {i}", "genres": [GENRES[i % 4]], "price": float(5 + i),
         "kind": "female" if i < 30 else "male" if i < 60 else "head"} for i in range(64)])
    return data, user_table, item_table


FAST = {"dim": 16, "use_text": False,
        "trainer": TrainerConfig(epochs=12, batch_size=32, lr=0.01, patience=None,
                                 show_progress=False, device="cpu", monitor="ndcg@10")}


def _fit(family, world, seed=0, **overrides):
    data, users, items = world
    split = holdout_users(data, 0.2, seed, min_rating=4.0, items=items.ids)
    cls = MODELS[family]
    model = cls(cls.Config(**{**FAST, **overrides}) if family == "profile" else cls.Config())
    model.with_features(users, items, ratings=split.train)
    return model.fit(positives(split.train, 4.0)), split


# ---------------------------------------------------------------------------- features
def test_encoder_infers_kinds_and_maps_unseen_values_to_other():
    records = [{"gender": "F", "age": 30, "hobbies": ["golf", "chess"], "bio": f"long text {i} "
                * 3} for i in range(5)] + [{"gender": "M", "age": 50, "hobbies": ["golf"]}] * 5
    encoder = FeatureEncoder.fit(records, min_count=2)
    assert encoder.kinds == {"gender": "categorical", "age": "numeric", "hobbies": "multi",
                             "bio": "text"}
    encoded = encoder.encode([{"gender": "X", "hobbies": ["golf", "chess"]}, records[5]],
                             text=np.zeros((2, 0)))
    gender = encoder.offsets["gender"]
    assert encoded.categorical[0, 0] == gender + encoder.vocab["gender"].index(OTHER)
    assert encoded.categorical[1, 0] == gender + encoder.vocab["gender"].index("M")
    assert encoded.numeric[0].tolist() == [0.0, 1.0]  # age missing: value 0, flag 1
    assert encoded.numeric[1, 0] == pytest.approx((50 - 40) / 10)
    golf = encoder.multi_offsets["hobbies"] + encoder.vocab["hobbies"].index("golf")
    assert encoded.multi[0].sum() == pytest.approx(1.0) and encoded.multi[0, golf] == 0.5
    again = FeatureEncoder.from_json(json.loads(json.dumps(encoder.to_json(), sort_keys=True)))
    assert again.slot_fields() == encoder.slot_fields() and again.offsets == encoder.offsets


def test_feature_table_readers(tmp_path):
    csv_file = tmp_path / "gifts.csv"
    csv_file.write_text("id,name,price,tags\ng1,Mug,12.5,kitchen|coffee\ng2,Book,20,reading\n")
    table = read_feature_table(csv_file)
    assert table.get("g1") == {"name": "Mug", "price": 12.5, "tags": ["kitchen", "coffee"]}
    assert table.get("g2")["price"] == 20
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "x": 1}\n{"x": 2}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2 field 'id'"):
        read_feature_table(bad)
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(DataError, match="'a' appears twice"):
        read_feature_table(twice)
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|x|F|other|94043\n")
    with pytest.raises(DataError, match=r"u.user:2 field 'age'"):
        read_movielens_users(tmp_path / "u.user")
    (tmp_path / "u.genre").write_text("Action|0\nComedy|1\n\n")
    (tmp_path / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n")
    assert read_movielens_items(tmp_path / "u.item").get("1") == {
        "title": "Toy Story (1995)", "genres": ["Comedy"], "year": 1995}


def test_in_memory_filters_agree_with_sqlite():
    rng = np.random.default_rng(1)
    records = [{"price": float(rng.integers(0, 100)), "category": str(rng.choice(["a", "b", "c"])),
                "tags": list(rng.choice(["x", "y", "z"], size=2))} for _ in range(60)]
    records[0].pop("price")
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE d (id INTEGER, metadata TEXT)")
    db.executemany("INSERT INTO d VALUES (?, ?)", [(i, json.dumps(r)) for i, r in
                                                  enumerate(records)])
    for filters in ({"price": {"lte": 50}}, {"category": ["a", "c"]}, {"tags": "x"},
                    {"price": {"gt": 20, "lt": 70}, "tags": ["y", "z"]}, {"missing": 1}):
        where, params = filters_to_sql(filters)
        expected = {row[0] for row in db.execute(f"SELECT id FROM d WHERE {where}", params)}
        checked = validate_filters(filters)
        assert {i for i, r in enumerate(records) if matches_filters(r, checked)} == expected


# ---------------------------------------------------------------------------- protocol
def test_holdout_users_hides_them_from_training(taste_world):
    data, _, items = taste_world
    split = holdout_users(data, 0.2, 3, min_rating=4.0, items=[*items.ids, "new-item"])
    assert len(split.held_out) == 60 and not set(split.held_out) & set(split.train.user_ids)
    assert split.train.item_ids[-1] == "new-item" and len(split.train.user_ids) == 240
    assert split.held_out == holdout_users(data, 0.2, 3).held_out  # seeded
    assert split.held_out != holdout_users(data, 0.2, 4).held_out
    user = split.held_out[0]
    row = data.user_index[user]
    liked = {data.item_ids[i] for i in data.items[(data.users == row) & (data.weights >= 4)]}
    assert set(split.relevant[user]) == liked and len(liked) == 7
    assert np.bincount(split.train.users).tolist() == [10] * 240  # likes and dislikes kept


def test_cold_users_metrics_match_a_loop(taste_world):
    model, split = _fit("pop-segment", taste_world)
    _, users, _ = taste_world
    metrics = evaluate_cold_users(model, split, users)
    discounts = 1 / np.log2(np.arange(2, 12))
    ndcgs, hits, recalls = [], [], []
    for user in split.held_out:
        scores = model.score_profiles([users.get(user)])[0]
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], -model.popularity[i], i))
        top = [model.item_ids[i] for i in order[:10]]
        rel = set(split.relevant[user])
        gains = np.array([t in rel for t in top], dtype=float)
        ndcgs.append(gains @ discounts / discounts[:min(10, len(rel))].sum())
        hits.append(gains.any())
        recalls.append(gains.sum() / len(rel))
    assert metrics["ndcg@10"] == pytest.approx(np.mean(ndcgs))
    assert metrics["hr@10"] == pytest.approx(np.mean(hits))
    assert metrics["recall@10"] == pytest.approx(np.mean(recalls))


# ---------------------------------------------------------------------------- models
@pytest.mark.parametrize("family", ["pop-segment", "profile-knn", "profile"])
def test_profile_models_beat_popularity_on_cold_users(family, taste_world):
    _data, users, _ = taste_world
    model, split = _fit(family, taste_world)
    pop = MODELS["pop"]().fit(positives(split.train, 4.0))
    ours = evaluate_cold_users(model, split, users)["ndcg@10"]
    assert ours > evaluate_cold_users(pop, split, users)["ndcg@10"] + 0.15, ours


def test_profile_knn_breaks_neighbour_ties_by_training_order():
    """300 users share one profile and 50 neighbours are asked for: the 50 earliest count, on
    every CPU (argpartition's choice among ties depends on its SIMD path)."""
    n = 400
    profiles = [{"gender": "F"}] * 300 + [{"gender": "M"}] * (n - 300)
    data = Interactions([f"u{u}" for u in range(n)], [f"i{i}" for i in range(n)],
                        np.arange(n), np.arange(n), np.full(n, 5.0, dtype=np.float32),
                        np.arange(n, dtype=np.float64))
    users = FeatureTable(data.user_ids, profiles)
    items = FeatureTable(data.item_ids, [{"title": f"item {i}"} for i in range(n)])
    config = MODELS["profile-knn"].Config(neighbors=50, min_count=1)
    model = MODELS["profile-knn"](config).with_features(users, items).fit(data)
    scores = model.score_profiles([{"gender": "F"}])[0]  # user u liked item u only
    np.testing.assert_array_equal(np.flatnonzero(scores), np.arange(50))


def test_segment_popularity_backs_off_to_coarser_segments(taste_world):
    data, users, items = taste_world
    split = holdout_users(data, 0.2, 0, min_rating=4.0)
    model = MODELS["pop-segment"](MODELS["pop-segment"].Config(min_users=40))
    model.with_features(users, items).fit(positives(split.train, 4.0))
    assert model.info["fields"] == ["gender", "age", "hobbies"][:len(model.info["fields"])]
    women = model.score_profiles([{"gender": "F"}])[0]  # age missing: a tiny segment
    liked_by_women = positives(split.train, 4.0)
    female = [i for i, u in enumerate(split.train.user_ids) if users.get(u)["gender"] == "F"]
    expected = np.bincount(liked_by_women.items[np.isin(liked_by_women.users, female)],
                           minlength=64)
    np.testing.assert_array_equal(women, expected)
    everyone = model.score_profiles([{"gender": "?"}])[0]  # no such gender: the global segment
    np.testing.assert_array_equal(everyone, model.popularity)


def test_prior_leaves_the_users_own_likes_out(taste_world):
    model, _ = _fit("profile", taste_world)
    net = model.module
    encoded = model._encode_users(model.profiles)
    categorical = torch.from_numpy(encoded.categorical)
    liked = torch.from_numpy(model.seen.toarray())
    with_out = net.prior(categorical[:1], exclude=liked[:1])
    # reference: recount without user 0 at all
    others = model.seen.tolil()
    others[0] = 0
    net.set_counts(*segment_counts(encoded.categorical, others.tocsr(),
                                   slots=net.segment_slots.tolist(),
                                   size=model.user_encoder.categorical_size))
    without_user = net.prior(categorical[:1])
    torch.testing.assert_close(with_out, without_user, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(with_out, net.prior(categorical[:1], exclude=liked[1:2]))


def test_profile_model_round_trip_explain_and_heads(taste_world, tmp_path):
    model, _split = _fit("profile", taste_world)
    model.save(tmp_path / "m")
    loaded = load_recommender(tmp_path / "m")
    profiles = [{"gender": "F", "age": 30, "hobbies": ["golf"]}, {"gender": "M"}]
    np.testing.assert_allclose(loaded.score_profiles(profiles), model.score_profiles(profiles),
                               rtol=1e-5, atol=1e-5)
    assert [h["epoch"] for h in loaded.history] == list(range(1, 13))
    top = answer(loaded, RecommendRequest(profile=profiles[0], k=3, explain=True))
    assert top.source == "profile" and top.cold_start
    assert all(int(i[1:]) < 30 or int(i[1:]) >= 60 for i in top.items)
    assert any("gender=F" in reason for d in top.details for reason in d["because"])
    assert top.details[0]["title"].startswith("item ")


def test_answer_follows_the_chain_and_constraints(taste_world):
    model, split = _fit("profile", taste_world)
    known_user = split.train.user_ids[0]
    assert answer(model, RecommendRequest(user=known_user)).source == "profile"
    assert not answer(model, RecommendRequest(user=known_user)).cold_start
    folded = answer(model, RecommendRequest(known_items=["i1", "i2"], k=5))
    assert folded.source == "fold-in" and folded.cold_start and "i1" not in folded.items
    assert answer(model, RecommendRequest()).source == "popularity"
    cheap = answer(model, RecommendRequest(profile={"gender": "F"}, k=5,
                                           filters={"price": {"lte": 12}}))
    assert cheap.items and all(d["price"] <= 12 for d in cheap.details)
    with pytest.raises(NeurankError, match=r"no catalog item has a field 'prize' \(fields: .*price"):
        answer(model, RecommendRequest(profile={"gender": "F"}, filters={"prize": {"lte": 12}}))
    varied = answer(model, RecommendRequest(profile={"gender": "F"}, k=4, max_per_category=1,
                                            category_field="genres"))
    assert sorted(g for d in varied.details for g in d["genres"]) == sorted(GENRES)
    with pytest.raises(NeurankError, match="reads no profiles"):
        answer(MODELS["pop"]().fit(split.train), RecommendRequest(profile={"gender": "F"}))


def test_diversify_caps_each_category():
    categories = [["a"], ["a"], ["b"], ["a", "b"], ["c"]]
    assert diversify(np.arange(5), categories, 1, 5).tolist() == [0, 2, 4]
    assert diversify(np.arange(5), categories, 2, 3).tolist() == [0, 1, 2]


def test_als_fold_in_matches_implicit_recalculate_user(interactions):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    model = MODELS["als"](MODELS["als"].Config(factors=4, iterations=10)).fit(interactions)
    engine = AlternatingLeastSquares(factors=4, regularization=model.config.regularization,
                                     alpha=model.config.alpha, iterations=1)
    engine.user_factors = model.user_factors.copy()
    engine.item_factors = model.item_factors.copy()
    import scipy.sparse as sp

    known = np.array([2, 5, 7])
    row = sp.csr_matrix((np.ones(3, dtype=np.float32), known, [0, 3]), shape=(1, 40))
    with threadpool_limits(1, "blas"):
        reference = engine.recalculate_user(0, row)
    np.testing.assert_allclose(model.fold_in(known), model.item_factors @ reference,
                               rtol=1e-3, atol=1e-4)
