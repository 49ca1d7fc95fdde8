# Copyright (c) mmgcp contributors. All rights reserved.
import math

import pytest

from mmgcp.robustness import metric_scale, severity_curve, summarize_robustness

TABLE = {'fog': {0: 80.0, 1: 70.0, 3: 50.0}, 'snow': {1: 60.0, 3: 40.0}}


def test_summary_without_baseline():
    summary = summarize_robustness(TABLE, clean=80.0)
    assert summary['mPC'] == pytest.approx(55.0)  # severity 0 is ignored
    assert summary['rPC'] == pytest.approx(55.0 / 80.0)
    assert summary['per_corruption']['fog']['error'] == pytest.approx(40.0)
    assert summary['mCE'] == pytest.approx((40.0 + 50.0) / 2)
    assert summary['mCE_normalized'] is False


def test_summary_normalised_by_baseline():
    baseline = {'fog': {1: 60.0, 3: 40.0}, 'snow': {1: 60.0, 3: 40.0}}
    summary = summarize_robustness(TABLE, clean=80.0, baseline=baseline)
    assert summary['per_corruption']['fog']['CE'] == pytest.approx(100 * 80 / 100)
    assert summary['per_corruption']['snow']['CE'] == pytest.approx(100.0)
    assert summary['mCE'] == pytest.approx(90.0)
    assert summarize_robustness(baseline, 80.0, baseline=baseline)['mCE'] == pytest.approx(100)
    with pytest.raises(ValueError, match='severities'):
        summarize_robustness(TABLE, 80.0, baseline={'fog': {1: 1.0}, 'snow': {1: 1, 3: 1}})


def test_coco_scale_and_curve():
    assert metric_scale('coco/bbox_mAP') == 1.0 and metric_scale('mIoU') == 100.0
    summary = summarize_robustness({'fog': {1: 0.2}}, clean=0.4, scale=1.0)
    assert summary['mCE'] == pytest.approx(0.8) and summary['rPC'] == pytest.approx(0.5)
    assert severity_curve(TABLE, clean=81.0) == {0: 80.0, 1: 65.0, 3: 45.0}
    assert severity_curve({'fog': {1: 1.0}}, clean=2.0) == {0: 2.0, 1: 1.0}
    assert math.isnan(summarize_robustness({'fog': {1: 0.0}}, clean=0.0)['rPC'])
