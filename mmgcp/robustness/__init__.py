# Copyright (c) mmgcp contributors. All rights reserved.
"""Robustness under the 15 ImageNet-C / COCO-C corruptions, in one place.

- :mod:`.corruptions`: the corruptions, deterministic per (seed, image, corruption, severity);
- :mod:`.transforms`: the registered ``mmgcp.Corrupt`` transform;
- :mod:`.pipeline`: inserting it into any OpenMMLab test pipeline;
- :mod:`.evaluator`: evaluating a checkpoint under every condition (``tools/analysis/
  robustness.py`` is its command line);
- :mod:`.metrics`, :mod:`.results`, :mod:`.plot`: mCE / mPC / rPC, result files and plots;
- :mod:`.stage`: the optional robustness stage of the transfer benchmark.
"""
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt_image, corruption_seed
from .evaluator import CorruptionEvaluator, evaluate_robustness, plot_result_files
from .metrics import metric_scale, severity_curve, summarize_robustness
from .pipeline import corrupt_dataloader_cfg, corrupt_pipeline
from .plot import plot_robustness, plot_robustness_grid
from .results import load_result, metric_table, write_result
from .transforms import Corrupt

__all__ = [
    'CORRUPTIONS', 'SEVERITIES', 'corrupt_image', 'corruption_seed', 'metric_scale',
    'severity_curve', 'summarize_robustness', 'corrupt_pipeline', 'corrupt_dataloader_cfg',
    'plot_robustness', 'plot_robustness_grid', 'load_result', 'metric_table', 'write_result',
    'Corrupt', 'CorruptionEvaluator', 'evaluate_robustness', 'plot_result_files'
]
