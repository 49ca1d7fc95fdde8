# mmgcp's DropCov-style head (ElementDropCovClsHead: per-head token cross-covariance, 6 heads x
# 24 x 24, element-wise q/k mask) on mmpretrain's plain DeiT-S, fused with the class token; AdamW
# lr 1e-3 at batch 1024, wd 0.03, cosine over 300 epochs, 5 warm-up epochs, EMA. Not the model of
# the paper's DeiT-S numbers: that is densetok-vit-small-dropcov_8xb128_in1k.py.
_base_ = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    backbone=dict(out_type='raw'),
    head=dict(
        _delete_=True,
        type='mmgcp.ElementDropCovClsHead',
        num_classes=1000,
        in_channels=384,
        num_heads=6,
        head_channels=24,
        qk_dropout=0.2,
        cov_dropout=0.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.03))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
train_cfg = dict(by_epoch=True, max_epochs=300)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
