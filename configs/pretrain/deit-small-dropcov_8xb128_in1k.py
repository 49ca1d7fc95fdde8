# mmgcp's DropCov-style head (ElementDropCovClsHead: per-head token cross-covariance, 6 heads x
# 24 x 24, element-wise q/k mask) on mmpretrain's plain DeiT-S, fused with the class token.
# Recipe: the published DropCov ViT recipe, inherited from the GAP twin deit-small-gap (AdamW lr
# 1e-3 at batch 1024, wd 0.03, AMP, 5 warm-up epochs, cosine to 1e-5 at epoch 300 and 10 more,
# drop path 0.1, EMA 0.99996, no gradient clipping, DeiT augmentations). mmgcp's own model: no
# published number belongs to it (the paper's DeiT-S numbers are those of
# densetok-vit-small-dropcov_8xb128_in1k.py).
_base_ = './deit-small-gap_8xb128_in1k.py'
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
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = _base_.custom_hooks + [dict(type='mmgcp.NonFiniteCheckHook')]
