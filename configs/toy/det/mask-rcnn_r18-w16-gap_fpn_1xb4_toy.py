# Toy Mask R-CNN: mmdet's R-50 FPN model scaled down to the toy ResNet-18 (16 base channels, C2..C5
# of 16/32/64/128 channels), 32-channel FPN and heads, on the 128 px toy COCO set. Fine-tunes the
# trunk of the toy GAP classifier; train that first:
#   python tools/train.py configs/toy/resnet18-w16-gap_1xb32_toy.py
# or point `pretrained` elsewhere: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../../_base_/datasets/toy_det.py',
    '../../_base_/schedules/toy_det.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'work_dirs/resnet18-w16-gap_1xb32_toy/epoch_8.pth'
num_classes = 3
model = dict(
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            pretrain_config='configs/toy/resnet18-w16-gap_1xb32_toy.py')),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=32),
    rpn_head=dict(
        in_channels=32,
        feat_channels=32,
        # toy objects are 32-72 px: anchors of 16..256 px instead of 32..512
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=32),
        bbox_head=dict(in_channels=32, fc_out_channels=128, num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=32),
        mask_head=dict(in_channels=32, conv_out_channels=32, num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=50)))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='CheckpointHook', interval={{_base_.max_epochs}}))
randomness = dict(seed=0)
