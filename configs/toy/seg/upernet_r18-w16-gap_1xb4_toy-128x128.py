# Toy UperNet: mmseg's UperNet scaled down to the toy ResNet-18 (plain ResNet, 16 base channels,
# C2..C5 of 16/32/64/128 channels), 32-channel decoder, 128x128 toy ADE20K set, plain BN. Fine-tunes
# the trunk of the toy GAP classifier; train that first:
#   python tools/train.py configs/toy/resnet18-w16-gap_1xb32_toy.py
# or point `pretrained` elsewhere: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../../_base_/datasets/toy_seg.py',
    '../../_base_/schedules/toy_seg.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'work_dirs/resnet18-w16-gap_1xb32_toy/epoch_8.pth'
num_classes = 4
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size={{_base_.crop_size}}),
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        deep_stem=False,
        norm_cfg=norm_cfg,
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py')),
    decode_head=dict(
        in_channels=[16, 32, 64, 128], channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=64, channels=16, num_classes=num_classes, norm_cfg=norm_cfg))
randomness = dict(seed=0)
