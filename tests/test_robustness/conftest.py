# Copyright (c) mmgcp contributors. All rights reserved.
"""The real ``tools/analysis/robustness.py`` run once on :func:`toy_classifier` (tests/conftest.py);
its result files feed the tool's tests and the benchmark stage's."""
import json
import os.path as osp

import pytest

#: What the tool is asked for: one corruption, severity 0 (clean, identity) and one severity, a
#: base seed other than the default 0.
TOOL_CONDITIONS = dict(corruptions=['gaussian_noise'], severities=[0, 5], seed=3)


@pytest.fixture(scope='session')
def toy_robustness_result(toy_classifier, tmp_path_factory, tool_runner) -> dict:
    """``tools/analysis/robustness.py CONFIG CKPT`` on the toy classifier under
    :data:`TOOL_CONDITIONS`.

    Returns:
        dict: ``out_dir``, ``json`` (path), ``result`` (its content), ``proc`` (the finished
        process) and ``conditions``.
    """
    root = tmp_path_factory.mktemp('toy_robustness')
    out_dir = str(root / 'robustness')
    proc = tool_runner([
        'tools/analysis/robustness.py', toy_classifier['config'], toy_classifier['checkpoint'],
        '--corruptions', *TOOL_CONDITIONS['corruptions'], '--severities',
        *map(str, TOOL_CONDITIONS['severities']), '--seed', str(TOOL_CONDITIONS['seed']),
        '--work-dir', str(root / 'work'), '--out-dir', out_dir
    ], env={'OMP_NUM_THREADS': '1'})
    path = osp.join(out_dir, 'robustness.json')
    with open(path) as f:
        result = json.load(f)
    return dict(out_dir=out_dir, json=path, result=result, proc=proc,
                conditions=dict(TOOL_CONDITIONS))
