# Copyright (c) mmgcp contributors. All rights reserved.
"""Paired statistics against hand-computed cases and statsmodels' Holm.

The expected numbers come from the closed forms of Student's t with 1 and 2 degrees of freedom,
worked out by hand, not from the code under test:
  - 1 dof (Cauchy): quantile ``tan(pi (q - 1/2))``, two-sided p ``1 - (2/pi) atan|t|``;
  - 2 dof: quantile ``(2q - 1) / sqrt(2 q (1 - q))``, two-sided p ``1 - |t| / sqrt(2 + t^2)``.
"""
import pytest
from statsmodels.stats.multitest import multipletests

from mmgcp.benchmark.report import comparison_table, markdown_table
from mmgcp.benchmark.stats import (
    adjust_comparisons,
    check_statistics,
    compare_variants,
    comparison_pairs,
    holm,
    mean_interval,
    metric_range,
    ordered_varies,
    paired_difference,
)


def _alone(out, metric='m'):
    """``out`` as the only comparison of its family (m = 1: the Holm p is the p-value)."""
    entry = dict(variant='gcp', baseline='gap', task='t', metric=metric, **out)
    return adjust_comparisons([entry])[0]


def test_three_differences_two_dof():
    # d = 1, 2, 3: mean 2, sd 1, sem 1/sqrt(3), t = 2 sqrt(3) = 3.4641
    # t_0.975(2) = 0.95 / sqrt(0.04875) = 4.3026527297; half width = 4.3026527297 / sqrt(3)
    # p = 1 - 3.4641 / sqrt(14) = 0.0741799002
    out = paired_difference([1.0, 2.0, 3.0])
    assert out['n'] == 3
    assert out['mean_diff'] == pytest.approx(2.0)
    assert out['std_diff'] == pytest.approx(1.0)
    assert out['ci_low'] == pytest.approx(-0.48413771175033, abs=1e-9)
    assert out['ci_high'] == pytest.approx(4.48413771175033, abs=1e-9)
    assert out['p_value'] == pytest.approx(0.07417990022744858, abs=1e-9)
    assert out['reason'] is None
    entry = _alone(out)
    assert entry['p_holm'] == entry['p_value'] and entry['family_size'] == 1
    # MDE at n=3, alpha=0.05, SD 1: statsmodels' solve_power gives d = 3.26404 (its own power
    # check in test_power.py); the verdict carries it.
    assert entry['mde'] == pytest.approx(3.26404, abs=1e-4)
    assert entry['verdict'] == 'no difference detected (MDE ±3.26 at n=3)'


def test_two_differences_one_dof():
    # d = 1, 3: mean 2, sd sqrt(2), sem 1, t = 2; t_0.975(1) = tan(0.475 pi) = 12.7062047362
    # p = 1 - (2/pi) atan(2) = 0.2951672353
    out = paired_difference([1.0, 3.0])
    assert out['ci_low'] == pytest.approx(-10.706204736174696, abs=1e-9)
    assert out['ci_high'] == pytest.approx(14.706204736174696, abs=1e-9)
    assert out['p_value'] == pytest.approx(0.2951672353008665, abs=1e-9)


def test_clear_negative_difference():
    # d = -5.0, -5.1, -4.9: mean -5, sd 0.1, t = -86.6025; p = 1 - 86.6025 / sqrt(2 + 86.6025^2)
    out = paired_difference([-5.0, -5.1, -4.9])
    assert out['p_value'] == pytest.approx(0.00013330667259114914, rel=1e-6)
    assert out['ci_low'] == pytest.approx(-5.248413771175033, abs=1e-9)
    assert out['ci_high'] == pytest.approx(-4.751586228824967, abs=1e-9)
    assert _alone(out)['verdict'] == 'lower'


def test_one_seed_has_no_interval():
    out = paired_difference([2.5])
    assert out == dict(n=1, mean_diff=2.5, std_diff=None, ci_low=None, ci_high=None,
                       p_value=None, reason='n=1: a paired test needs 2 or more seeds')
    entry = _alone(out)
    assert not entry['tested'] and entry['p_holm'] is None and entry['mde'] is None
    assert entry['verdict'] == 'not tested: n=1: a paired test needs 2 or more seeds'
    assert paired_difference([])['mean_diff'] is None


