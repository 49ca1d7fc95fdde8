# Copyright (c) mmgcp contributors. All rights reserved.
"""The seed planner (mmgcp/benchmark/seed_plan.py and tools/analysis/seeds_needed.py) on a
hand-made pilot whose answers are known: an SD of the paired differences of 0.014 and a target
of 0.007 is Cohen's d = 0.5, for which the paired t-test at alpha = 0.05 needs 34 seeds for 80%
power (the published value, see test_power.py)."""
import json
import math

import pytest
from statsmodels.stats.power import TTestPower

from mmgcp.benchmark.seed_plan import load_results, parse_target, plan_seeds, seed_plan_table


def _pilot(alpha_mde=0.05):
    comparison = dict(variant='gcp', baseline='gap', metric='coco/bbox_mAP', n=3,
                      varies=['finetune_seed'], reason=None, p_value=0.3, alpha_mde=alpha_mde)
    return dict(
        statistics=dict(alpha=0.05, power=0.8, family='report'),
        summary=[dict(variant='gap', task='coco', metric='coco/bbox_mAP', mean=0.35),
                 dict(variant='gap', task='imagenet', metric='accuracy/top1', mean=76.1)],
        comparisons=[
            dict(comparison, task='coco', std_diff=0.014),
            dict(comparison, task='voc', std_diff=0.0, p_value=None,
                 reason='no spread: every seed gave the same difference, cannot test'),
            dict(comparison, task='imagenet', metric='accuracy/top1', n=1, std_diff=None,
                 varies=[], p_value=None, reason='fixed checkpoints'),
        ])


def test_parse_target():
    assert parse_target('coco/bbox_mAP=0.007') == ('coco/bbox_mAP', 0.007, False)
    assert parse_target('mIoU=2%') == ('mIoU', 2.0, True)
    for bad in ('coco/bbox_mAP', 'coco/bbox_mAP=', '=0.1', 'mIoU=-1', 'mIoU=two', 'mIoU=0%'):
        with pytest.raises(ValueError, match='expected METRIC=TARGET'):
            parse_target(bad)


def test_absolute_and_relative_targets_give_the_known_answer():
    for targets in ({'coco/bbox_mAP': (0.007, False)}, {'coco/bbox_mAP': (2.0, True)}):
        plan = plan_seeds(_pilot(), targets)  # 2% of 0.35 is 0.007
        coco = plan[0]
        assert coco['task'] == 'coco' and coco['target'] == pytest.approx(0.007)
        assert coco['seeds'] == 34 and coco['alpha'] == 0.05
        # the cautious column: the SD at its 80% upper bound, 2.11693 x 0.014 (test_power.py),
        # so d = 0.23620: more than the 100 seeds searched by default
        assert coco['seeds_sd_bound'] is None
    wide = plan_seeds(_pilot(), {'coco/bbox_mAP': (0.007, False)}, max_seeds=400)[0]
    nobs = TTestPower().solve_power(effect_size=0.5 / 2.1169328, nobs=None, alpha=0.05,
                                    power=0.8, alternative='two-sided')
    assert wide['seeds_sd_bound'] == math.ceil(nobs)
    # the family's alpha / m is the level: 0.05 / 6 needs more seeds than 0.05
    assert plan_seeds(_pilot(0.05 / 6), {'coco/bbox_mAP': (0.007, False)})[0]['seeds'] > 34


def test_what_cannot_be_planned_says_why():
    plan = plan_seeds(_pilot(), {'coco/bbox_mAP': (0.007, False), 'accuracy/top1': (1.0, False)})
    by_task = {row['task']: row for row in plan}
    assert by_task['voc']['seeds'] is None
    assert by_task['voc']['note'].startswith('no spread from the pilot to plan with (no spread')
    assert by_task['imagenet']['note'].startswith('fixed checkpoints: more seeds do not change')
    table = seed_plan_table(plan)
    assert '| gcp | gap | coco: coco/bbox_mAP | 0.007 | 3 | 0.014 | 0.05 | ' in table
    assert '| 34 |' in table
    assert "Assumes: the pilot's SD of the paired differences is the true one" in table


def test_more_than_the_maximum(tmp_path):
    plan = plan_seeds(_pilot(), {'coco/bbox_mAP': (0.0007, False)}, max_seeds=50)
    assert plan[0]['seeds'] is None and plan[0]['power_at_max'] < 0.8
    assert f"> 50 (power {plan[0]['power_at_max']:.2f} at 50)" in seed_plan_table(plan, 50)


def test_unknown_metric_is_refused_with_the_known_ones():
    with pytest.raises(KeyError, match=r"no comparison of \['mIoU'\].*\['accuracy/top1', "
                                       r"'coco/bbox_mAP'\]"):
        plan_seeds(_pilot(), {'mIoU': (1.0, False)})


def test_command(tmp_path, tool_runner):
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(_pilot()))
    done = tool_runner(['tools/analysis/seeds_needed.py', str(path), 'coco/bbox_mAP=2%'])
    assert '| gcp | gap | coco: coco/bbox_mAP | 2% of 0.350 = 0.007 | 3 | 0.014 | 0.05 |' \
        in done.stdout
    assert '| 34 |' in done.stdout
    bad = tool_runner(['tools/analysis/seeds_needed.py', str(path), 'coco/bbox_mAP=lots'],
                      check=False)
    assert bad.returncode == 2 and 'expected METRIC=TARGET' in bad.stderr


def test_pilot_must_be_a_results_json(tmp_path):
    with pytest.raises(FileNotFoundError, match='none.json does not exist'):
        load_results(str(tmp_path / 'none.json'))
    other = tmp_path / 'plan.json'
    other.write_text('{"runs": []}')
    with pytest.raises(ValueError, match='has no `comparisons`'):
        load_results(str(other))
