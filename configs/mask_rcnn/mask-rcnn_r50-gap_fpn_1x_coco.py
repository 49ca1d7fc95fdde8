# Mask R-CNN R-50 FPN 1x COCO from an ImageNet GAP ResNet-50 trained with the same recipe as its
# GCP/DropCov twins (configs/pretrain/resnet50-gap_8xb32_in1k.py). mmdet's own config otherwise.
# The trunk loads from `pretrained` (an mmpretrain-format checkpoint, keys `backbone.*`); a missing
# file stops with how to train or convert one. Another file:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (torchvision's GAP weights: model.backbone.init_cfg.checkpoint=torchvision://resnet50
#  model.backbone.init_cfg.prefix=None)
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'checkpoints/resnet50-gap_8xb32_in1k.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            pretrain_config='configs/pretrain/resnet50-gap_8xb32_in1k.py')))
