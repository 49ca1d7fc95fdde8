# Toy Mask R-CNN from the toy DropCov classifier's trunk; the GAP twin differs only in the
# checkpoint.
_base_ = './mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-dropcov_1xb32_toy/epoch_8.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-dropcov_1xb32_toy.py')))
