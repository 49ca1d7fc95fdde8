# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark's robustness stage as data (mmgcp/robustness/stage.py): the conditions of an
experiment, whether a run's result file is complete (on a file the real tool wrote), and the
summary of every run, with the mCE against a baseline worked out by hand."""
import json
import os.path as osp
import shutil

import pytest

from mmgcp.robustness import CORRUPTIONS, write_result
from mmgcp.robustness.stage import is_complete, stage_conditions, summarize_stage

METRIC = 'mIoU'
CORRUPTED = ('fog', 'snow')
SEVERITIES = (1, 3)
#: Hand-chosen mIoU per (variant, seed): clean, then {corruption: {severity: value}}.
VALUES = {
    ('gap', 0): (80.0, {'fog': {1: 70.0, 3: 50.0}, 'snow': {1: 60.0, 3: 40.0}}),
    ('gcp', 0): (82.0, {'fog': {1: 75.0, 3: 65.0}, 'snow': {1: 70.0, 3: 50.0}}),
    ('gap', 1): (78.0, {'fog': {1: 60.0, 3: 40.0}, 'snow': {1: 50.0, 3: 30.0}}),
    ('gcp', 1): (81.0, {'fog': {1: 70.0, 3: 50.0}, 'snow': {1: 64.0, 3: 40.0}}),
}


# --- stage_conditions ---------------------------------------------------------------------------

def test_conditions_defaults_and_given_values():
    assert stage_conditions({}) == dict(corruptions=list(CORRUPTIONS), severities=[1, 2, 3, 4, 5],
                                        seed=0, baseline=None)
    conditions = stage_conditions(
        dict(corruptions=['fog'], severities=['0', 2], seed='4', baseline='gap'),
        variants=['gap', 'gcp'])
    assert conditions == dict(corruptions=['fog'], severities=[0, 2], seed=4, baseline='gap')


@pytest.mark.parametrize('spec, error, match', [
    (dict(severity=[1]), KeyError, r'unknown key\(s\).*severity'),
    (dict(corruptions=['rain']), ValueError, 'unknown corruption'),
    (dict(severities=[6]), ValueError, 'severity'),
    (dict(baseline='resnet'), KeyError, "'resnet' is not a variant.*'gap', 'gcp'"),
])
def test_conditions_refuse_bad_settings(spec, error, match):
    with pytest.raises(error, match=match):
        stage_conditions(spec, variants=['gcp', 'gap'])


# --- is_complete, on the file tools/analysis/robustness.py wrote --------------------------------

def _conditions(tool_result: dict, **changes) -> dict:
    conditions = dict(tool_result['conditions'], baseline=None)
    conditions.update(changes)
    return conditions


@pytest.mark.slow
def test_is_complete_on_the_tool_result(toy_robustness_result, tmp_path):
    path = toy_robustness_result['json']
    checkpoint = toy_robustness_result['result']['checkpoint']
    metric = 'accuracy/top1'
    done = _conditions(toy_robustness_result)
    assert is_complete(path, checkpoint, metric, done)
    assert is_complete(path, checkpoint, metric, _conditions(toy_robustness_result,
                                                             severities=[5]))
    # another checkpoint, metric or seed, or a condition it was not evaluated under
    assert not is_complete(path, checkpoint + '.other', metric, done)
    assert not is_complete(path, checkpoint, 'single-label/recall', done)
    assert not is_complete(path, checkpoint, metric, _conditions(toy_robustness_result, seed=0))
    assert not is_complete(path, checkpoint, metric,
                           _conditions(toy_robustness_result, severities=[0, 2]))
    assert not is_complete(path, checkpoint, metric,
                           _conditions(toy_robustness_result, corruptions=['fog']))
    # the tool writes its file after every condition; one without the curve was interrupted
    partial = dict(toy_robustness_result['result'])
    del partial['curve']
    partial_path = str(tmp_path / 'partial' / 'robustness.json')
    write_result(partial, partial_path, str(tmp_path / 'partial' / 'robustness.csv'))
    assert not is_complete(partial_path, checkpoint, metric, done)
    # missing, truncated or foreign files are not complete (and raise nothing)
    assert not is_complete(str(tmp_path / 'none.json'), checkpoint, metric, done)
    truncated = tmp_path / 'truncated.json'
    truncated.write_text(open(path).read()[:200])
    assert not is_complete(str(truncated), checkpoint, metric, done)
    foreign = tmp_path / 'foreign.json'
    foreign.write_text('{"accuracy/top1": 3.0}')
    assert not is_complete(str(foreign), checkpoint, metric, done)


# --- summarize_stage ----------------------------------------------------------------------------

def _write(tmp_path, variant: str, seed: int) -> str:
    """A result file as the tool writes it, with the hand-chosen values of (variant, seed)."""
    clean, table = VALUES[(variant, seed)]
    folder = tmp_path / 'runs' / f'{variant}_s{seed}'
    rows = [dict(corruption=c, severity=s, metrics={METRIC: table[c][s]})
            for c in CORRUPTED for s in SEVERITIES]
    result = dict(checkpoint=f'{variant}_s{seed}.pth', metric=METRIC, seed=0,
                  clean={METRIC: clean}, results=rows, curve={})
    write_result(result, str(folder / 'robustness.json'), str(folder / 'robustness.csv'))
    return str(folder / 'robustness.json')


def _entries(tmp_path):
    entries = [dict(variant=v, task='ade20k', seed=s, metric=METRIC, state='done',
                    result_file=_write(tmp_path, v, s)) for v, s in VALUES]
    entries.append(dict(variant='gcp', task='coco', seed=0, metric='coco/bbox_mAP',
                        state='failed', result_file=None, error='the run failed'))
    return entries


def test_summary_against_the_baseline_of_the_same_seed(tmp_path):
    conditions = dict(corruptions=list(CORRUPTED), severities=list(SEVERITIES), seed=0,
                      baseline='gap')
    written = summarize_stage(_entries(tmp_path), conditions, str(tmp_path / 'stage'))
    assert written == [str(tmp_path / 'stage' / 'robustness.json'),
                       str(tmp_path / 'stage' / 'robustness.png')]
    with open(written[0]) as f:
        summary = json.load(f)
    assert {k: summary[k] for k in conditions} == conditions
    entries = {(e['variant'], e['task'], e['seed']): e for e in summary['entries']}
    assert len(entries) == 5

    # errors (100 - mIoU) summed over severities 1 and 3, by hand:
    #   seed 0: gap fog 30+50=80, snow 40+60=100; gcp fog 25+35=60, snow 30+50=80
    #           CE fog 100*60/80 = 75, snow 100*80/100 = 80 -> mCE 77.5
    #   seed 1: gap fog 40+60=100, snow 50+70=120; gcp fog 30+50=80, snow 36+60=96
    #           CE fog 80, snow 80 -> mCE 80 (against seed 0's gap it would be 98)
    gcp0, gcp1 = entries[('gcp', 'ade20k', 0)], entries[('gcp', 'ade20k', 1)]
    assert gcp0['summary']['per_corruption']['fog']['CE'] == pytest.approx(75.0)
    assert gcp0['summary']['per_corruption']['snow']['CE'] == pytest.approx(80.0)
    assert gcp0['summary']['mCE'] == pytest.approx(77.5)
    assert gcp1['summary']['mCE'] == pytest.approx(80.0)
    for seed in (0, 1):
        assert entries[('gap', 'ade20k', seed)]['summary']['mCE'] == pytest.approx(100.0)
        assert entries[('gap', 'ade20k', seed)]['summary']['mCE_normalized'] is True
    # mPC: the mean over corruptions and severities; rPC = mPC / clean
    assert gcp0['summary']['mPC'] == pytest.approx((75 + 65 + 70 + 50) / 4)
    assert gcp0['summary']['rPC'] == pytest.approx(65.0 / 82.0)
    assert gcp0['clean'] == 82.0
    assert gcp0['curve'] == {'0': 82.0, '1': pytest.approx(72.5), '3': pytest.approx(57.5)}
    # the failed run is listed with its reason, without numbers
    failed = entries[('gcp', 'coco', 0)]
    assert failed['error'] == 'the run failed' and 'summary' not in failed
    with open(written[1], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_summary_without_baseline_is_the_mean_error(tmp_path):
    conditions = dict(corruptions=list(CORRUPTED), severities=list(SEVERITIES), seed=0,
                      baseline=None)
    entries = [e for e in _entries(tmp_path)
               if (e['variant'], e['task'], e['seed']) == ('gcp', 'ade20k', 0)]
    written = summarize_stage(entries, conditions, str(tmp_path / 'stage'))
    with open(written[0]) as f:
        (entry, ) = json.load(f)['entries']
    # mean error over severities per corruption: fog 30, snow 40 -> 35, in mIoU points
    assert entry['summary']['mCE'] == pytest.approx(35.0)
    assert entry['summary']['mCE_normalized'] is False


def test_only_clean_conditions_give_curves_without_summaries(tmp_path):
    conditions = dict(corruptions=['fog'], severities=[0], seed=0, baseline='gap')
    folder = tmp_path / 'gap'
    write_result(dict(checkpoint='gap.pth', metric=METRIC, seed=0, clean={METRIC: 80.0},
                      results=[dict(corruption='fog', severity=0, metrics={METRIC: 80.0})],
                      curve={}),
                 str(folder / 'robustness.json'), str(folder / 'robustness.csv'))
    entries = [dict(variant='gap', task='ade20k', seed=0, metric=METRIC, state='done',
                    result_file=str(folder / 'robustness.json'))]
    written = summarize_stage(entries, conditions, str(tmp_path / 'stage'))
    with open(written[0]) as f:
        (entry, ) = json.load(f)['entries']
    assert 'summary' not in entry and entry['curve'] == {'0': 80.0}


@pytest.mark.slow
def test_summary_of_a_tool_result_is_the_tool_own(toy_robustness_result, tmp_path):
    result = toy_robustness_result['result']
    copy = tmp_path / 'run' / 'robustness.json'
    copy.parent.mkdir()
    shutil.copy(toy_robustness_result['json'], copy)
    entries = [dict(variant='gcp', task='toy', seed=0, metric='accuracy/top1', state='done',
                    result_file=str(copy))]
    written = summarize_stage(entries, _conditions(toy_robustness_result),
                              str(tmp_path / 'stage'))
    assert [osp.basename(p) for p in written] == ['robustness.json', 'robustness.png']
    with open(written[0]) as f:
        (entry, ) = json.load(f)['entries']
    assert entry['clean'] == result['clean']['accuracy/top1']
    assert entry['curve'] == result['curve']
    for key in ('mPC', 'rPC', 'mCE'):
        assert entry['summary'][key] == pytest.approx(result['summary'][key]), key
