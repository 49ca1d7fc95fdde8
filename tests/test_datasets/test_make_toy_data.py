# Copyright (c) mmgcp contributors. All rights reserved.
"""Tests of tools/dataset_converters/make_toy_data.py, the command line over mmgcp.datasets.toy."""
import importlib.util
import json
import os
import os.path as osp

import pytest

SCRIPT = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters', 'make_toy_data.py')


@pytest.fixture(scope='module')
def make_toy_data():
    spec = importlib.util.spec_from_file_location('make_toy_data', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small(*args):
    return [*args, '--num-train', '2', '--num-val', '1', '--img-size', '64']


def test_all_writes_every_set_with_a_marker(make_toy_data, tmp_path):
    out_dir = str(tmp_path / 'toy')
    assert make_toy_data.main(small('all', '--out-dir', out_dir)) == {
        'cls': 'written',
        'coco': 'written',
        'ade20k': 'written'
    }
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


def test_skip_refuse_and_force(make_toy_data, tmp_path, capsys):
    out_dir = str(tmp_path / 'toy')
    assert make_toy_data.main(small('coco', '--out-dir', out_dir)) == {'coco': 'written'}
    stamp = osp.join(out_dir, 'coco', 'stale.txt')
    open(stamp, 'w').close()

    # Same settings: the complete set is kept as it is.
    assert make_toy_data.main(small('coco', '--out-dir', out_dir)) == {'coco': 'skipped'}
    assert 'skipped' in capsys.readouterr().out
    assert osp.exists(stamp)

    # Other settings: refused with a hint, the set untouched.
    with pytest.raises(SystemExit, match='--force'):
        make_toy_data.main(small('coco', '--out-dir', out_dir, '--seed', '1'))
    assert osp.exists(stamp)

    # --force replaces the whole folder.
    result = make_toy_data.main(small('coco', '--out-dir', out_dir, '--seed', '1', '--force'))
    assert result == {'coco': 'written'}
    assert not osp.exists(stamp)
    with open(osp.join(out_dir, 'coco', 'toy_data.json')) as f:
        assert json.load(f)['params']['seed'] == 1
    assert sorted(os.listdir(out_dir)) == ['coco']


def test_refuses_a_folder_without_marker_and_cleans_up_on_error(make_toy_data, tmp_path):
    out_dir = tmp_path / 'toy'
    (out_dir / 'ade20k').mkdir(parents=True)
    with pytest.raises(SystemExit, match='incomplete'):
        make_toy_data.main(small('ade20k', '--out-dir', str(out_dir)))
    # A bad argument fails inside the generator: the temporary folder goes away.
    with pytest.raises(SystemExit, match='num_classes'):
        make_toy_data.main(small('cls', '--out-dir', str(out_dir), '--num-classes', '1'))
    assert sorted(os.listdir(out_dir)) == ['ade20k']
