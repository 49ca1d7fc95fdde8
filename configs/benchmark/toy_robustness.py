# The toy transfer experiment plus the optional robustness stage: every finished run is evaluated
# under corruptions (tools/analysis/robustness.py), mCE against GAP, metric vs severity plot.
#
#   python tools/benchmark_transfer.py configs/benchmark/toy_robustness.py
_base_ = './toy.py'
robustness = dict(
    corruptions=['gaussian_noise', 'motion_blur', 'fog', 'contrast', 'jpeg_compression'],
    severities=[1, 3, 5],
    seed=0,
    baseline='gap')
