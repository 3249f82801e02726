import numpy as np
import pytest

from neurank.eval.protocols import (
    CUTOFFS,
    full_ranking_metrics,
    hit_rate_ndcg,
    sampled_candidates,
    sampled_metrics,
    sampled_metrics_from_scores,
    sampled_ranks,
)


def test_sampled_ranks_and_metrics_by_hand():
    pos = np.array([0.9, 0.5, 0.1])
    neg = np.array([[0.1, 0.2, 0.3], [0.6, 0.4, 0.7], [0.5, 0.6, 0.7]])
    ranks = sampled_ranks(pos, neg)
    assert ranks.tolist() == [0, 2, 3]
    m = hit_rate_ndcg(ranks, 3)
    assert m["hr@3"] == pytest.approx(2 / 3)
    assert m["ndcg@3"] == pytest.approx((1.0 + np.log(2) / np.log(4)) / 3)


def test_tie_rules():
    pos = np.zeros(2000)
    neg = np.zeros((2000, 99))
    assert (sampled_ranks(pos, neg, ties="pessimistic") == 99).all()
    random_ranks = sampled_ranks(pos, neg, ties="random", seed=3)
    np.testing.assert_array_equal(random_ranks, sampled_ranks(pos, neg, seed=3))
    np.testing.assert_array_equal(sampled_ranks(pos, neg), sampled_ranks(pos, neg, seed=0))


def test_random_ties_place_the_positive_uniformly_among_them():
    """Tied with n negatives, the positive's rank is uniform on 0..n: every place, the last
    included (an offset floor(U*n) would never put it below all its ties)."""
    from scipy.stats import chisquare

    pos = np.zeros(20_000)
    neg = np.zeros((20_000, 9))  # 10 places
    ranks = sampled_ranks(pos, neg, ties="random", seed=0)
    counts = np.bincount(ranks, minlength=10)
    assert len(counts) == 10 and counts.min() > 0
    assert chisquare(counts).pvalue > 1e-4, counts
    partial = sampled_ranks(np.zeros(20_000), np.tile([[1.0, 0.0, 0.0, -1.0]], (20_000, 1)),
                            ties="random", seed=0)
    assert set(np.unique(partial)) == {1, 2, 3}  # one above for sure, two ties, one below


def test_popularity_tiebreak_before_tie_rule():
    pos, neg = np.array([1.0]), np.array([[1.0, 1.0, 1.0]])
    ranks = sampled_ranks(pos, neg, positive_tiebreak=np.array([5.0]),
                          negative_tiebreak=np.array([[9.0, 1.0, 5.0]]), ties="pessimistic")
    assert ranks.tolist() == [2]  # below the more popular, above the less, tied with one


def test_positive_among_its_own_negatives_counts_once():
    pos, neg = np.array([0.5]), np.array([[0.5, 0.1]])
    ranks = sampled_ranks(pos, neg, negative_is_positive=np.array([[True, False]]),
                          ties="pessimistic")
    assert ranks.tolist() == [0]


def test_full_ranking_metrics_by_hand():
    top = np.array([[3, 1, 2], [0, 4, 5]])
    m = full_ranking_metrics(top, [np.array([1, 7]), np.array([9])], 3)
    assert m["recall@3"] == pytest.approx((0.5 + 0.0) / 2)
    ideal = 1 + 1 / np.log2(3)
    assert m["ndcg@3"] == pytest.approx(((1 / np.log2(3)) / ideal + 0.0) / 2)


def test_full_ranking_metrics_skip_users_with_nothing_relevant():
    # the empty user sits between two others: every later user must still count
    top = np.array([[1, 2], [1, 2], [5, 1]])
    m = full_ranking_metrics(top, [np.array([1]), np.array([], dtype=int), np.array([1])], 2)
    assert m["recall@2"] == pytest.approx(1.0)
    assert m["ndcg@2"] == pytest.approx((1.0 + 1 / np.log2(3)) / 2)
    single = full_ranking_metrics(np.array([[4, 0]]), [np.array([4])], 2)
    assert single == {"recall@2": 1.0, "ndcg@2": 1.0}
    with pytest.raises(ValueError):
        full_ranking_metrics(top, [np.array([1])], 2)  # one relevance list for three users


