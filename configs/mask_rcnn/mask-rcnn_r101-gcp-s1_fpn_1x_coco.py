# The R-50 config with ResNet-101 and its GCP checkpoint.
_base_ = './mask-rcnn_r50-gcp-s1_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet101-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(depth=101, init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet101-gcp_8xb32_in1k.py')))
