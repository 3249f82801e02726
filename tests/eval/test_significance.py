import numpy as np
import pytest
from scipy import stats

from neurank.eval.significance import paired_test


def per_query(values):
    return {f"q{i}": {"ndcg@10": float(v)} for i, v in enumerate(values)}


@pytest.mark.parametrize("shift", [0.0, 0.03, 0.1])
def test_p_value_matches_scipy_paired_permutation_test(shift):
    rng = np.random.default_rng(1)
    a = rng.uniform(size=60)
    b = np.clip(a + shift + rng.normal(scale=0.15, size=60), 0, 1)
    ours = paired_test(per_query(a), per_query(b), "ndcg@10", samples=20_000)
    reference = stats.permutation_test(
        (b, a), lambda x, y: np.mean(x - y), permutation_type="samples", n_resamples=20_000,
        alternative="two-sided", random_state=0)
    assert ours.p_value == pytest.approx(reference.pvalue, abs=0.015)
    assert ours.difference == pytest.approx(np.mean(b - a))
    assert ours.low <= ours.difference <= ours.high


def test_identical_systems_are_not_different():
    values = np.linspace(0, 1, 30)
    test = paired_test(per_query(values), per_query(values), "ndcg@10")
    assert test.difference == 0.0 and test.p_value == 1.0 and not test.significant


def test_a_clear_gain_is_significant_and_only_shared_queries_count():
    a = per_query(np.full(40, 0.2))
    b = per_query(np.full(40, 0.5) + np.linspace(0, 0.01, 40))
    b["extra"] = {"ndcg@10": 1.0}
    test = paired_test(a, b, "ndcg@10")
    assert test.queries == 40 and test.significant and test.low > 0.25
    with pytest.raises(ValueError, match="share no"):
        paired_test(a, {"other": {"ndcg@10": 1.0}}, "ndcg@10")
