# Faster R-CNN R-50 FPN 1x COCO from a DropCov ResNet-50 trunk (stride-1 last stage in pretraining,
# stride 2 restored here). The GAP twin differs only in the checkpoint.
_base_ = './faster-rcnn_r50-gap_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')))
