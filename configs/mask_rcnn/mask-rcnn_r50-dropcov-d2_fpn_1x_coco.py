# DropCov trunk used as trained: layer4 stride 1 + dilation 2 (see mask-rcnn_r50-gcp-d2).
_base_ = './mask-rcnn_r50-gcp-d2_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')))
