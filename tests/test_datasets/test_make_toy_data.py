# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of mmgcp.datasets.toy.make_toy_set and its command line,
tools/dataset_converters/make_toy_data.py."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmgcp.datasets.toy import make_toy_set

SMALL = dict(num_train=2, num_val=1, img_size=64)


def cli(repo_root, *args):
    """The command line as a user runs it."""
    return subprocess.run(
        [sys.executable, 'tools/dataset_converters/make_toy_data.py', *args, '--num-train', '2',
         '--num-val', '1', '--img-size', '64'],
        cwd=repo_root, capture_output=True, text=True, timeout=300)


def test_all_writes_every_set_with_a_marker(tmp_path, repo_root):
    out_dir = str(tmp_path / 'toy')
    done = cli(repo_root, 'all', '--out-dir', out_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [line.split(':')[0] for line in done.stdout.splitlines()] == [
        f'wrote {out_dir}/{name}' for name in ('cls', 'coco', 'ade20k')]
    # No temporary folders are left next to the sets.
    assert sorted(os.listdir(out_dir)) == ['ade20k', 'cls', 'coco']
    with open(osp.join(out_dir, 'cls', 'toy_data.json')) as f:
        marker = json.load(f)
    assert marker['generator'] == 'mmgcp.datasets.toy.make_toy_classification'
    assert marker['params']['num_train_per_class'] == 2 and marker['params']['seed'] == 0
    assert len(marker['classes']) == 4
    assert len(os.listdir(osp.join(out_dir, 'cls', 'train', marker['classes'][0]))) == 2
    with open(osp.join(out_dir, 'ade20k', 'toy_data.json')) as f:
        assert len(json.load(f)['palette']) == 4


def test_skip_refuse_and_force(tmp_path, capsys):
    out_dir = str(tmp_path / 'toy')
    assert make_toy_set('coco', out_dir, SMALL) == 'written'
    stamp = osp.join(out_dir, 'coco', 'stale.txt')
    open(stamp, 'w').close()

    # Same settings: the complete set is kept as it is.
    assert make_toy_set('coco', out_dir, SMALL) == 'skipped'
    assert 'skipped' in capsys.readouterr().out
    assert osp.exists(stamp)

    # Other settings: refused with a hint, the set untouched.
    with pytest.raises(FileExistsError, match='--force'):
        make_toy_set('coco', out_dir, dict(SMALL, seed=1))
    assert osp.exists(stamp)

    # --force replaces the whole folder.
    assert make_toy_set('coco', out_dir, dict(SMALL, seed=1), force=True) == 'written'
    assert not osp.exists(stamp)
    with open(osp.join(out_dir, 'coco', 'toy_data.json')) as f:
        assert json.load(f)['params']['seed'] == 1
    assert sorted(os.listdir(out_dir)) == ['coco']


def test_refuses_a_folder_without_marker_and_cleans_up_on_error(tmp_path, repo_root):
    out_dir = tmp_path / 'toy'
    (out_dir / 'ade20k').mkdir(parents=True)
    refused = cli(repo_root, 'ade20k', '--out-dir', str(out_dir))
    assert refused.returncode == 1
    assert 'make_toy_data.py ade20k:' in refused.stderr and 'incomplete' in refused.stderr
    assert 'Traceback' not in refused.stderr
    # A bad argument fails inside the generator: the temporary folder goes away.
    with pytest.raises(ValueError, match='num_classes'):
        make_toy_set('cls', str(out_dir), dict(SMALL, num_classes=1))
    assert sorted(os.listdir(out_dir)) == ['ade20k']


def test_benchmark_refuses_toy_sets_made_otherwise_before_any_work(tmp_path, repo_root):
    """A toy set left by an earlier version (other settings) stops the benchmark at once, with
    the set, both settings and the two ways on; the set and the work dir are left as they were.
    """
    from mmgcp.benchmark import check_toy_data
    out_dir = str(tmp_path / 'toy')
    make_toy_set('coco', out_dir, SMALL)
    same = dict(out_dir=out_dir, coco=dict(SMALL))
    check_toy_data(same)  # the same settings, or sets not made yet: nothing to say
    check_toy_data(dict(same, out_dir=str(tmp_path / 'none')))
    check_toy_data(None)
    with pytest.raises(FileExistsError) as err:
        check_toy_data(dict(out_dir=out_dir, coco=dict(SMALL, num_val=3)))
    message = str(err.value)
    assert f'{out_dir}/coco was made with other settings' in message
    assert '"num_val": 1' in message and '"num_val": 3' in message
    assert f'rm -rf {out_dir}/coco' in message and 'toy_data.out_dir=DIR' in message

    work_dir = tmp_path / 'bench'
    done = subprocess.run(
        [sys.executable, 'tools/benchmark_transfer.py', '--work-dir', str(work_dir), '--seeds',
         '1', '--options', f'toy_data.out_dir={out_dir}'],
        cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert 'error: toy sets made with other settings' in done.stderr
    assert 'Traceback' not in done.stderr
    assert not work_dir.exists() and sorted(os.listdir(out_dir)) == ['coco']
    with open(osp.join(out_dir, 'coco', 'toy_data.json')) as f:
        assert json.load(f)['params']['num_val'] == 1
