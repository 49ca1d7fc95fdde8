# Copyright (c) mmgcp contributors. All rights reserved.
"""A run's status records what its result depends on; a later invocation whose experiment asks
for something else (an option, the toy data, a file a config inherits from) is refused before any
work, naming the runs and what changed, instead of reporting their old numbers."""
import json
import os.path as osp

import pytest

from mmgcp.benchmark.experiment import expand_runs, load_experiment
from mmgcp.benchmark.settings import StaleRunsError, attach_settings, check_settings
from mmgcp.benchmark.status import write_status

TOY = 'configs/benchmark/toy.py'


def _runs(work, overrides=None, experiment=TOY):
    runs = expand_runs(load_experiment(experiment, overrides), str(work), [0])
    attach_settings(runs)
    return runs


def _finish(runs):
    for run in runs:
        write_status(run, dict(state='done', metrics={'mIoU': 50.0}))


@pytest.fixture
def in_repo(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    return repo_root


def test_same_experiment_passes_also_written_out_and_read_back(in_repo, tmp_path):
    from mmengine.config import Config
    runs = _runs(tmp_path / 'w')
    _finish(runs)
    recorded = json.load(open(osp.join(runs[0].work_dir, 'status.json')))['settings']
    assert recorded['config'] == runs[0].config and recorded['cfg_options']
    check_settings(_runs(tmp_path / 'w'), str(tmp_path / 'w'))
    # the Slurm jobs expand the runs from the experiment as Config.dump wrote it, which lists
    # the options in another order
    exp = load_experiment(TOY)
    exp.dump(str(tmp_path / 'experiment.py'))
    again = expand_runs(Config.fromfile(str(tmp_path / 'experiment.py')), str(tmp_path / 'w'), [0])
    attach_settings(again)
    check_settings(again, str(tmp_path / 'w'))


def test_changed_option_refuses_the_runs_it_touches_and_says_what_changed(in_repo, tmp_path):
    work = tmp_path / 'w'
    _finish(_runs(work))
    before = open(osp.join(work, 'runs', 'seed0', 'gap', 'coco', 'status.json')).read()
    with pytest.raises(StaleRunsError) as err:
        check_settings(_runs(work, {'cfg_options.ade20k.train_cfg.max_iters': 300}), str(work))
    message = str(err.value)
    assert '4 run(s)' in message
    for name in ('scratch/ade20k/seed0', 'gap/ade20k/seed0', 'gcp/ade20k/seed0',
                 'dropcov/ade20k/seed0'):
        assert name in message
    assert 'coco/seed0' not in message and 'pretrain/seed0' not in message
    assert '-train_cfg.max_iters=288; +train_cfg.max_iters=300' in message
    assert '--work-dir DIR' in message and f'mv {work} {work}.old' in message
    # nothing was touched
    assert open(osp.join(work, 'runs', 'seed0', 'gap', 'coco', 'status.json')).read() == before


def test_changed_toy_data_refuses_every_run(in_repo, tmp_path):
    work = tmp_path / 'w'
    _finish(_runs(work))
    with pytest.raises(StaleRunsError,
                       match=r'(?s)11 run\(s\).*: toy_data.ade20k.num_val: 128 -> 64\n'):
        check_settings(_runs(work, {'toy_data.ade20k.num_val': 64}), str(work))


def test_status_of_an_older_mmgcp_is_refused(in_repo, tmp_path):
    work = tmp_path / 'w'
    runs = _runs(work)
    run = runs[1]
    run.settings = None  # written as before settings were recorded
    write_status(run, dict(state='running'))
    with pytest.raises(StaleRunsError, match=rf'{run.name} \(running\): its status records no '
                       r'settings \(written by an older mmgcp\)'):
        check_settings(_runs(work), str(work))


def test_edited_base_file_is_caught_by_the_resolved_config(in_repo, tmp_path):
    """The run's config path and options stay the same; a file it inherits from changes."""
    from mmgcp.benchmark import plan

    def base(variant, lr):  # what seg_<variant>.py inherits from
        (tmp_path / f'base_{variant}.py').write_text(
            f"_base_ = '{in_repo}/configs/toy/seg/upernet_r18-w16-{variant}_1xb4_toy-128x128.py'"
            f"\noptim_wrapper = dict(optimizer=dict(lr={lr}))\n")

    for variant in ('gap', 'gcp', 'dropcov'):
        base(variant, 0.02)
        (tmp_path / f'seg_{variant}.py').write_text(f"_base_ = './base_{variant}.py'\n")
    exp = tmp_path / 'exp.py'
    exp.write_text(f"""_base_ = '{in_repo}/{TOY}'
tasks = dict(_delete_=True, ade20k=dict(kind='seg', config='{tmp_path}/seg_{{variant}}.py',
                                        metrics=['mIoU']))
""")
    work = tmp_path / 'w'
    _finish(_runs(work, experiment=str(exp)))
    base('gap', 0.01)  # the GAP twin's recipe, which the scratch control shares
    plan._PARSED.clear()  # each invocation of the tool is a new process
    with pytest.raises(StaleRunsError) as err:
        check_settings(_runs(work, experiment=str(exp)), str(work))
    message = str(err.value)
    assert message.startswith('2 run(s)')
    assert 'scratch/ade20k/seed0 (done), gap/ade20k/seed0 (done): ' in message
    assert 'seg_gap.py or a file it inherits from has changed' in message
