# Mask R-CNN R-50 FPN 1x COCO from an iSQRT-COV (GCP) ResNet-50 trunk. The trunk was trained with a
# stride-1 last stage; here layer4 gets mmdet's stride 2 back (same parameters, standard FPN
# strides). The GAP twin differs only in the checkpoint; `-d2` keeps stride 1 with dilation 2.
_base_ = './mask-rcnn_r50-gap_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
