# Copyright (c) mmgcp contributors. All rights reserved.
"""Fixtures of the benchmark tests."""
import math

import pytest


def power_by_definition(effect: float, n: int, alpha: float) -> float:
    """Power of the two-sided one-sample (paired) t-test from its definition, with the
    chi-square and normal distributions only (no noncentral t): with ``V ~ chi2(n - 1)`` and
    ``Z ~ N(0, 1)`` the statistic is ``(Z + d sqrt(n)) / sqrt(V / (n - 1))``, so the power is
    ``E_V[Phi(-c s - delta) + 1 - Phi(c s - delta)]`` with ``s = sqrt(V / (n - 1))``,
    ``delta = d sqrt(n)`` and ``c`` the two-sided critical value of Student's t."""
    from scipy import integrate
    from scipy.stats import chi2, norm, t
    dof = n - 1
    critical = t.ppf(1 - alpha / 2, dof)
    delta = effect * math.sqrt(n)

    def integrand(v):
        s = math.sqrt(v / dof)
        return chi2.pdf(v, dof) * (norm.cdf(-critical * s - delta) + norm.sf(critical * s - delta))

    value, _ = integrate.quad(integrand, 0, math.inf, epsabs=1e-12, epsrel=1e-10, limit=200)
    return value


@pytest.fixture(scope='session')
def paired_t_power():
    """:func:`power_by_definition` as a fixture."""
    return power_by_definition



#: The toy seg config of the one-task experiments, per variant.
TOY_SEG_CONFIG = 'configs/toy/seg/upernet_r18-w16-{variant}_1xb4_toy-128x128.py'


@pytest.fixture
def gap_seg_experiment(tmp_path, repo_root):
    """Write ``tmp_path/exp.py``: the toy preset cut to its ``gap`` variant and one ADE20K-like
    task (``seg_config``, by default the toy UperNet), for the tests that launch whole benchmark
    commands; returns a function of ``seg_config`` that gives the file's path."""

    def write(seg_config: str = TOY_SEG_CONFIG) -> str:
        exp = tmp_path / 'exp.py'
        exp.write_text(f"""_base_ = '{repo_root}/configs/benchmark/toy.py'
variants = dict(_delete_=True,
                gap=dict(pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py'))
tasks = dict(_delete_=True, ade20k=dict(kind='seg', config='{seg_config}', metrics=['mIoU']))
""")
        return str(exp)

    return write
