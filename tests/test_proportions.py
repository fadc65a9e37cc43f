"""The statistics of proportions on known numbers."""

from __future__ import annotations

import pytest

from recsvc.proportions import compare, sample_size, wilson


def test_wilson_interval_on_known_cases() -> None:
    # Newcombe (1998), Statistics in Medicine 17: 81/263 -> 0.2553 to 0.3662
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    # no successes: the interval starts at 0 and is not empty (3.7 / n rule of thumb)
    low, high = wilson(0, 100)
    assert low == 0
    assert high == pytest.approx(0.0370, abs=1e-4)
    assert wilson(5, 5)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_two_proportion_test_on_known_numbers() -> None:
    # 200/1000 against 250/1000: pooled p 0.225, se 0.018675, z 2.6774, two-sided
    # p 0.00742 (by hand; scipy.stats.norm.sf(2.6774) * 2 agrees)
    result = compare(200, 1000, 250, 1000)
    assert result.difference == pytest.approx(0.05)
    assert result.p_value == pytest.approx(0.00742, abs=1e-5)
    # the interval: unpooled se sqrt(.2 * .8 / 1000 + .25 * .75 / 1000) = 0.018641
    assert result.low == pytest.approx(0.05 - 1.959964 * 0.018641, abs=1e-5)
    # the same rates: no difference, p = 1
    same = compare(30, 1000, 60, 2000)
    assert same.difference == 0
    assert same.p_value == pytest.approx(1.0)
    assert compare(0, 0, 1, 10).p_value == 1.0


def test_sample_size_for_a_lift() -> None:
    # 10% -> 12% (a 20% lift), alpha 0.05, power 0.8: 3,841 per arm (Fleiss' formula,
    # pooled under the null; the textbook figure for this case)
    assert sample_size(0.10, 0.20) == 3_841
    # smaller lifts need quadratically more
    assert sample_size(0.10, 0.10) > 3.5 * sample_size(0.10, 0.20)
    with pytest.raises(ValueError, match="rate must be within"):
        sample_size(0.0, 0.1)


def test_clustered_rates_match_the_binomial_with_one_impression_per_shopper() -> None:
    from recsvc.proportions import Clustered, compare_clustered

    # 1000 shoppers, one impression each, 200 successes: the binomial variance
    one = Clustered(clusters=1000, n=1000, s=200, nn=1000, ss=200, ns=200)
    assert one.rate == 0.2
    assert one.variance == pytest.approx(0.2 * 0.8 / 1000)
    other = Clustered(clusters=1000, n=1000, s=250, nn=1000, ss=250, ns=250)
    result = compare_clustered(one, other)
    assert result.difference == pytest.approx(0.05)
    assert result.low == pytest.approx(0.05 - 1.959964 * 0.018641, abs=1e-5)


def test_clustered_rates_widen_when_shoppers_differ() -> None:
    from recsvc.proportions import Clustered

    # 100 shoppers with 10 impressions each: half always succeed, half never; the same
    # 0.5 rate as 1000 independent impressions, but only 100 independent shoppers
    clustered = Clustered(clusters=100, n=1000, s=500, nn=100 * 100, ss=50 * 100, ns=50 * 100)
    assert clustered.rate == 0.5
    assert clustered.variance == pytest.approx(0.25 / 100)  # 10 x the binomial 0.25 / 1000
