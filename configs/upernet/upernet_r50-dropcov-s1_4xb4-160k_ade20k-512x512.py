# UperNet R-50 512x512 160k ADE20K with the DropCov trunk as it was trained: layer4 at stride 1
# and dilation 1, as in the papers' code (C5 at 1/16). Only the checkpoint differs from the
# GAP twin upernet_r50-gap-s1.
_base_ = './upernet_r50-gap-s1_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')))
