# Toy UperNet from the toy DropCov classifier's trunk; the GAP twin differs only in the checkpoint.
_base_ = './upernet_r18-w16-gap_1xb4_toy-128x128.py'
pretrained = 'work_dirs/resnet18-w16-dropcov_1xb32_toy/epoch_8.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-dropcov_1xb32_toy.py')))
