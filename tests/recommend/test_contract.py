"""One contract, run against every recommender (as implicit does with its test mixin)."""

import numpy as np
import pytest
import scipy.sparse as sp

from neurank.config import TrainerConfig
from neurank.data.interactions import validation_split
from neurank.errors import CheckpointError, NotFoundError
from neurank.recommend import MODELS, load_recommender
from neurank.recommend.evaluation import evaluate_full, evaluate_sampled
from neurank.recommend.ncf import NCFConfig

FAST_NCF = NCFConfig(factors=8, layers=(16, 8), negatives=2,
                     trainer=TrainerConfig(epochs=8, batch_size=64, lr=0.01, patience=None,
                                           show_progress=False, device="cpu"))


FAST_PROFILE = {"dim": 8, "trainer": TrainerConfig(epochs=15, batch_size=16, lr=0.01, patience=None,
                                                 show_progress=False, device="cpu")}


def profile_tables():
    """Profiles that say the taste group (even/odd users), items that say their half."""
    from neurank.data.profiles import FeatureTable

    users = FeatureTable([f"u{u}" for u in range(60)],
                         [{"group": ["even", "odd"][u % 2], "age": 20 + u % 30} for u in range(60)])
    items = FeatureTable([f"i{i}" for i in range(40)],
                         [{"half": ["low" if i < 20 else "high"], "title": f"item {i}"}
                          for i in range(40)])
    return users, items


def make(family):
    cls = MODELS[family]
    if family in ("profile", "pop-segment", "profile-knn"):
        model = cls(cls.Config(**FAST_PROFILE)) if family == "profile" else cls()
        return model.with_features(*profile_tables())
    if family in ("gmf", "mlp", "neumf"):
        return cls(FAST_NCF)
    if family == "bpr":
        return cls(cls.Config(iterations=50, factors=16))
    if family == "als":
        return cls(cls.Config(factors=2, iterations=30))  # the fixture has rank 2; more memorises
    if family == "ease":
        return cls(cls.Config(l2=10.0))
    if family == "blend":
        return cls(cls.Config(components=[
            {"family": "ease", "config": {"l2": 10.0}, "weight": 0.6},
            {"family": "itemknn", "config": {"neighbors": 20}, "weight": 0.4}]))
    return cls()


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request, interactions):
    fit, validation = validation_split(interactions, negatives=20)
    return make(request.param).fit(fit, validation), fit, validation


def test_recommend_excludes_seen_and_orders_by_score(fitted):
    model, fit, _ = fitted
    (rec,) = model.recommend(["u0"], k=5)
    seen = {fit.item_ids[i] for i in fit.items[fit.users == 0]}
    assert len(rec.items) == 5 and not seen & set(rec.items) and not rec.cold_start
    assert rec.scores == sorted(rec.scores, reverse=True)
    with_seen = model.recommend(["u0"], k=10**12, exclude_seen=False)[0]
    assert seen <= set(with_seen.items) and len(with_seen.items) == 40


def test_collaborative_models_learn_the_groups(fitted):
    model, _, validation = fitted
    if model.family == "pop":
        pytest.skip("popularity ignores the user")
    for user, home in (("u2", range(0, 20)), ("u3", range(20, 40))):
        top = model.recommend([user], k=5)[0].items
        in_group = sum(int(i[1:]) in home for i in top)
        assert in_group >= 4, (model.family, user, top)
    metrics = evaluate_sampled(model, validation)
    assert metrics["hr@10"] > 0.8, (model.family, metrics)


def test_batch_candidates_and_cold_start(fitted):
    model, _, _ = fitted
    recs = model.recommend(["u1", "stranger"], k=3, items=["i0", "i5", "i21", "i30"])
    assert set(recs[0].items) <= {"i0", "i5", "i21", "i30"}
    assert recs[1].cold_start and recs[1].items[0] == model.item_ids[int(np.argmax(
        np.where(np.isin(model.item_ids, ["i0", "i5", "i21", "i30"]), model.popularity, -1)))]
    with pytest.raises(NotFoundError, match="nope"):
        model.recommend(["u1"], items=["nope"])
    with pytest.raises(NotFoundError, match="unknown user"):
        model.score("stranger", ["i1"])