def test_zero_spread_is_not_tested():
    """Identical per-seed differences (one measurement copied) give no p = 0 and no verdict."""
    out = paired_difference([0.5, 0.5, 0.5])
    assert out['p_value'] is None and out['ci_low'] is None and out['std_diff'] == 0.0
    entry = _alone(out)
    assert entry['verdict'] == ('not tested: no spread: every seed gave the same difference, '
                                'cannot test')
    same = paired_difference([0.0, 0.0])
    assert same['p_value'] is None and _alone(same)['verdict'].startswith('not tested: no spread')


def _rows(values):
    """values: {(variant, seed): metric or None (failed)} for one task 'det'."""
    rows = []
    for (variant, seed), value in values.items():
        row = dict(variant=variant, task='det', seed=seed, state='done' if value is not None
                   else 'failed')
        if value is not None:
            row['mAP'] = value
        rows.append(row)
    rows += [dict(variant=v, task='pretrain', seed=0, state='done', top1=t)
             for v, t in (('gap', 90.0), ('gcp', 80.0))]
    return rows


def test_comparisons_pair_by_seed_and_skip_missing():
    values = {('scratch', 0): 0.10, ('scratch', 1): 0.20, ('scratch', 2): 0.30,
              ('gap', 0): 0.11, ('gap', 1): 0.22, ('gap', 2): 0.33,
              ('gcp', 0): 0.20, ('gcp', 1): 0.30, ('gcp', 2): None}
    pairs = comparison_pairs(['scratch', 'gap', 'gcp'], 'gap', 'scratch')
    assert pairs == [('gcp', 'gap'), ('gap', 'scratch'), ('gcp', 'scratch')]
    comps = compare_variants(_rows(values), {'pretrain': ['top1'], 'det': ['mAP']}, pairs)
    found = {(c['variant'], c['baseline'], c['task']): c for c in comps}
    # scratch has no pretraining row: no pretrain comparison against it
    assert set(found) == {('gcp', 'gap', 'pretrain'), ('gcp', 'gap', 'det'),
                          ('gap', 'scratch', 'det'), ('gcp', 'scratch', 'det')}
    gcp_gap = found[('gcp', 'gap', 'det')]
    assert gcp_gap['seeds'] == [0, 1] and gcp_gap['n'] == 2  # seed 2 of gcp failed
    assert gcp_gap['mean_diff'] == pytest.approx((0.09 + 0.08) / 2)
    gap_scratch = found[('gap', 'scratch', 'det')]
    assert gap_scratch['mean_diff'] == pytest.approx(0.02)  # 0.01, 0.02, 0.03
    assert gap_scratch['ci_low'] == pytest.approx(0.02 - 0.01 * 4.302652729749462 / 3**0.5)
    pre = found[('gcp', 'gap', 'pretrain')]
    assert pre['n'] == 1 and pre['mean_diff'] == pytest.approx(-10.0) and pre['p_value'] is None
    for c in comps:
        assert {'variant', 'baseline', 'task', 'metric', 'n', 'mean_diff', 'ci_low', 'ci_high',
                'p_value'} <= set(c)
    # gcp - scratch det: 0.20 - 0.10 and 0.30 - 0.20, equal up to float rounding (1e-17):
    # no spread, so no test (a t-test would give p ~ 1e-16)
    gcp_scratch = found[('gcp', 'scratch', 'det')]
    assert gcp_scratch['n'] == 2 and gcp_scratch['p_value'] is None
    assert gcp_scratch['verdict'].startswith('not tested: no spread')
    # the family is the two tested comparisons; every untested one stays out of m
    tested = [c for c in comps if c['tested']]
    assert {(c['variant'], c['baseline']) for c in tested} == {('gcp', 'gap'), ('gap', 'scratch')}
    assert all(c['family'] == 'report' and c['family_size'] == 2 for c in tested)
    assert pre['family_size'] is None and pre['p_holm'] is None
    table = comparison_table(comps)
    assert ('| gcp | gap | pretrain: top1 | 1 | -10.00 | - | - | - | - | not tested: n=1: a '
            'paired test needs 2 or more seeds |') in table


