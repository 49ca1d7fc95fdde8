# Copyright (c) mmgcp contributors. All rights reserved.
"""``tools/analysis/robustness.py`` for real, both forms, on the toy classifier: its numbers
against ``tools/test.py`` on the same checkpoint, clean and on images corrupted beforehand."""
import csv
import json
import os
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest

from mmgcp.robustness import corrupt_image

pytestmark = pytest.mark.slow

METRIC = 'accuracy/top1'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _row(result: dict, severity: int) -> dict:
    (row, ) = [r for r in result['results'] if r['severity'] == severity]
    return row['metrics']


def _corrupted_copy(data_root: str, out_root: str, corruption: str, severity: int,
                    seed: int) -> int:
    """The test split with every image corrupted as the tool's pipeline does it: the key is the
    path the dataset loads the original from; mmcv reads BGR; PNG keeps the pixels."""
    changed = 0
    for cls in sorted(os.listdir(osp.join(data_root, 'val'))):
        os.makedirs(osp.join(out_root, 'val', cls))
        for name in sorted(os.listdir(osp.join(data_root, 'val', cls))):
            source = osp.join(data_root, 'val', cls, name)
            image = mmcv.imread(source)
            corrupted = corrupt_image(image, corruption, severity, seed, key=source,
                                      channel_order='bgr')
            changed += int(not np.array_equal(corrupted, image))
            mmcv.imwrite(corrupted, osp.join(out_root, 'val', cls, name))
    return changed


def test_evaluation_matches_the_test_tool_clean_and_corrupted(toy_classifier,
                                                               toy_robustness_result, tool_runner,
                                                               tmp_path):
    result = toy_robustness_result['result']
    out_dir = toy_robustness_result['out_dir']
    seed = toy_robustness_result['conditions']['seed']
    clean_by_test_tool = toy_classifier['metrics']
    assert result['metric'] == METRIC and result['seed'] == seed
    assert result['checkpoint'] == toy_classifier['checkpoint']
    assert [(r['corruption'], r['severity']) for r in result['results']] == [
        ('gaussian_noise', 0), ('gaussian_noise', 5)]

    # clean, and severity 0 (the identity), give tools/test.py's numbers on the checkpoint
    for key, value in clean_by_test_tool.items():
        assert result['clean'][key] == pytest.approx(value, abs=1e-4), key
        assert _row(result, 0)[key] == pytest.approx(value, abs=1e-4), key

    # severity 5: tools/test.py on a copy of the test split corrupted beforehand
    copy_root = str(tmp_path / 'corrupted')
    assert _corrupted_copy(toy_classifier['data_root'], copy_root, 'gaussian_noise', 5,
                           seed) == 11
    out = str(tmp_path / 'corrupted_metrics.json')
    tool_runner(['tools/test.py', toy_classifier['config'], toy_classifier['checkpoint'],
                 '--work-dir', str(tmp_path / 'work'), '--out', out, '--cfg-options',
                 f'test_dataloader.dataset.data_root={copy_root}'], env={'OMP_NUM_THREADS': '1'})
    with open(out) as f:
        corrupted_by_test_tool = json.load(f)
    for key, value in corrupted_by_test_tool.items():
        assert _row(result, 5)[key] == pytest.approx(value, abs=1e-4), key

    # the summary and the curve from the rows (severity 0 is not a corruption)
    clean, severe = result['clean'][METRIC], _row(result, 5)[METRIC]
    summary = result['summary']
    assert summary['mPC'] == pytest.approx(severe)
    assert summary['rPC'] == pytest.approx(severe / clean)
    assert summary['mCE'] == pytest.approx(100.0 - severe) and not summary['mCE_normalized']
    assert result['curve'] == {'0': pytest.approx(clean), '5': pytest.approx(severe)}

    # the CSV holds the same numbers, one row per condition and the clean row first
    with open(osp.join(out_dir, 'robustness.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [(r['corruption'], r['severity']) for r in rows] == [
        ('clean', '0'), ('gaussian_noise', '0'), ('gaussian_noise', '5')]
    assert [float(r[METRIC]) for r in rows] == pytest.approx([clean, clean, severe], abs=1e-4)
    with open(osp.join(out_dir, 'robustness.png'), 'rb') as f:
        assert f.read(8) == PNG_MAGIC


def test_plot_form_writes_one_figure_of_several_result_files(toy_robustness_result, tool_runner,
                                                              tmp_path):
    other = tmp_path / 'gcp' / 'robustness.json'
    other.parent.mkdir()
    shutil.copy(toy_robustness_result['json'], other)
    out = tmp_path / 'compare.png'
    proc = tool_runner(['tools/analysis/robustness.py', 'plot', toy_robustness_result['json'],
                        str(other), '--labels', 'gap', 'gcp', '--out', str(out)])
    assert f'wrote {out}' in proc.stdout
    with open(out, 'rb') as f:
        assert f.read(8) == PNG_MAGIC
    # a file that is not a result is refused with the reason
    bad = tmp_path / 'bad.json'
    bad.write_text('{"rows": []}')
    proc = tool_runner(['tools/analysis/robustness.py', 'plot', str(bad), '--out',
                        str(tmp_path / 'x.png')], check=False)
    assert proc.returncode != 0 and 'is not a robustness result file' in proc.stderr
    assert not (tmp_path / 'x.png').exists()
