# Copyright (c) mmgcp contributors. All rights reserved.
"""The report's statistics on a hand-made benchmark: a fixed-checkpoint evaluation reported
once and never tested, Holm over the report's family, the MDE, what n varies, intervals within
the metric's range, and results.json / results.md carrying all of it."""
import json

import pytest

from mmgcp.benchmark.experiment import Run
from mmgcp.benchmark.report import write_results

# Two published checkpoints evaluated once each (imagenet), fine-tuned with 3 seeds (coco,
# ade20k); the from-scratch control has no imagenet entry.
IMAGENET = {'gap': 76.1, 'gcp': 77.9}
COCO = {'gap': [0.370, 0.372, 0.368], 'gcp': [0.378, 0.377, 0.380], 'scratch': [0.20, 0.21, 0.22]}
ADE = {'gap': [99.0, 99.5, 100.0], 'gcp': [98.0, 99.5, 100.0], 'scratch': [30.0, 31.0, 29.0]}
META = dict(variants=dict(scratch=dict(from_scratch=True, arch='gap'), gap={}, gcp={}))


def _benchmark(tmp_path, ade=None):
    runs, statuses = [], []
    for variant, top1 in IMAGENET.items():
        run = Run(variant, 'imagenet', None, 'c.py', str(tmp_path / variant / 'imagenet'),
                  ['accuracy/top1'], 'cls', evaluate_only=True, varies=[])
        runs.append(run)
        statuses.append(dict(state='done', metrics={'accuracy/top1': top1}))
    for variant in ('scratch', 'gap', 'gcp'):
        for seed in range(3):
            for task, metric, values in (('coco', 'coco/bbox_mAP', COCO),
                                         ('ade20k', 'mIoU', ade or ADE)):
                runs.append(Run(variant, task, seed, 'c.py',
                                str(tmp_path / variant / f'{task}{seed}'), [metric], 'det'))
                statuses.append(dict(state='done', metrics={metric: values[variant][seed]}))
    return runs, statuses


def _by_key(comparisons):
    return {(c['variant'], c['baseline'], c['task']): c for c in comparisons}


def test_fixed_checkpoint_is_reported_once_and_never_tested(tmp_path):
    runs, statuses = _benchmark(tmp_path)
    out = write_results(str(tmp_path / 'out'), runs, statuses, meta=META)
    assert '| gap | 76.10 (one evaluation of a fixed checkpoint) |' in out['table']
    cell = next(s for s in out['summary'] if s['task'] == 'imagenet' and s['variant'] == 'gcp')
    assert cell['varies'] == [] and cell['n'] == 1 and 'ci_low' not in cell
    imagenet = _by_key(out['comparisons'])[('gcp', 'gap', 'imagenet')]
    assert imagenet['varies'] == [] and imagenet['tested'] is False
    assert imagenet['n'] == 1 and imagenet['mean_diff'] == pytest.approx(1.8)
    assert imagenet['p_value'] is None and imagenet['p_holm'] is None and imagenet['mde'] is None
    assert imagenet['verdict'] == ('not tested: fixed checkpoints: one evaluation each, nothing '
                                   'varies with the seed')
    # the family is every tested comparison: 3 pairs x (coco, ade20k), not imagenet
    tested = [c for c in out['comparisons'] if c['tested']]
    assert len(tested) == 6 and all(c['family_size'] == 6 for c in tested)
    assert out['statistics']['families'] == {'report': 6}
    assert 'n varies: nothing (imagenet): one evaluation of a fixed checkpoint per variant' \
        in out['comparison_notes']
    assert 'n varies: finetune_seed (coco, ade20k): one pretrained checkpoint per variant, so ' \
        'pretraining variance is not in these intervals' in out['comparison_notes']


def test_holm_and_mde_in_the_report(tmp_path, paired_t_power):
    runs, statuses = _benchmark(tmp_path)
    out = write_results(str(tmp_path / 'out'), runs, statuses, meta=META)
    found = _by_key(out['comparisons'])
    # gcp - gap coco: 0.008, 0.005, 0.012: mean 0.00833, sd 0.0035119, t = 4.1110 (2 dof)
    # p = 1 - t / sqrt(2 + t^2) = 0.054414 by hand
    coco = found[('gcp', 'gap', 'coco')]
    assert coco['p_value'] == pytest.approx(0.054414, abs=1e-5)
    # The six p-values sorted: the four against scratch (each < 0.002, adjusted to < 0.005),
    # then this one (x2 = 0.108828) and gcp - gap ade20k (0.42265, x1). Not 3 x p: the
    # imagenet evaluation is no test, so m = 6, not 7.
    assert coco['p_holm'] == pytest.approx(2 * 0.054414, abs=2e-5)
    ade = found[('gcp', 'gap', 'ade20k')]  # -1, 0, 0: t = -1, p = 1 - 1 / sqrt(3)
    assert ade['p_holm'] == ade['p_value'] == pytest.approx(0.42265, abs=1e-5)
    assert coco['p_holm'] > 0.05 and coco['verdict'].startswith('no difference detected (MDE ±')
    # the MDE is stated at alpha / m with the observed SD: its power there is 80%
    assert coco['alpha_mde'] == pytest.approx(0.05 / 6)
    assert paired_t_power(coco['mde'] / coco['std_diff'], 3, 0.05 / 6) == pytest.approx(0.8,
                                                                                         abs=1e-6)
    assert f"(MDE ±{coco['mde']:.3f} at n=3)" in coco['verdict']
    # gap vs scratch ade20k: +69.5 with a small spread, found after adjustment
    assert found[('gap', 'scratch', 'ade20k')]['verdict'] == 'higher'


