# UperNet R-50 512x512 160k ADE20K from an ImageNet GAP ResNet-50 trained with the same recipe as
# its GCP/DropCov twins (configs/pretrain/resnet50-gap_8xb32_in1k.py). mmseg's default UperNet
# uses ResNetV1c (deep stem), which torchvision-style GCP trunks do not fit; the GCP configs and
# this GAP twin both use the plain ResNet (v1b: 7x7 stem, no avg_down) so the comparison is fair.
# The trunk loads from `pretrained` (mmpretrain format, keys `backbone.*`); a missing file stops
# with how to train or convert one. Another file:
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'checkpoints/resnet50-gap_8xb32_in1k.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        type='ResNet',
        deep_stem=False,
        avg_down=False,
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            pretrain_config='configs/pretrain/resnet50-gap_8xb32_in1k.py')))
