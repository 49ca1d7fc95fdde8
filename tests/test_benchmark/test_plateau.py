# Copyright (c) mmgcp contributors. All rights reserved.
"""The plateau checks of the report, on hand-written mmengine scalar logs: per run (the last two
validations) and per table entry (the mean over seeds of the same two validations)."""
import json
import os.path as osp

import pytest

from mmgcp.benchmark.experiment import Run
from mmgcp.benchmark.report import plateau_check, plateau_of_means, write_results


def _run(tmp_path, variant, seed, values, metric='mIoU'):
    """An ADE20K-like run whose scalar log has one validation per value (iterations 10, 20..)."""
    work_dir = tmp_path / variant / f'seed{seed}'
    log = work_dir / '20261206_000000' / 'vis_data' / 'scalars.json'
    log.parent.mkdir(parents=True)
    lines = [json.dumps({metric: v, 'step': 10 * (i + 1)}) for i, v in enumerate(values)]
    log.write_text('\n'.join(lines) + '\n')
    return Run(variant, 'ade20k', seed, 'cfg.py', str(work_dir), [metric], 'seg')


DONE = dict(state='done')


def test_per_run_check_uses_the_last_two_validations(tmp_path):
    runs = [_run(tmp_path, 'scratch', 0, [10.0, 57.0, 60.0]),   # 5.0% -> not settled
            _run(tmp_path, 'scratch', 1, [10.0, 58.0, 60.0]),   # 3.3% -> settled
            _run(tmp_path, 'gap', 0, [70.0]),                   # one validation: left out
            _run(tmp_path, 'gap', 1, [70.0, 70.0])]             # no change
    checks = plateau_check(runs, [DONE] * 4)
    assert [(c['run'], c['previous'], c['last'], c['plateau']) for c in checks] == [
        ('scratch/ade20k/seed0', 57.0, 60.0, False),
        ('scratch/ade20k/seed1', 58.0, 60.0, True),
        ('gap/ade20k/seed1', 70.0, 70.0, True)]
    assert checks[0]['change'] == 0.05 and checks[1]['change'] == pytest.approx(0.0333, abs=1e-4)


def test_seed_means_settle_where_single_seeds_wobble(tmp_path):
    # seed 0 rises 57 -> 63 (9.5%), seed 1 falls 63 -> 60 (5%): the mean goes 60 -> 61.5 (2.4%)
    runs = [_run(tmp_path, 'scratch', 0, [57.0, 63.0]), _run(tmp_path, 'scratch', 1, [63.0, 60.0]),
            _run(tmp_path, 'gap', 0, [60.0, 70.0]), _run(tmp_path, 'gap', 1, [62.0, 70.0])]
    checks = plateau_check(runs, [DONE] * 4)
    assert [c['plateau'] for c in checks] == [False, False, False, False]
    means = plateau_of_means(runs, checks)
    assert [(m['variant'], m['n'], m['previous'], m['last']) for m in means] == [
        ('scratch', 2, 60.0, 61.5), ('gap', 2, 61.0, 70.0)]
    assert means[0]['change'] == pytest.approx(1.5 / 61.5, abs=1e-4) and means[0]['plateau']
    assert means[1]['change'] == pytest.approx(9 / 70, abs=1e-4) and not means[1]['plateau']


def test_a_mean_needs_every_seed(tmp_path):
    """A variant with a failed or once-validated seed has no mean check (not a partial mean)."""
    runs = [_run(tmp_path, 'gap', 0, [69.0, 70.0]), _run(tmp_path, 'gap', 1, [40.0, 70.0]),
            _run(tmp_path, 'gcp', 0, [69.0, 70.0]), _run(tmp_path, 'gcp', 1, [70.0])]
    checks = plateau_check(runs, [DONE, dict(state='failed'), DONE, DONE])
    assert [c['run'] for c in checks] == ['gap/ade20k/seed0', 'gcp/ade20k/seed0']
    assert plateau_of_means(runs, checks) == []


def test_report_lists_both_checks(tmp_path):
    runs = [_run(tmp_path, 'scratch', 0, [57.0, 63.0]), _run(tmp_path, 'scratch', 1, [63.0, 60.0])]
    statuses = [dict(state='done', metrics=dict(mIoU=63.0)),
                dict(state='done', metrics=dict(mIoU=60.0))]
    out = tmp_path / 'out'
    write_results(str(out), runs, statuses)
    report = (out / 'results.md').read_text()
    assert ('0/2 run metrics: not settled: scratch/ade20k/seed0 mIoU (10%), '
            'scratch/ade20k/seed1 mIoU (5%)') in report
    assert ("Plateau of the seed means (the table's entries, same test): 1/1 settled; "
            'largest change 2.4% (scratch/ade20k mIoU)') in report
    results = json.loads((out / 'results.json').read_text())
    assert results['plateau_means'][0]['last'] == 61.5
    assert osp.isfile(out / 'results.csv')