def test_results_files_carry_the_new_fields(tmp_path):
    runs, statuses = _benchmark(tmp_path)
    out_dir = tmp_path / 'out'
    out = write_results(str(out_dir), runs, statuses, meta=dict(META, statistics=dict(
        family='task')))
    results = json.loads((out_dir / 'results.json').read_text())
    assert results['statistics'] == dict(alpha=0.05, power=0.8, family='task',
                                         families={'task=coco': 3, 'task=ade20k': 3})
    for comparison in results['comparisons']:
        assert {'varies', 'tested', 'reason', 'p_value', 'p_holm', 'family', 'family_size',
                'alpha_mde', 'power', 'mde', 'verdict'} <= set(comparison)
    coco = _by_key(results['comparisons'])[('gcp', 'gap', 'coco')]
    assert coco['family'] == 'task=coco' and coco['family_size'] == 3
    report = (out_dir / 'results.md').read_text()
    assert '| variant | baseline | task: metric | n | mean diff | 95% CI | p | p (Holm) | MDE | ' \
        'verdict |' in report
    p_holm = f"{coco['p_holm']:.3f}"
    assert f"| gcp | gap | coco: coco/bbox_mAP | 3 | +0.008 | [-0.000, +0.017] | 0.054 | " \
        f"{p_holm} | ±{coco['mde']:.3f} | no difference detected" in report
    assert 'one family per task: task=coco: m=3, task=ade20k: m=3' in report
    assert 'n varies: finetune_seed (coco, ade20k)' in report
    # the console prints the comparison table with its notes
    assert out['comparison_table'].endswith(out['comparison_notes'])


def test_intervals_of_bounded_metrics_stay_in_range(tmp_path):
    runs, statuses = _benchmark(tmp_path)
    out = write_results(str(tmp_path / 'out'), runs, statuses, meta=META)
    gap = next(s for s in out['summary'] if (s['variant'], s['task']) == ('gap', 'ade20k'))
    # 99.0, 99.5, 100.0: mean 99.5, half width 4.30265 x 0.5 / sqrt(3) = 1.24207
    assert gap['ci_high'] == 100.0 and gap['ci_unclipped'][1] == pytest.approx(100.74207,
                                                                                abs=1e-5)
    assert gap['ci_low'] == pytest.approx(98.25793, abs=1e-5)
    for entry in out['summary']:
        if 'ci_low' in entry and entry['metric'] == 'coco/bbox_mAP':
            assert 0.0 <= entry['ci_low'] <= entry['ci_high'] <= 1.0
    assert ("gap/ade20k mIoU: [98.26, 100.00] (Student t gave [98.26, 100.74])"
            in out['interval_notes'])
    assert out['interval_notes'] in (tmp_path / 'out' / 'results.md').read_text()


def test_identical_differences_get_no_verdict(tmp_path):
    """A copied measurement (every seed the same difference) is not evidence: no p, no verdict."""
    ade = dict(ADE, gcp=[v + 1.0 for v in ADE['gap']])
    ade['gap'] = [98.0, 98.5, 99.0]
    ade['gcp'] = [99.0, 99.5, 100.0]
    runs, statuses = _benchmark(tmp_path, ade)
    out = write_results(str(tmp_path / 'out'), runs, statuses, meta=META)
    ade20k = _by_key(out['comparisons'])[('gcp', 'gap', 'ade20k')]
    assert ade20k['mean_diff'] == pytest.approx(1.0) and ade20k['p_value'] is None
    assert ade20k['verdict'] == ('not tested: no spread: every seed gave the same difference, '
                                 'cannot test')


def test_bad_statistics_are_refused_before_anything_is_written(tmp_path):
    runs, statuses = _benchmark(tmp_path)
    with pytest.raises(ValueError, match='statistics.power=1.0'):
        write_results(str(tmp_path / 'out'), runs, statuses,
                      meta=dict(META, statistics=dict(power=1.0)))
    assert not (tmp_path / 'out').exists()
