import itertools
import math

import numpy as np
import pytest
import torch

from neurank.eval.metrics import evaluate_query
from neurank.losses import ApproxNDCG, GradedCrossEntropy, ListMLE, RankingLossMix
from neurank.models.ranker import GradedRanker


def plackett_luce_nll(scores: list[float], order: list[int]) -> float:
    """-log P(order) by the definition: a product of softmaxes over the remaining items."""
    total, remaining = 0.0, list(order)
    for item in order:
        total -= scores[item] - math.log(sum(math.exp(scores[j]) for j in remaining))
        remaining.remove(item)
    return total


def test_listmle_equals_the_plackett_luce_definition():
    scores = torch.tensor([[0.3, -1.2, 2.0, 0.7]])
    labels = torch.tensor([[3.0, 0.0, 1.0, 2.0]])  # no ties: one ideal order 0, 3, 2, 1
    mask = torch.ones_like(labels, dtype=torch.bool)
    expected = plackett_luce_nll(scores[0].tolist(), [0, 3, 2, 1]) / 4
    assert ListMLE()(scores, labels, mask).item() == pytest.approx(expected, rel=1e-5)


def test_listmle_ignores_padding():
    scores = torch.tensor([[0.3, -1.2, 2.0, 9.0, -9.0]])
    labels = torch.tensor([[2.0, 0.0, 1.0, 5.0, 0.0]])
    mask = torch.tensor([[True, True, True, False, False]])
    expected = plackett_luce_nll([0.3, -1.2, 2.0], [0, 2, 1]) / 3
    assert ListMLE()(scores, labels, mask).item() == pytest.approx(expected, rel=1e-5)


def test_approx_ndcg_tends_to_ndcg_at_low_temperature():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=8)
    labels = np.asarray([2, 0, 1, 0, 0, 3, 0, 1], dtype=float)
    run = {f"d{i}": float(s) for i, s in enumerate(scores)}
    judged = {f"d{i}": int(g) for i, g in enumerate(labels)}
    ndcg = evaluate_query(run, judged, ["ndcg@8"])["ndcg@8"]
    loss = ApproxNDCG(temperature=1e-4)(torch.tensor(scores[None]), torch.tensor(labels[None]),
                                         torch.ones(1, 8, dtype=torch.bool))
    assert 1 - loss.item() == pytest.approx(ndcg, abs=1e-4)


def test_approx_ndcg_skips_lists_without_a_relevant_entry_and_padding():
    scores = torch.tensor([[1.0, 0.0, 5.0], [0.2, 0.1, 0.0]])
    labels = torch.tensor([[1.0, 0.0, 9.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    loss = ApproxNDCG(temperature=1e-4)(scores, labels, mask)
    assert loss.item() == pytest.approx(0.0, abs=1e-4)  # list 1 is ideal; list 2 has no gain


def test_graded_cross_entropy_masks_and_clips():
    logits = torch.randn(2, 3, 4)
    labels = torch.tensor([[0.0, 2.0, 7.0], [1.0, 3.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    expected = torch.nn.functional.cross_entropy(
        logits[mask], torch.tensor([0, 2, 3, 1]))
    assert GradedCrossEntropy()(logits, labels, mask).item() == pytest.approx(expected.item())


def test_the_mix_weights_its_parts():
    torch.manual_seed(0)
    outputs = {"score": torch.randn(2, 5), "binary_logit": torch.randn(2, 5),
               "grade_logits": torch.randn(2, 5, 4)}
    labels = torch.tensor([[1.0, 0, 0, 2, 0], [0, 3, 0, 0, 1]])
    mask = torch.ones(2, 5, dtype=torch.bool)
    approx = RankingLossMix({"approx_ndcg": 1.0})(outputs, labels, mask)
    bce = RankingLossMix({"bce": 1.0})(outputs, labels, mask)
    both = RankingLossMix({"approx_ndcg": 0.4, "bce": 0.3})(outputs, labels, mask)
    assert both.item() == pytest.approx(0.4 * approx.item() + 0.3 * bce.item(), rel=1e-6)
    with pytest.raises(ValueError, match="unknown ranking losses"):
        RankingLossMix({"lambda": 1.0})


@pytest.mark.parametrize(("embeddings", "attention"), itertools.product([True, False], repeat=2))
def test_ranker_scores_do_not_depend_on_padding(embeddings, attention):
    torch.manual_seed(0)
    model = GradedRanker(8, 5, hidden=16, heads=2, embeddings=embeddings,
                         attention=attention).eval()
    query, docs, features = torch.randn(1, 8), torch.randn(1, 3, 8), torch.randn(1, 3, 5)
    alone = model(query, docs, features, torch.ones(1, 3, dtype=torch.bool))["score"]
    padded = model(query, torch.cat([docs, torch.randn(1, 2, 8)], 1),
                   torch.cat([features, torch.randn(1, 2, 5)], 1),
                   torch.tensor([[True, True, True, False, False]]))["score"]
    torch.testing.assert_close(alone, padded[:, :3], atol=1e-5, rtol=1e-5)