def test_score_agrees_with_recommend(fitted):
    model, _, _ = fitted
    rec = model.recommend(["u4"], k=3)[0]
    np.testing.assert_allclose(model.score("u4", rec.items), rec.scores, rtol=1e-5, atol=1e-6)


def test_similar_items(fitted):
    model, _, _ = fitted
    similar, other = model.similar_items(["i3", "i25"], k=5)
    assert len(similar) == 5 and "i3" not in [i for i, _ in similar]
    alone = model.similar_items(["i25"], k=5)[0]  # a batch answers each item alike
    assert [i for i, _ in other] == [i for i, _ in alone]
    assert [v for _, v in other] == pytest.approx([v for _, v in alone], abs=1e-6)
    with pytest.raises(TypeError, match="a list of item ids"):
        model.similar_items("i3", k=5)
    if model.family != "pop":
        assert sum(int(i[1:]) < 20 for i, _ in similar) >= 3, (model.family, similar)


def test_similar_items_are_the_cosine_of_item_vectors(fitted):
    model, _, _ = fitted
    vectors = model.item_vectors()
    dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors, dtype=np.float64)
    j = model.item_index["i3"]
    norms = np.linalg.norm(dense, axis=1)
    cosine = dense @ dense[j] / np.maximum(norms * norms[j], 1e-12)
    cosine[j] = -np.inf
    similar = model.similar_items(["i3"], k=5)[0]
    assert [score for _, score in similar] == pytest.approx(np.sort(cosine)[::-1][:5], abs=1e-5)
    for item, score in similar:
        assert score == pytest.approx(cosine[model.item_index[item]], abs=1e-5)


def test_save_load_round_trip(fitted, tmp_path):
    model, _, validation = fitted
    model.save(tmp_path / "m", metrics={"x": 1.0})
    loaded = load_recommender(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config == model.config
    users = np.array([0, 1, 2])
    np.testing.assert_allclose(loaded.score_users(users), model.score_users(users), rtol=1e-6)
    assert evaluate_sampled(loaded, validation) == evaluate_sampled(model, validation)
    assert evaluate_full(loaded, validation) == evaluate_full(model, validation)
    weights = tmp_path / "m" / "weights.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="sha256"):
        load_recommender(tmp_path / "m")


def test_bpr_is_reproducible_for_a_seed(interactions):
    from neurank.recommend import MODELS

    config = MODELS["bpr"].Config(factors=32, iterations=50, seed=3)
    first = MODELS["bpr"](config).fit(interactions)
    for _ in range(3):  # multi-threaded SGD differs on most refits, not on every one
        again = MODELS["bpr"](config).fit(interactions)
        np.testing.assert_array_equal(first.item_factors, again.item_factors)
        np.testing.assert_array_equal(first.user_factors, again.user_factors)


def test_full_ranking_skips_what_the_user_has_seen():
    from neurank.data.interactions import HeldOut, Interactions

    # popularity: i0 (4 users) > i1 (3) > i2 (2) > i3 (1); u0 has seen i0 and i1
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2), (3, 0), (3, 3)]
    users, items = (np.array(column) for column in zip(*pairs, strict=True))
    train = Interactions([f"u{u}" for u in range(4)], [f"i{i}" for i in range(4)], users, items,
                         np.ones(len(pairs), dtype=np.float32), np.arange(len(pairs), dtype=float))
    model = MODELS["pop"]().fit(train)
    held = HeldOut(users=np.array([0]), items=np.array([2]))
    # i2 is u0's best unseen item: first once i0 and i1 are skipped, third if they were not
    assert evaluate_full(model, held, cutoffs=(1, 3)) == {
        "recall@1": 1.0, "ndcg@1": 1.0, "recall@3": 1.0, "ndcg@3": 1.0}
