# Copyright (c) mmgcp contributors. All rights reserved.
"""Evaluation under the 15 ImageNet-C / COCO-C corruptions (see tools/analysis/robustness.py)."""
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt_image, corruption_seed
from .metrics import DEFAULT_METRICS, metric_scale, severity_curve, summarize_robustness
from .pipeline import corrupt_dataloader_cfg, corrupt_pipeline
from .plot import plot_robustness, plot_robustness_grid
from .results import load_result, metric_table, write_result

__all__ = [
    'CORRUPTIONS', 'SEVERITIES', 'corrupt_image', 'corruption_seed', 'DEFAULT_METRICS',
    'metric_scale', 'severity_curve', 'summarize_robustness', 'corrupt_pipeline',
    'corrupt_dataloader_cfg', 'plot_robustness', 'plot_robustness_grid', 'load_result',
    'metric_table', 'write_result'
]