def test_peer_rows_and_neurank_rows_share_one_evaluation_function(interactions, repo_root):
    """benchmarks/recsys.py scores implicit's models with the function neurank's rows use."""
    import importlib.util
    from types import SimpleNamespace

    from neurank.data.interactions import HeldOut
    from neurank.recommend.evaluation import evaluate_sampled
    from neurank.recommend.factorization import ALS

    spec = importlib.util.spec_from_file_location("recsys_bench",
                                                  repo_root / "benchmarks" / "recsys.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = ALS().fit(interactions)
    rng = np.random.default_rng(1)
    users = np.arange(40)
    held = HeldOut(users=users, items=rng.integers(0, 40, size=40),
                   negatives=rng.integers(0, 40, size=(40, 20)))
    # integer-rounded factors make exact score ties, so the tie rule matters
    model.user_factors = np.round(model.user_factors * 2)
    model.item_factors = np.round(model.item_factors * 2)
    peer = SimpleNamespace(user_factors=model.user_factors, item_factors=model.item_factors)
    for seed in (0, 1):
        assert bench.peer_metrics(peer, held, interactions.item_counts(), seed=seed) == (
            evaluate_sampled(model, held, seed=seed, cutoffs=(10,)))


def test_score_ties_then_popularity_then_the_tie_rule():
    """Above by score, above by popularity among score ties, tied on both, and a lower score
    with the positive's popularity (below: popularity only splits score ties)."""
    ranks = sampled_ranks(np.array([1.0]), np.array([[2.0, 1.0, 1.0, 0.5]]),
                          positive_tiebreak=np.array([3.0]),
                          negative_tiebreak=np.array([[0.0, 9.0, 3.0, 3.0]]), ties="pessimistic")
    assert ranks.tolist() == [3]
    half = sampled_ranks(np.array([1.0]), np.array([[1.0, 1.0]]),
                         positive_tiebreak=np.array([3.0]), ties="pessimistic")
    assert half.tolist() == [2]  # one tie-break array alone is not a tie-break
    with pytest.raises(ValueError, match="unknown tie rule 'pesimistic'"):
        sampled_ranks(np.array([1.0]), np.array([[1.0]]), ties="pesimistic")


def test_hit_rate_ndcg_of_no_users_is_zero():
    assert hit_rate_ndcg(np.array([], dtype=np.int64), 10) == {"hr@10": 0.0, "ndcg@10": 0.0}


def test_sampled_metrics_from_scores_by_hand():
    """Held-out item first in each row: user 0 is below item 2 by score and above item 1 by
    popularity; user 1's own item among its negatives is skipped and item 6 loses the
    popularity tie-break; user 2 stays tied with item 8 (pessimistic: below it); user 3 is
    first by score."""
    scores = np.array([[0.5, 0.5, 0.9, 0.1], [0.7, 0.7, 0.2, 0.7], [0.3, 0.3, 0.0, 0.0],
                       [0.8, 0.1, 0.2, 0.3]])
    candidates = np.array([[0, 1, 2, 3], [4, 4, 5, 6], [7, 8, 5, 3], [3, 1, 2, 0]])
    popularity = np.array([5, 1, 0, 0, 3, 0, 1, 2, 2])
    metrics = sampled_metrics_from_scores(scores, candidates, popularity, ties="pessimistic",
                                          cutoffs=(1, 3))
    assert metrics == pytest.approx({"hr@1": 2 / 4, "ndcg@1": 2 / 4, "hr@3": 1.0,
                                     "ndcg@3": (2 / np.log2(3) + 2) / 4})
    tied = np.zeros((200, 5))
    rows = np.tile(np.arange(5), (200, 1))
    assert sampled_metrics_from_scores(tied, rows, np.zeros(5)) == sampled_metrics_from_scores(
        tied, rows, np.zeros(5), ties="random", seed=0, cutoffs=CUTOFFS)


def test_sampled_metrics_forward_the_tie_rule_seed_and_cutoffs():
    """All held-out items tied with their 4 negatives: only the tie rule and its seed place
    them; the wrapper scores the held-out item first, then its negatives."""
    from neurank.data.interactions import HeldOut

    n = 200
    held = HeldOut(users=np.arange(n), items=np.zeros(n, dtype=np.int64),
                   negatives=np.tile(np.arange(1, 5), (n, 1)))
    seen = []

    def score_pairs(users, items):
        seen.append(items)
        return np.zeros(items.shape, dtype=np.int64)

    popularity = np.zeros(5)
    pessimistic = sampled_metrics(score_pairs, held, popularity, ties="pessimistic",
                                  cutoffs=(1,))
    assert pessimistic == {"hr@1": 0.0, "ndcg@1": 0.0}
    np.testing.assert_array_equal(seen[0], np.tile(np.arange(5), (n, 1)))
    for seed in (0, 5):
        ranks = sampled_ranks(np.zeros(n), np.zeros((n, 4)), seed=seed)
        assert sampled_metrics(score_pairs, held, popularity, seed=seed, cutoffs=(1,)) == (
            pytest.approx(hit_rate_ndcg(ranks, 1)))
    assert (sampled_metrics(score_pairs, held, popularity)
            == sampled_metrics(score_pairs, held, popularity, ties="random", seed=0,
                               cutoffs=CUTOFFS))
    assert sampled_metrics(score_pairs, held, popularity, seed=0) != (
        sampled_metrics(score_pairs, held, popularity, seed=1))
    with pytest.raises(ValueError,
                       match=r"^the sampled protocol needs negatives for every held-out item$"):
        sampled_candidates(HeldOut(users=held.users, items=held.items, negatives=None))
