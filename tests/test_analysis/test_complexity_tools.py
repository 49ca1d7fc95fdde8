# Copyright (c) mmgcp contributors. All rights reserved.
"""tools/analysis/get_flops.py and tools/analysis/benchmark_model.py run as a user runs them, on a
model small enough to count by hand: a 3x3 convolution (3 -> 128 channels, no bias), GCPNeck
without reduction (iSQRT-COV, N = 5) and a linear classifier over the 8256-value triangle."""
import json
import re

import pytest

pytestmark = pytest.mark.slow  # each test starts a tool in a fresh interpreter

#: d = 128 channels on a 16 x 16 input: M = 256 >= d, so the covariance then the iteration run.
D, SIZE, CLASSES = 128, 16, 10
CONFIG = f"""default_scope = 'mmpretrain'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes={CLASSES}, mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True),
    backbone=dict(type='Conv2d', in_channels=3, out_channels={D}, kernel_size=3, padding=1,
                  bias=False),
    neck=dict(type='mmgcp.GCPNeck', in_channels={D}, reduced_channels=None),
    head=dict(type='LinearClsHead', num_classes={CLASSES}, in_channels={D * (D + 1) // 2}))
"""
M = SIZE * SIZE
TRIANGLE = D * (D + 1) // 2
#: Multiply-adds by hand: conv d * 3 * 9 per position; covariance d^2 M; Newton-Schulz
#: (3(N - 1) + 1) d^3 with N = 5 (GCP_FACTS.md section 1); the classifier 8256 * 10.
HAND_FLOPS = {
    'conv': D * 3 * 9 * M,
    'covariance': D * D * M,
    'isqrt': 13 * D**3,
    'linear': TRIANGLE * CLASSES,
}
#: Parameters: the conv's 128 * 3 * 9 weights, the classifier's weights and biases.
HAND_PARAMS = D * 3 * 9 + TRIANGLE * CLASSES + CLASSES


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / 'tiny_gcp.py'
    path.write_text(CONFIG)
    return str(path)


def test_get_flops_prints_the_hand_count(tool_runner, tiny_config):
    proc = tool_runner(['tools/analysis/get_flops.py', tiny_config, '--shape', str(SIZE)],
                       env={'OMP_NUM_THREADS': '1'})
    out = proc.stdout
    total = sum(HAND_FLOPS.values())
    assert total == 32_424_576 and HAND_PARAMS == 86_026
    # mmengine's table rounds to 5 significant digits, the last lines to 1e6 FLOPs / params
    assert re.search(r'\|\s*model\s*\|\s*86\.026K\s*\|\s*32\.425M\s*\|', out), out
    assert out.rstrip().endswith(f'Flops: {total / 1e9:.3f}G\nParams: {HAND_PARAMS / 1e6:.3f}M')
    assert re.search(r'covariance\s+C=128, M=256\s+4\.194M', out), out
    assert re.search(r'isqrt\s+d=128, N=5\s+27\.263M', out), out
    assert re.search(r'\|\s*head\.fc\s*\|\s*82\.57K\s*\|\s*82\.56K\s*\|', out), out


def test_benchmark_model_writes_times_and_the_parameter_count(tool_runner, tiny_config,
                                                             tmp_path):
    out = tmp_path / 'speed.json'
    proc = tool_runner(['tools/analysis/benchmark_model.py', tiny_config, '--shape', str(SIZE),
                        '--batch-size', '2', '--warmup', '1', '--repeats', '2', '--out',
                        str(out)], env={'OMP_NUM_THREADS': '1'})
    result = json.loads(out.read_text())
    assert result['params'] == HAND_PARAMS and f'{HAND_PARAMS} parameters' in proc.stdout
    assert result['batch_size'] == 2 and result['input_shape'] == [SIZE, SIZE]
    assert set(result['phases']) == {'inference', 'train_step'}
    for phase in result['phases'].values():
        assert len(phase['times_s']) == 2 and all(t > 0 for t in phase['times_s'])
        assert phase['median_s'] == pytest.approx(sum(phase['times_s']) / 2)
        assert phase['images_per_s'] == pytest.approx(2 / phase['median_s'])
        assert phase['peak_mem_mb'] > 0
