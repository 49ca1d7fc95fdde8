# MobileNetV2 GAP baseline: mmpretrain's own config.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
