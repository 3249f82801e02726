import numpy as np
import pytest

from neurank.config import BoostConfig, FusionConfig
from neurank.data import Document
from neurank.search.boosts import apply_boosts, boost_factors
from neurank.search.fusion import Candidates, fuse


def candidates():
    return Candidates(rows=np.array([1, 2, 3]), bm25=np.array([10.0, 5.0, 0.0]),
                      dense=np.array([0.2, 0.8, 0.5]), bm25_rank=np.array([1, 2, 0]),
                      dense_rank=np.array([3, 1, 2]))


def test_weighted_minmax_by_hand():
    fused = fuse(candidates(), FusionConfig(dense_weight=0.25))
    # bm25 -> [1, .5, 0]; dense -> [0, 1, .5]
    np.testing.assert_allclose(fused, [0.75, 0.625, 0.125])


def test_weighted_zscore_by_hand():
    fused = fuse(candidates(), FusionConfig(normalization="zscore", dense_weight=0.5))
    c = candidates()
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    np.testing.assert_allclose(fused, 0.5 * z(c.bm25) + 0.5 * z(c.dense))


def test_rrf_by_hand():
    fused = fuse(candidates(), FusionConfig(method="rrf", rrf_k=60, dense_weight=0.5))
    np.testing.assert_allclose(fused, [0.5 / 61 + 0.5 / 63, 0.5 / 62 + 0.5 / 61, 0.5 / 62])


def test_constant_signal_contributes_nothing():
    c = candidates()
    c.dense = np.full(3, 0.4)
    np.testing.assert_allclose(fuse(c, FusionConfig()), [0.5, 0.25, 0.0])


def test_boost_factors():
    docs = [Document(id="a", title="Global Surface Temperature", text="",
                     metadata={"category": "climate", "quality": 0.9}),
            Document(id="b", title="Other", text="", metadata={"category": "health",
                                                               "quality": "n/a"})]
    config = BoostConfig(title_match=1.2, category_match=1.1, quality=1.15)
    np.testing.assert_allclose(boost_factors("surface temperature", docs, config), [1.38, 1.0])
    np.testing.assert_allclose(boost_factors("climate data", docs, config), [1.1 * 1.15, 1.0])
    np.testing.assert_allclose(boost_factors("x", docs, BoostConfig()), [1.0, 1.0])


def test_boosts_never_lower_a_negative_score():
    boosted = apply_boosts(np.array([-1.0, 0.0]), np.array([2.0, 1.0]))
    assert boosted[0] == pytest.approx(0.0) and boosted[1] == pytest.approx(1.0)
    boosted = apply_boosts(np.array([-0.5, -1.0]), np.array([1.0, 3.0]))
    assert boosted[1] > boosted[0] - 1e-12 or boosted.tolist() == [0.5, 0.0]
