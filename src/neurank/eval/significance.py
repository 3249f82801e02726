"""Paired significance of a metric difference between two systems over the same queries.

A two-sided paired randomization (permutation) test: under the null hypothesis each query's
pair of scores is exchangeable, so the sign of each per-query difference is flipped at random;
the p-value is the share of flips whose mean difference is at least as far from 0 as the one
observed (+1 smoothing). The 95% interval of the mean difference is a percentile bootstrap over
queries. Small collections make most 0.01 gaps noise: read the interval, not only the means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DEFAULT_SAMPLES = 10_000


@dataclass(frozen=True)
class PairedTest:
    metric: str
    queries: int
    mean_a: float
    mean_b: float
    difference: float  # mean of b - a
    p_value: float
    low: float  # 95% interval of the difference
    high: float

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05

    def to_dict(self) -> dict[str, float | int | str | bool]:
        return {"metric": self.metric, "queries": self.queries, "mean_a": self.mean_a,
                "mean_b": self.mean_b, "difference": self.difference, "p_value": self.p_value,
                "ci95": [self.low, self.high], "significant": self.significant}


def paired_test(
    per_query_a: Mapping[str, Mapping[str, float]],
    per_query_b: Mapping[str, Mapping[str, float]],
    metric: str,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> PairedTest:
    """Compare `metric` of system B against system A over the queries both were scored on."""
    queries = sorted(set(per_query_a) & set(per_query_b))
    if not queries:
        raise ValueError("the two runs share no scored query")
    a = np.asarray([per_query_a[q][metric] for q in queries], dtype=np.float64)
    b = np.asarray([per_query_b[q][metric] for q in queries], dtype=np.float64)
    diff = b - a
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(samples, len(diff)))
    flipped = np.abs((signs * diff).mean(axis=1))
    p_value = (1.0 + float((flipped >= observed - 1e-12).sum())) / (samples + 1.0)
    boot = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return PairedTest(metric=metric, queries=len(queries), mean_a=float(a.mean()),
                      mean_b=float(b.mean()), difference=float(diff.mean()),
                      p_value=p_value, low=float(low), high=float(high))
