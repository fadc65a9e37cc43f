"""Statistics of proportions: the rates of what recommendations earn (views, add-to-carts
and purchases per impression) and the comparison of two experiment variants.

Plain arithmetic on counts (no database, no web): the store's stats and the experiments'
verdicts call it, and tests check it on known numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

#: two-sided 95%
Z95 = NormalDist().inv_cdf(0.975)


def wilson(successes: int, trials: int, *, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (95% by default); (0, 1) without trials.
    Unlike the normal approximation it stays within [0, 1] and is honest for rare
    events (a purchase rate of 0.5% over a few hundred impressions)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Comparison:
    """Variant b against variant a on one rate."""

    rate_a: float
    rate_b: float
    #: b's rate minus a's, and its 95% interval (unpooled normal approximation)
    difference: float
    low: float
    high: float
    #: two-sided p-value of the two-proportion z-test (pooled)
    p_value: float


def compare(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> Comparison:
    """The two-proportion z-test of b against a, with the difference's 95% interval."""
    if trials_a <= 0 or trials_b <= 0:
        return Comparison(0.0, 0.0, 0.0, -1.0, 1.0, 1.0)
    pa, pb = successes_a / trials_a, successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    p_value = 1.0 if se_pooled == 0 else math.erfc(abs(pb - pa) / se_pooled / math.sqrt(2))
    se = math.sqrt(pa * (1 - pa) / trials_a + pb * (1 - pb) / trials_b)
    return Comparison(pa, pb, pb - pa, pb - pa - Z95 * se, pb - pa + Z95 * se, p_value)


@dataclass(frozen=True)
class Clustered:
    """A rate per impression whose impressions come in clusters (a shopper's visits):
    over ``clusters`` shoppers, the sums of each shopper's impressions ``n`` and
    successes ``s``, and of ``n * n``, ``s * s`` and ``n * s``."""

    clusters: int
    n: float
    s: float
    nn: float
    ss: float
    ns: float

    @property
    def rate(self) -> float:
        """Successes per impression."""
        return self.s / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """The rate's variance by the delta method over shoppers (Deng, Knoblich and Lu,
        "Applying the Delta Method in Metric Analytics", KDD 2018): impressions of one
        shopper are not independent, so the binomial variance understates it; with one
        impression per shopper the two agree."""
        k = self.clusters
        if k < 2 or not self.n:
            return 0.0
        mean_n, mean_s = self.n / k, self.s / k
        var_n = self.nn / k - mean_n**2
        var_s = self.ss / k - mean_s**2
        cov = self.ns / k - mean_n * mean_s
        rate = mean_s / mean_n
        return max(0.0, (var_s - 2 * rate * cov + rate * rate * var_n) / (k * mean_n**2))


def compare_clustered(a: Clustered, b: Clustered) -> Comparison:
    """b's rate against a's when shoppers, not impressions, were assigned to variants:
    the difference's z-test and 95% interval with each rate's delta-method variance."""
    difference = b.rate - a.rate
    se = math.sqrt(a.variance + b.variance)
    if se == 0:
        return Comparison(a.rate, b.rate, difference, difference, difference, 1.0)
    p_value = math.erfc(abs(difference) / se / math.sqrt(2))
    return Comparison(a.rate, b.rate, difference, difference - Z95 * se,
                      difference + Z95 * se, p_value)  # fmt: skip


def sample_size(rate: float, lift: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Impressions each variant needs for a two-sided test at ``alpha`` to detect, with
    ``power``, a relative ``lift`` of ``rate`` (0.1: from 2.0% to 2.2%)."""
    if not 0 < rate < 1 or lift == 0:
        raise ValueError("rate must be within (0, 1) and lift non-zero")
    other = min(rate * (1 + lift), 1 - 1e-12)
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    mean = (rate + other) / 2
    top = (z_alpha * math.sqrt(2 * mean * (1 - mean))
           + z_power * math.sqrt(rate * (1 - rate) + other * (1 - other)))  # fmt: skip
    return math.ceil(top * top / (rate - other) ** 2)
