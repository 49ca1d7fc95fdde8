# Copyright (c) mmgcp contributors. All rights reserved.
"""What a model costs: FLOPs with mmgcp's GCP ops counted, throughput and peak memory.

Works on configs of mmpretrain, mmdet and mmseg; ``tools/analysis/get_flops.py`` and
``tools/analysis/benchmark_model.py`` are the command lines.
"""
from .flops import FlopsResult, count_flops, format_flops_report, get_flops
from .inputs import build_model, input_shape, load_config, synthetic_batch
from .speed import SpeedResult, benchmark_model, format_speed_report

__all__ = [
    'FlopsResult', 'count_flops', 'format_flops_report', 'get_flops', 'build_model',
    'input_shape', 'load_config', 'synthetic_batch', 'SpeedResult', 'benchmark_model',
    'format_speed_report'
]