def test_single_seed_cell_has_no_plus_minus():
    summary = [dict(variant='gap', task='t', metric='m', n=1, mean=95.0, std=0.0),
               dict(variant='gcp', task='t', metric='m', n=3, mean=90.0, std=1.5)]
    table = markdown_table(summary)
    assert '| gap | 95.00 (n=1) |' in table and '± 0.00' not in table
    assert '| gcp | 90.00 ± 1.50 (n=3) |' in table


def test_holm_by_hand():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> max(0.06, .04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # ties and p = 0: 0 x5 = 0, 0.02 x4 = 0.08, 0.02 x3 = 0.06 -> 0.08, 0.5 x2 = 1, 0.5 -> 1
    assert holm([0.5, 0.02, 0.0, 0.02, 0.5]) == pytest.approx([1.0, 0.08, 0.0, 0.08, 1.0])
    assert holm([]) == [] and holm([0.3]) == [0.3]


@pytest.mark.parametrize('p_values', [
    [0.01, 0.04, 0.03, 0.005],
    [0.5, 0.02, 0.0, 0.02, 0.5],
    [0.0, 0.0, 1.0],
    [0.001 * k for k in (7, 3, 3, 50, 12, 0, 9, 3, 800, 41, 2, 2, 26, 19, 5, 1, 999)],
])
def test_holm_agrees_with_statsmodels(p_values):
    reject, corrected, _, _ = multipletests(p_values, alpha=0.05, method='holm')
    adjusted = holm(p_values)
    assert adjusted == pytest.approx(list(corrected), abs=1e-12)
    assert [p <= 0.05 for p in adjusted] == list(reject)


@pytest.mark.parametrize('bad', [[0.1, float('nan')], [1.2], [-0.01]])
def test_holm_refuses_values_that_are_no_p_values(bad):
    with pytest.raises(ValueError, match=r'p-values must lie in \[0, 1\]'):
        holm(bad)


def _comparison(task, p_value, mean_diff=1.0, n=3, std=1.0):
    return dict(variant='gcp', baseline='gap', task=task, metric='m', n=n, mean_diff=mean_diff,
                std_diff=std, p_value=p_value, reason=None)


def test_the_verdict_follows_the_holm_p_and_the_family():
    def run(family):
        comps = [_comparison('coco', 0.02), _comparison('coco', 0.04),
                 _comparison('ade20k', 0.01, mean_diff=-1.0),
                 dict(_comparison('ade20k', None), reason='n=1: one seed')]
        return adjust_comparisons(comps, dict(family=family))

    report = run('report')  # m = 3: 0.01 x3 = 0.03, 0.02 x2 = 0.04, 0.04 x1 -> 0.04
    assert [c['p_holm'] for c in report[:3]] == pytest.approx([0.04, 0.04, 0.03])
    assert [c['verdict'] for c in report[:3]] == ['higher', 'higher', 'lower']
    assert all(c['family'] == 'report' and c['family_size'] == 3 for c in report[:3])
    assert report[3]['p_holm'] is None and report[3]['verdict'] == 'not tested: n=1: one seed'
    assert report[0]['alpha_mde'] == pytest.approx(0.05 / 3)

    per_task = run('task')  # coco: m = 2 -> 0.04, 0.04; ade20k: m = 1 -> 0.01
    assert [c['family'] for c in per_task[:3]] == ['task=coco', 'task=coco', 'task=ade20k']
    assert [c['p_holm'] for c in per_task[:3]] == pytest.approx([0.04, 0.04, 0.01])
    assert per_task[2]['alpha_mde'] == pytest.approx(0.05)

    strict = adjust_comparisons([_comparison('coco', 0.02), _comparison('ade20k', 0.03)],
                                dict(alpha=0.05))  # 0.02 x2 = 0.04, 0.03 -> 0.04: both found
    assert [c['verdict'] for c in strict] == ['higher', 'higher']
    lost = adjust_comparisons([_comparison('coco', 0.03), _comparison('ade20k', 0.04),
                               _comparison('voc', 0.9)])  # 0.03 x3 = 0.09: none found
    assert lost[0]['p_value'] == 0.03 and lost[0]['p_holm'] == pytest.approx(0.09)
    assert lost[0]['verdict'].startswith('no difference detected (MDE ±')


def test_statistics_settings_are_checked():
    assert check_statistics(None) == dict(alpha=0.05, power=0.8, family='report')
    assert check_statistics(dict(family='task+baseline'))['family'] == 'task+baseline'
    with pytest.raises(KeyError, match=r"unknown key\(s\) \['alfa'\].*alpha: "):
        check_statistics(dict(alfa=0.1))
    with pytest.raises(ValueError, match=r'statistics.alpha=1.5: expected a number strictly'):
        check_statistics(dict(alpha=1.5))
    with pytest.raises(ValueError, match=r"statistics.family='seed'"):
        check_statistics(dict(family='seed'))


def test_metric_ranges_and_clipping():
    assert metric_range('accuracy/top1') == (0.0, 100.0) and metric_range('mIoU') == (0, 100)
    assert metric_range('coco/bbox_mAP') == (0.0, 1.0)
    assert metric_range('coco/segm_mAP_50') == (0.0, 1.0)
    assert metric_range('loss') is None
    # top-1 99.0, 99.5, 100.0: mean 99.5, sd 0.5, half width 4.30265 x 0.5 / sqrt(3) = 1.24207
    interval = mean_interval([99.0, 99.5, 100.0], bounds=metric_range('accuracy/top1'))
    assert interval['ci_high'] == 100.0
    assert interval['ci_low'] == pytest.approx(99.5 - 1.2420689, abs=1e-6)
    assert interval['ci_unclipped'][1] == pytest.approx(99.5 + 1.2420689, abs=1e-6)
    inside = mean_interval([50.0, 51.0, 52.0], bounds=(0.0, 100.0))
    assert 'ci_unclipped' not in inside
    # COCO mAP given in percent is off the known range: left as it is, with a note
    off = mean_interval([37.0, 37.5, 38.0], bounds=metric_range('coco/bbox_mAP'))
    assert off['ci_high'] > 38.0 and 'not clipped' in off['range_note']


def test_what_n_varies_and_a_fixed_side():
    assert ordered_varies([['finetune_seed'], ['pretrain_seed', 'finetune_seed']]) == [
        'pretrain_seed', 'finetune_seed']
    assert ordered_varies([[], []]) == []
    with pytest.raises(ValueError, match=r"\['data_seed'\]; expected a subset of"):
        ordered_varies([['data_seed']])
    rows = [dict(variant='gap', task='cls', seed=None, state='done', top1=76.0)] + [
        dict(variant='gcp', task='cls', seed=s, state='done', top1=77.0 + s) for s in range(3)]
    varies = {('gap', 'cls'): [], ('gcp', 'cls'): ['pretrain_seed', 'finetune_seed']}
    (entry, ) = compare_variants(rows, {'cls': ['top1']}, [('gcp', 'gap')], varies)
    assert entry['varies'] == ['pretrain_seed', 'finetune_seed'] and not entry['tested']
    assert entry['n'] == 0 and entry['verdict'] == ('not tested: one side is one evaluation of a '
                                                    'fixed checkpoint: no pairing by seed')


def test_an_mde_beyond_the_metric_range_says_so():
    # COCO mAP differences lie in [-1, 1]; d = 0.1, 0.3 has SD 0.14142 and at n=2, alpha=0.05
    # the MDE is 11.5499 SDs (statsmodels' solve_power, see test_power.py): 1.633 > 1
    coco = _alone(paired_difference([0.1, 0.3]), metric='coco/bbox_mAP')
    assert coco['verdict'] == "no difference detected (MDE ±1.63 at n=2, beyond the metric's range)"
    top1 = _alone(paired_difference([0.1, 0.3]), metric='accuracy/top1')
    assert top1['verdict'] == 'no difference detected (MDE ±1.63 at n=2)'
