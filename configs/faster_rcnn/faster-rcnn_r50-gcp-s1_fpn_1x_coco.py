# Faster R-CNN R-50 FPN 1x COCO with the GCP trunk as it was trained: layer4 at stride 1 and
# dilation 1, as in the papers' code (C5 at stride 16; FPN, anchors and RoI extractor set for
# it in the GAP twin faster-rcnn_r50-gap-s1). Only the checkpoint differs from the twin.
_base_ = './faster-rcnn_r50-gap-s1_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
