# Copyright (c) mmgcp contributors. All rights reserved.
"""metrics.png draws the summary's intervals (clipped to the metric's range, as in the table)
and marks a fixed checkpoint's single evaluation, which has no interval."""
import pytest

from mmgcp.benchmark.experiment import Run
from mmgcp.benchmark.plots import metrics_figure, plot_results
from mmgcp.benchmark.report import result_rows, summarize


def _runs(tmp_path):
    runs, statuses = [], []
    for variant, top1 in (('gap', 76.1), ('gcp', 77.9)):
        runs.append(Run(variant, 'imagenet', None, 'c.py', str(tmp_path / variant / 'in'),
                        ['accuracy/top1'], 'cls', evaluate_only=True, varies=[]))
        statuses.append(dict(state='done', metrics={'accuracy/top1': top1}))
    for variant, values in (('gap', [99.0, 99.5, 100.0]), ('gcp', [97.0, 98.0, 99.0])):
        for seed, value in enumerate(values):
            runs.append(Run(variant, 'ade20k', seed, 'c.py', str(tmp_path / variant / str(seed)),
                            ['mIoU'], 'seg'))
            statuses.append(dict(state='done', metrics={'mIoU': value}))
    return runs, summarize(runs, result_rows(runs, statuses))


def _error_bars(ax):
    """(low, high) of every error bar drawn on ``ax``."""
    bars = []
    for container in ax.containers:
        for collection in container.lines[2]:
            for segment in collection.get_segments():
                bars.append((min(segment[:, 1]), max(segment[:, 1])))
    return bars


def test_error_bars_are_the_tables_intervals(tmp_path):
    runs, summary = _runs(tmp_path)
    fig = metrics_figure(runs, summary)
    imagenet_ax, ade_ax = fig.axes
    entries = {s['variant']: s for s in summary if s['task'] == 'ade20k'}
    # gap 99.0, 99.5, 100.0: the t interval reaches 100.742; table and plot stop at 100
    assert entries['gap']['ci_high'] == 100.0
    bars = _error_bars(ade_ax)
    assert bars == [pytest.approx((entries[v]['ci_low'], entries[v]['ci_high']))
                    for v in ('gap', 'gcp')]
    assert max(high for _, high in bars) == pytest.approx(100.0)
    # the fixed checkpoints: one value each, no error bar, labelled as such
    assert _error_bars(imagenet_ax) == []
    assert [t.get_text() for t in imagenet_ax.get_xticklabels()] == [
        'gap\n(fixed ckpt)', 'gcp\n(fixed ckpt)']
    assert "clipped to the metric's range" in fig._suptitle.get_text()


def test_plot_results_writes_pngs_with_fixed_checkpoint_runs(tmp_path):
    runs, summary = _runs(tmp_path)
    written = plot_results(str(tmp_path), runs, summary)
    assert written[0].endswith('metrics.png')
    with open(written[0], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
