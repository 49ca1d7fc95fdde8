# Copyright (c) mmgcp contributors. All rights reserved.
"""Power of the paired t-test against computations that share no code with it.

- The definition, integrated numerically with the chi-square and normal distributions only (no
  noncentral t): the ``paired_t_power`` fixture (tests/test_benchmark/conftest.py).
- statsmodels' ``TTestPower`` where its solver converges (it is checked to give the power it
  claims, because at small alpha it returns wrong answers without a warning).
- The published sample size of the one-sample / paired t-test for Cohen's d = 0.5, two-sided
  alpha = 0.05, power 0.8: N = 34 with actual power 0.8078 (G*Power; R's pwr gives n = 33.37).
"""
import math

import pytest
from statsmodels.stats.power import TTestPower

from mmgcp.benchmark.power import (
    minimum_detectable_effect,
    seeds_needed,
    std_upper_bound,
    t_test_power,
)

CASES = [(0.0, 3, 0.05), (1.0, 3, 0.05), (3.0, 3, 0.05 / 17), (12.0, 2, 0.05 / 6),
         (0.5, 34, 0.05), (0.8, 10, 0.01)]


@pytest.mark.parametrize('effect,n,alpha', CASES)
def test_power_is_the_definition(effect, n, alpha, paired_t_power):
    assert t_test_power(effect, n, alpha) == pytest.approx(
        paired_t_power(effect, n, alpha), abs=1e-7)


def test_power_of_no_difference_is_alpha_and_sign_does_not_matter():
    assert t_test_power(0.0, 5, 0.05) == pytest.approx(0.05, abs=1e-12)
    assert t_test_power(-1.3, 5, 0.05) == pytest.approx(t_test_power(1.3, 5, 0.05), abs=1e-12)


@pytest.mark.parametrize('n', [2, 3, 5, 10])
@pytest.mark.parametrize('alpha', [0.05, 0.05 / 17])
def test_mde_has_the_wanted_power(n, alpha, paired_t_power):
    std = 2.0
    mde = minimum_detectable_effect(std, n, alpha, power=0.8)
    assert paired_t_power(mde / std, n, alpha) == pytest.approx(0.8, abs=1e-6)


def test_mde_agrees_with_statsmodels_where_its_solver_converges():
    solver = TTestPower()
    for n in (3, 5, 10, 30):
        effect = solver.solve_power(effect_size=None, nobs=n, alpha=0.05, power=0.8,
                                    alternative='two-sided')
        assert solver.power(effect, n, 0.05, alternative='two-sided') == pytest.approx(0.8,
                                                                                        abs=1e-6)
        assert minimum_detectable_effect(1.5, n, 0.05) == pytest.approx(1.5 * effect, rel=1e-5)
    # the value test_stats.py's verdict uses: n = 3, alpha = 0.05, SD 1
    assert minimum_detectable_effect(1.0, 3, 0.05) == pytest.approx(3.26404, abs=1e-4)


def test_mde_undefined_without_spread_or_seeds():
    assert minimum_detectable_effect(1.0, 1, 0.05) is None
    assert minimum_detectable_effect(0.0, 3, 0.05) is None
    assert minimum_detectable_effect(None, 3, 0.05) is None


def test_seeds_needed_matches_the_published_table():
    out = seeds_needed(std=1.0, target=0.5, alpha=0.05, power=0.8)
    assert out['seeds'] == 34 and out['power'] == pytest.approx(0.8078, abs=1e-4)
    # the scale cancels: SD 0.014, target 0.007 is the same d = 0.5
    assert seeds_needed(0.014, 0.007, 0.05)['seeds'] == 34


def test_seeds_needed_is_the_fewest(paired_t_power):
    std, target, alpha = 0.004, 0.007, 0.05 / 6
    seeds = seeds_needed(std, target, alpha)['seeds']
    assert paired_t_power(target / std, seeds, alpha) >= 0.8
    assert paired_t_power(target / std, seeds - 1, alpha) < 0.8


def test_seeds_beyond_the_maximum_say_so(paired_t_power):
    out = seeds_needed(std=1.0, target=0.1, alpha=0.05, power=0.8, max_seeds=100)
    assert out['seeds'] is None and out['max_seeds'] == 100
    assert out['power'] == pytest.approx(paired_t_power(0.1, 100, 0.05), abs=1e-7)
    assert out['power'] < 0.8


def test_std_upper_bound_by_hand():
    # chi2 with 2 dof: cdf 1 - exp(-x / 2), so its 0.2 quantile is -2 ln 0.8 and the bound is
    # std sqrt(2 / (-2 ln 0.8)) = std / sqrt(-ln 0.8) = 2.1169 std
    assert std_upper_bound(1.0, 3, 0.8) == pytest.approx(1 / math.sqrt(-math.log(0.8)), rel=1e-9)


@pytest.mark.parametrize('call,match', [
    (lambda: t_test_power(1.0, 1, 0.05), 'n >= 2'),
    (lambda: t_test_power(1.0, 3, 1.5), 'alpha must be a number strictly between 0 and 1'),
    (lambda: minimum_detectable_effect(1.0, 3, 0.05, power=0.0), 'power must be'),
    (lambda: seeds_needed(1.0, 0.0, 0.05), 'non-zero'),
    (lambda: seeds_needed(0.0, 1.0, 0.05), 'standard deviation of the differences must be > 0'),
    (lambda: seeds_needed(1.0, 1.0, 0.05, max_seeds=1), 'max_seeds must be an integer >= 2'),
])
def test_bad_input_is_refused_with_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()
