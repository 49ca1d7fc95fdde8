# Copyright (c) mmgcp contributors. All rights reserved.
"""Power of the two-sided paired t-test: the minimum detectable effect and the seeds needed.

The paired t-test of ``n`` per-seed differences is a one-sample t-test of their mean. When the
true mean difference is ``delta`` and the true standard deviation of the differences ``sigma``,
its statistic follows a noncentral t distribution with ``n - 1`` degrees of freedom and
noncentrality ``sqrt(n) * delta / sigma``; the power is the probability that it falls beyond the
two-sided critical value ``t_{1 - alpha/2}(n - 1)``. The distribution is scipy's ``nct``: no
approximation. Both tails are ``nct.sf`` (the lower one by the symmetry ``T(-nc) = -T(nc)``),
because scipy's ``nct.cdf`` far in the lower tail can return NaN where ``sf`` stays finite.
"""
import math
from typing import Dict, Optional

#: Largest number of seeds :func:`seeds_needed` searches: beyond it the answer is "more than
#: this", with the power this many seeds would give. A difference that needs more is too small
#: for its seed-to-seed spread to settle by seeds; lower the spread (longer schedules, more
#: evaluation data) or ask about a larger difference.
MAX_SEEDS = 100


def check_probability(name: str, value: float) -> float:
    """``value`` as a float when strictly between 0 and 1, else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 < float(value) < 1.0:
        raise ValueError(f'{name} must be a number strictly between 0 and 1, got {value!r}; '
                         f'e.g. {name}=0.05 for alpha, 0.8 for power.')
    return float(value)


def check_max_seeds(max_seeds: int) -> int:
    """``max_seeds`` when it is an integer >= 2, else a ValueError."""
    if isinstance(max_seeds, bool) or not isinstance(max_seeds, int) or max_seeds < 2:
        raise ValueError(f'max_seeds must be an integer >= 2, got {max_seeds!r}.')
    return max_seeds


def t_test_power(effect_size: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired (one-sample) t-test.

    Args:
        effect_size (float): True mean difference over the true standard deviation of the
            differences (Cohen's ``d_z``).
        n (int): Number of paired differences (seeds), at least 2.
        alpha (float): Significance level of the test.

    Returns:
        float: The probability that the test rejects "mean difference = 0".
    """
    from scipy.stats import nct, t
    if n < 2:
        raise ValueError(f'the paired t-test needs n >= 2 differences, got n={n}.')
    alpha = check_probability('alpha', alpha)
    dof = n - 1
    critical = t.ppf(1.0 - alpha / 2.0, dof)
    noncentrality = abs(float(effect_size)) * math.sqrt(n)
    return float(nct.sf(critical, dof, noncentrality) + nct.sf(critical, dof, -noncentrality))


def minimum_detectable_effect(std: Optional[float], n: int, alpha: float,
                              power: float = 0.8) -> Optional[float]:
    """Smallest true mean difference the two-sided paired t-test detects with ``power``.

    Args:
        std (float, optional): Standard deviation of the per-seed differences, taken as the true
            one.
        n (int): Number of paired differences (seeds).
        alpha (float): Significance level the test is run at.
        power (float): Wanted probability of detecting the difference. Defaults to 0.8.

    Returns:
        float | None: The difference, in the metric's units (positive: the test is
        two-sided, so ``-mde`` is detected with the same power); None when it is undefined
        (``n < 2``, or no spread to scale it by).
    """
    from scipy.optimize import brentq
    power = check_probability('power', power)
    alpha = check_probability('alpha', alpha)
    if n < 2 or std is None or not math.isfinite(std) or std <= 0.0:
        return None
    if power <= alpha:  # a zero difference is already rejected with probability alpha
        return 0.0
    high = 1.0
    while t_test_power(high, n, alpha) < power:
        high *= 2.0
    effect = brentq(lambda d: t_test_power(d, n, alpha) - power, 0.0, high, xtol=1e-12,
                    rtol=1e-12)
    return float(effect) * float(std)


def std_upper_bound(std: float, n: int, confidence: float = 0.8) -> float:
    """One-sided upper confidence bound of a normal standard deviation estimated from ``n``
    values: ``std * sqrt((n - 1) / chi2_{1 - confidence}(n - 1))``."""
    from scipy.stats import chi2
    if n < 2:
        raise ValueError(f'a standard deviation needs n >= 2 values, got n={n}.')
    confidence = check_probability('confidence', confidence)
    return float(std) * math.sqrt((n - 1) / chi2.ppf(1.0 - confidence, n - 1))


def seeds_needed(std: float, target: float, alpha: float, power: float = 0.8,
                 max_seeds: int = MAX_SEEDS) -> Dict[str, object]:
    """Fewest seeds at which the two-sided paired t-test detects ``target`` with ``power``.

    Args:
        std (float): Standard deviation of the per-seed differences, taken as the true one.
        target (float): The true mean difference to detect, in the metric's units.
        alpha (float): Significance level the test is run at.
        power (float): Wanted probability of detecting ``target``. Defaults to 0.8.
        max_seeds (int): Largest number of seeds searched. Defaults to :data:`MAX_SEEDS`.

    Returns:
        dict: ``seeds`` (the fewest, from 2, or None when even ``max_seeds`` fall short),
        ``power`` (the power at ``seeds``, or at ``max_seeds`` when they fall short) and
        ``max_seeds``.
    """
    power = check_probability('power', power)
    check_max_seeds(max_seeds)
    if not (isinstance(target, (int, float)) and math.isfinite(target) and target != 0):
        raise ValueError(f'the target difference must be a non-zero number, got {target!r}.')
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise ValueError(f'the standard deviation of the differences must be > 0, got {std!r}; '
                         'with no spread the t-test is undefined.')
    effect = abs(float(target)) / float(std)
    at_max = t_test_power(effect, max_seeds, alpha)
    if at_max < power:
        return dict(seeds=None, power=at_max, max_seeds=max_seeds)
    low, high = 1, max_seeds  # power(low) < power <= power(high); power rises with n
    while high - low > 1:
        middle = (low + high) // 2
        if t_test_power(effect, middle, alpha) >= power:
            high = middle
        else:
            low = middle
    return dict(seeds=high, power=t_test_power(effect, high, alpha), max_seeds=max_seeds)
