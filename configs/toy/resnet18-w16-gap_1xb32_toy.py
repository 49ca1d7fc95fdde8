# Toy GAP baseline: ResNet-18 with 16 base channels (out 128), stride-1 last stage like its GCP
# twin, global average pooling.
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/datasets/toy_cls.py',
    '../_base_/schedules/toy_cls.py',
]
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        strides=(1, 2, 2, 1),
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, )))
default_hooks = dict(logger=dict(type='LoggerHook', interval=4))
randomness = dict(seed=0, deterministic=False)
