# Copyright (c) mmgcp contributors. All rights reserved.
import json

import pytest

from mmgcp.analysis.landscape_bands import band_summary, load_probes


def write_scalars(path, records):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def probe(step, low, high):
    return {
        'landscape/loss': low, 'landscape/grad_norm': 1.0, 'landscape/loss_min': low,
        'landscape/loss_max': high, 'landscape/grad_diff_min': 0.0,
        'landscape/grad_diff_max': high - low, 'step': step
    }


def test_probes_of_resumed_runs_are_merged_later_timestamp_winning(tmp_path):
    write_scalars(tmp_path / '20240101_000000' / 'vis_data' / 'scalars.json',
                  [{'loss': 1.0, 'step': 1}, probe(0, 1.0, 2.0), probe(4, 1.0, 3.0)])
    write_scalars(tmp_path / '20240102_000000' / 'vis_data' / 'scalars.json',
                  [probe(4, 1.0, 1.5), probe(8, 0.5, 0.75)])
    probes = load_probes(str(tmp_path))
    assert probes['step'] == [0, 4, 8]
    assert probes['loss_max'] == [2.0, 1.5, 0.75]
    summary = band_summary(probes)
    assert summary['num_probes'] == 3
    assert summary['loss_band_mean'] == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    assert summary['loss_band_mean_late'] == pytest.approx((0.5 + 0.25) / 2)


def test_runs_without_probes_are_reported(tmp_path):
    write_scalars(tmp_path / 'run' / 'vis_data' / 'scalars.json', [{'loss': 1.0, 'step': 1}])
    with pytest.raises(ValueError, match='LossLandscapeHook'):
        load_probes(str(tmp_path / 'run'))
    with pytest.raises(FileNotFoundError):
        load_probes(str(tmp_path / 'missing'))
