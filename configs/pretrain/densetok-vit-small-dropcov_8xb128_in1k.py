# The published DropCov ViT-S (Deit_drop_Small, 82.4% top-1 in the DropCov paper): the
# DenseTokenViT trunk with DropCov's head (mmgcp.MultiHeadCovClsHead: 6 heads x 24 channels, one
# token mask (rate 0.2) shared by queries and keys, Dropout(0.5) on the covariances, summed with
# the class-token classifier). Same recipe as its twin densetok-vit-small-gap_8xb128_in1k.py.
_base_ = './densetok-vit-small-gap_8xb128_in1k.py'
model = dict(
    backbone=dict(out_type='raw'),
    head=dict(
        _delete_=True,
        type='mmgcp.MultiHeadCovClsHead',
        num_classes=1000,
        in_channels=384,
        num_heads=6,
        head_channels=24,
        token_drop=0.2,
        cov_dropout=0.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = _base_.custom_hooks + [dict(type='mmgcp.NonFiniteCheckHook')]
