import numpy as np
import pytest

from neurank.config import BoostConfig, FusionConfig
from neurank.data import Document
from neurank.index.retrievers import Retrieved
from neurank.search.boosts import apply_boosts, boost_factors
from neurank.search.candidates import Candidates, merge_retrieved
from neurank.search.fusion import FusionScorer, fuse, zscore


def candidates():
    return Candidates(query="q", rows=np.array([1, 2, 3]),
                      scores={"bm25": np.array([10.0, 5.0, 0.0]), "dense": np.array([0.2, 0.8, 0.5])},
                      ranks={"bm25": np.array([1, 2, 0]), "dense": np.array([3, 1, 2])})


def test_weighted_minmax_by_hand():
    fused = fuse(candidates(), FusionConfig(dense_weight=0.25))
    # bm25 -> [1, .5, 0]; dense -> [0, 1, .5]
    np.testing.assert_allclose(fused, [0.75, 0.625, 0.125])


def test_weighted_zscore_by_hand():
    fused = fuse(candidates(), FusionConfig(normalization="zscore", dense_weight=0.5))
    c = candidates()
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    np.testing.assert_allclose(fused, 0.5 * z(c.scores["bm25"]) + 0.5 * z(c.scores["dense"]))


def test_rrf_by_hand():
    fused = fuse(candidates(), FusionConfig(method="rrf", rrf_k=60, dense_weight=0.5))
    np.testing.assert_allclose(fused, [0.5 / 61 + 0.5 / 63, 0.5 / 62 + 0.5 / 61, 0.5 / 62])


def test_rrf_weights_are_not_swapped():
    # dense_weight 0.8: the dense list counts four times as much as the BM25 list
    fused = fuse(candidates(), FusionConfig(method="rrf", rrf_k=10, dense_weight=0.8))
    np.testing.assert_allclose(fused, [0.2 / 11 + 0.8 / 13, 0.2 / 12 + 0.8 / 11, 0.8 / 12])
    assert np.argmax(fused) == 1  # dense's first beats BM25's first


@pytest.mark.parametrize("normalization", ["minmax", "zscore"])
def test_constant_signal_contributes_nothing(normalization):
    c = candidates()
    c.scores["dense"] = np.full(3, 0.4)
    bm25 = c.scores["bm25"]
    alone = ((bm25 - bm25.min()) / np.ptp(bm25) if normalization == "minmax"
             else (bm25 - bm25.mean()) / bm25.std())
    fused = fuse(c, FusionConfig(normalization=normalization))
    assert fused.dtype == np.float64
    np.testing.assert_allclose(fused, 0.5 * alone)


@pytest.mark.parametrize("method", ["weighted", "rrf"])
def test_no_candidate_and_one_candidate(method):
    empty = Candidates(query="q", rows=np.zeros(0, dtype=np.int64),
                       scores={"bm25": np.zeros(0), "dense": np.zeros(0)},
                       ranks={"bm25": np.zeros(0, dtype=np.int64),
                              "dense": np.zeros(0, dtype=np.int64)})
    fused = fuse(empty, FusionConfig(method=method))
    assert fused.shape == (0,) and fused.dtype == np.float64
    one = Candidates(query="q", rows=np.array([7]), scores={"bm25": np.array([3.0]),
                                                             "dense": np.array([0.2])},
                     ranks={"bm25": np.array([1]), "dense": np.array([1])})
    fused = fuse(one, FusionConfig(method=method, rrf_k=10))
    assert fused.tolist() == ([0.0] if method == "weighted" else [pytest.approx(1 / 11)])


def test_zscore_standardises_each_row_and_zeroes_constant_ones():
    # constant rows below the other rows' maximum: constancy is decided per row; 0.4 x 4 has a
    # rounding-residue std, 2.0 x 4 an exact 0 that must not be divided by
    rows = np.array([[1.0, 2.0, 3.0, 6.0], [0.4, 0.4, 0.4, 0.4], [5, 5, 5, 7], [2.0, 2.0, 2.0, 2.0]])
    with np.errstate(all="raise"):
        z = zscore(rows)
    assert z.shape == rows.shape and z.dtype == np.float64
    for row, expected in zip(z, rows, strict=True):
        if np.ptp(expected):
            np.testing.assert_allclose(row, (expected - expected.mean()) / expected.std())
        else:
            assert (row == 0).all()
    np.testing.assert_allclose(zscore(rows[0]), z[0])  # one row alone: the same values
    assert zscore(np.zeros((0, 3))).shape == (0, 3)
    assert zscore(np.array([3], dtype=np.int64)).tolist() == [0.0]


def test_the_scorer_stage_fuses_under_its_own_config():
    config = FusionConfig(method="rrf", rrf_k=10, dense_weight=0.8)
    np.testing.assert_array_equal(FusionScorer(config)(candidates()), fuse(candidates(), config))


def test_fusion_names_the_scores_it_misses():
    c = candidates()
    del c.scores["dense"]
    with pytest.raises(ValueError, match=r"fusion needs the \['dense'\] scores of every candidate"):
        fuse(c, FusionConfig())


def test_merge_gives_every_candidate_every_score_and_rank():
    bm25 = Retrieved(rows=np.array([7, 3]), scores=np.array([2.0, 1.0]),
                     score_rows=lambda rows: np.full(len(rows), 0.5))
    dense = Retrieved(rows=np.array([5, 7]), scores=np.array([0.9, 0.8]),
                      score_rows=lambda rows: rows * 0.01)
    c = merge_retrieved("q", {"bm25": bm25, "dense": dense})
    assert c.rows.tolist() == [3, 5, 7]
    assert c.scores["bm25"].tolist() == [1.0, 0.5, 2.0]
    assert c.scores["dense"].tolist() == pytest.approx([0.03, 0.9, 0.8])
    assert c.ranks["bm25"].tolist() == [2, 0, 1] and c.ranks["dense"].tolist() == [0, 1, 2]


def test_boost_factors():
    docs = [Document(id="a", title="Global Surface Temperature", text="",
                     metadata={"category": "climate", "quality": 0.9}),
            Document(id="b", title="Other", text="", metadata={"category": "health",
                                                               "quality": "n/a"})]
    config = BoostConfig(title_match=1.2, category_match=1.1, quality=1.15)
    np.testing.assert_allclose(boost_factors("surface temperature", docs, config), [1.38, 1.0])
    np.testing.assert_allclose(boost_factors("climate data", docs, config), [1.1 * 1.15, 1.0])
    np.testing.assert_allclose(boost_factors("x", docs, BoostConfig()), [1.0, 1.0])


def test_a_boost_moves_the_lowest_scored_candidate():
    scores = np.array([1.0, 0.6, 0.2])
    boosted = apply_boosts(scores, np.array([1.0, 1.0, 2.5]))
    assert np.argmax(boosted) == 2  # the lowest candidate, boosted 2.5x, overtakes the best
    assert apply_boosts(scores, np.array([1.0, 1.0, 2.0])).tolist() == [2.0, 1.5, 2.0]
    assert boosted[2] > apply_boosts(scores, np.ones(3))[2]
    # and it never reorders unboosted candidates, whatever the sign of their scores
    plain = apply_boosts(np.array([-0.5, -1.0, 3.0]), np.ones(3))
    assert np.argsort(plain).tolist() == [1, 0, 2]
