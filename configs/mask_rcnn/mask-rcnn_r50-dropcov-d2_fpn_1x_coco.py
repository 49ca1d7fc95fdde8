# DropCov trunk with layer4 at stride 1 and dilation 2: a choice, not the trunk as trained (that
# is mask-rcnn_r50-dropcov-s1); see mask-rcnn_r50-gcp-d2.
_base_ = './mask-rcnn_r50-gcp-d2_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')))
