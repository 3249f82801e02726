"""Classification metrics against scikit-learn; thresholds against a brute-force search."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from neurank.classify.thresholds import GRID, Thresholds, tune_thresholds
from neurank.eval.classification import f1_per_threshold, multilabel_metrics
from neurank.losses import FocalLoss, MultiLabelBCE


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random((60, 7)) < 0.2
    predicted = rng.random((60, 7)) < 0.3
    truth[:, 3] = False  # a label with no positives and ...
    predicted[:, 5] = False  # ... one never predicted: both count as F1 0 in the macro mean
    labels = [f"l{i}" for i in range(7)]
    summary, per_label = multilabel_metrics(truth, predicted, labels)
    for average in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(truth, predicted, average=average,
                                                     zero_division=0)
        assert summary[f"{average}_precision"] == pytest.approx(p)
        assert summary[f"{average}_recall"] == pytest.approx(r)
        assert summary[f"{average}_f1"] == pytest.approx(f)
    reference = f1_score(truth, predicted, average=None, zero_division=0)
    assert [per_label[x]["f1"] for x in labels] == pytest.approx(reference)
    p, r, _, support = precision_recall_fscore_support(truth, predicted, average=None,
                                                       zero_division=0)
    assert [per_label[x]["precision"] for x in labels] == pytest.approx(p)
    assert [per_label[x]["recall"] for x in labels] == pytest.approx(r)
    assert [per_label[x]["support"] for x in labels] == support.tolist()
    assert summary["exact_match"] == pytest.approx(accuracy_score(truth, predicted))


def test_metrics_of_single_hits_and_of_nothing_predicted():
    truth = np.array([[1, 0], [0, 0], [0, 1]], dtype=bool)
    predicted = np.array([[1, 0], [0, 1], [0, 0]], dtype=bool)  # one tp per label at most
    summary, per_label = multilabel_metrics(truth, predicted, ["a", "b"])
    assert (per_label["a"]["precision"], per_label["a"]["recall"]) == (1.0, 1.0)
    assert (per_label["b"]["precision"], per_label["b"]["recall"]) == (0.0, 0.0)
    assert summary["exact_match"] == pytest.approx(1 / 3)
    # micro: tp 1, fp 1, fn 1 (equal counts must not read as "nothing to divide")
    assert (summary["micro_precision"], summary["micro_recall"]) == (0.5, 0.5)
    empty, _ = multilabel_metrics(np.zeros((2, 2), bool), np.zeros((2, 2), bool), ["a", "b"])
    assert (empty["micro_precision"], empty["micro_recall"], empty["micro_f1"]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shapes differ"):
        multilabel_metrics(truth, predicted, ["a"])


def test_thresholds_are_the_best_on_the_grid_and_rare_labels_fall_back():
    rng = np.random.default_rng(0)
    truth = rng.random((300, 4)) < np.asarray([0.3, 0.2, 0.1, 0.01])
    probabilities = np.clip(truth * 0.35 + rng.random((300, 4)) * 0.6, 0, 1)
    labels = ["a", "b", "c", "rare"]
    chosen = tune_thresholds(probabilities, truth, labels, min_positives=5)
    for j, label in enumerate(labels[:3]):
        f1 = [f1_score(truth[:, j], probabilities[:, j] >= t, zero_division=0) for t in GRID]
        best = GRID[int(np.argmax(f1))]
        assert chosen.values[label] == pytest.approx(best), label
    assert truth[:, 3].sum() < 5 and chosen.fallback == ["rare"]
    macro = [f1_score(truth, probabilities >= t, average="macro", zero_division=0) for t in GRID]
    assert chosen.global_threshold == pytest.approx(GRID[int(np.argmax(macro))])
    assert chosen.values["rare"] == chosen.global_threshold


def test_a_label_with_exactly_min_positives_gets_its_own_threshold():
    truth = np.zeros((40, 2), dtype=np.int64)  # integer 0/1 labels, as numpy code makes them
    truth[:5, 0] = 1  # five positives: enough (min_positives=5)
    truth[:4, 1] = 1  # four: not enough
    probabilities = np.where(truth == 1, 0.7, 0.1)
    chosen = tune_thresholds(probabilities, truth, ["five", "four"])
    assert chosen.fallback == ["four"] and chosen.values["five"] == pytest.approx(0.11)


def test_a_probability_at_the_threshold_counts_as_predicted():
    f1 = f1_per_threshold(np.array([[0.5, 0.5]]), np.array([[1, 0]]), np.array([0.5, 0.51]))
    assert f1.tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_thresholds_round_trip_and_follow_the_label_order():
    chosen = Thresholds({"a": 0.3, "b": 0.7}, 0.45, ["b"])
    payload = chosen.to_json()
    assert payload == {"values": {"a": 0.3, "b": 0.7}, "global": 0.45, "fallback": ["b"]}
    assert Thresholds.from_json(payload) == chosen
    np.testing.assert_array_equal(chosen.as_array(["b", "a"]), np.float32([0.7, 0.3]))
    assert chosen.as_array(["a"]).dtype == np.float32
    assert Thresholds.constant(["x", "y"], 0.4) == Thresholds({"x": 0.4, "y": 0.4}, 0.4,
                                                              ["x", "y"])
    assert Thresholds.constant(["x"]).global_threshold == 0.5
    for broken in ({**payload, "values": [0.3]}, {**payload, "fallback": "b"}):
        with pytest.raises(ValueError, match=r"^malformed thresholds$"):
            Thresholds.from_json(broken)


def test_focal_loss_matches_its_formula_and_reduces_to_bce():
    logits = torch.tensor([[2.0, -1.0, 0.3], [-0.5, 1.5, -3.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    expected = (-(1 - p_t) ** 2 * torch.log(p_t)).mean()
    assert FocalLoss(gamma=2.0)(logits, targets) == pytest.approx(expected.item(), rel=1e-5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    assert FocalLoss(gamma=0.0)(logits, targets) == pytest.approx(bce.item(), rel=1e-5)
    weighted = MultiLabelBCE(torch.tensor([3.0, 1.0, 1.0]))(logits, targets)
    manual = -(3.0 * targets[:, :1] * torch.log(p[:, :1]) + (1 - targets[:, :1])
               * torch.log(1 - p[:, :1]))
    rest = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 1:], targets[:, 1:],
                                                                reduction="sum")
    assert weighted.item() == pytest.approx(((manual.sum() + rest) / 6).item(), rel=1e-5)
