# Copyright (c) mmgcp contributors. All rights reserved.
"""The benchmark's robustness stage, with a stand-in for the evaluation tool."""
import json
import os.path as osp

import pytest
from mmengine.config import Config

from mmgcp.benchmark.experiment import Run
from mmgcp.robustness import write_result
from mmgcp.robustness.metrics import severity_curve
from mmgcp.robustness.stage import run_robustness_stage

DROP = {'gap': 10.0, 'gcp': 5.0}  # metric lost per severity level


class FakeTools:
    """Writes what tools/analysis/robustness.py would, from the command line it is given."""
    python = 'python'

    def __init__(self):
        self.commands = []

    def call(self, cmd, log_path):
        self.commands.append(cmd)
        arg = {k: cmd[cmd.index(k) + 1] for k in ('--out-dir', '--metric', '--seed')}
        corruptions = cmd[cmd.index('--corruptions') + 1:cmd.index('--severities')]
        severities = [int(s) for s in cmd[cmd.index('--severities') + 1:cmd.index('--cfg-options')]]
        drop = DROP[osp.basename(osp.dirname(osp.dirname(arg['--out-dir'])))]
        metric = arg['--metric']
        rows = [dict(corruption=c, severity=s, metrics={metric: 80.0 - drop * s})
                for c in corruptions for s in severities]
        result = dict(checkpoint=cmd[3], metric=metric, seed=int(arg['--seed']),
                      clean={metric: 80.0}, results=rows)
        table = {c: {s: 80.0 - drop * s for s in severities} for c in corruptions}
        result['curve'] = severity_curve(table, 80.0)
        out = arg['--out-dir']
        write_result(result, osp.join(out, 'robustness.json'), osp.join(out, 'robustness.csv'))
        return dict(returncode=0, wall_time_s=0.0, peak_rss_mb=0.0)


def test_stage(tmp_path):
    exp = Config(dict(variants=dict(gap=dict(), gcp=dict()),
                      tasks=dict(ade20k=dict(kind='seg', metrics=['mIoU'])),
                      robustness=dict(corruptions=['fog', 'snow'], severities=[1, 3],
                                      baseline='gap')))
    runs = [Run(v, 'ade20k', 0, f'configs/{v}.py', str(tmp_path / 'runs' / v / 'ade20k'),
                ['mIoU'], 'seg', ['randomness.seed=0']) for v in ('gap', 'gcp')]
    runs.append(Run('gcp', 'coco', 0, 'x.py', str(tmp_path / 'failed'), ['coco/bbox_mAP'], 'det'))
    statuses = {runs[0].name: dict(state='done', checkpoint='gap.pth'),
                runs[1].name: dict(state='done', checkpoint='gcp.pth'),
                runs[2].name: dict(state='failed')}
    tools = FakeTools()
    paths = run_robustness_stage(exp, runs, statuses, tools, str(tmp_path))
    assert [osp.basename(p) for p in paths] == ['robustness.json', 'robustness.png']
    assert len(tools.commands) == 2  # the failed run is not evaluated
    cmd = tools.commands[0]
    assert cmd[1:4] == ['tools/analysis/robustness.py', 'configs/gap.py', 'gap.pth']
    assert cmd[-2:] == ['--cfg-options', 'randomness.seed=0']

    with open(paths[0]) as f:
        entries = {e['variant']: e for e in json.load(f)['entries']}
    assert entries['gap']['summary']['mCE'] == pytest.approx(100.0)  # the baseline itself
    # errors: gap 30 and 50, gcp 25 and 35 -> CE = 60 / 80
    assert entries['gcp']['summary']['mCE'] == pytest.approx(75.0)
    assert entries['gcp']['summary']['mPC'] == pytest.approx(70.0)
    assert entries['gcp']['curve'] == {'0': 80.0, '1': 75.0, '3': 65.0}

    # complete results are reused; the stage is off without `robustness`
    run_robustness_stage(exp, runs, [statuses[r.name] for r in runs], tools, str(tmp_path))
    assert len(tools.commands) == 2
    exp.robustness = None
    assert run_robustness_stage(exp, runs, statuses, tools, str(tmp_path)) == []


def test_stage_rejects_bad_settings(tmp_path):
    exp = Config(dict(variants=dict(gap=dict()), robustness=dict(corruptions=['rain'])))
    with pytest.raises(ValueError, match='unknown corruption'):
        run_robustness_stage(exp, [], {}, FakeTools(), str(tmp_path))
    exp.robustness = dict(baseline='resnet')
    with pytest.raises(KeyError, match='not a variant'):
        run_robustness_stage(exp, [], {}, FakeTools(), str(tmp_path))
    exp.robustness = dict(severity=[1])
    with pytest.raises(KeyError, match='unknown key'):
        run_robustness_stage(exp, [], {}, FakeTools(), str(tmp_path))
