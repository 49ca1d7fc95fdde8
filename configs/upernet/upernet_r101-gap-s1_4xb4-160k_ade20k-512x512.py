# The R-50 config with ResNet-101 (plain ResNet, v1b) and its GAP checkpoint.
_base_ = './upernet_r50-gap-s1_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet101-gap_8xb32_in1k.pth'
model = dict(backbone=dict(depth=101, init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet101-gap_8xb32_in1k.py')))
