# UperNet with a DeiT-S trunk pretrained with DropCov's token cross-covariance head
# (configs/pretrain/deit-small-dropcov_8xb128_in1k.py); the GAP twin differs only in the checkpoint.
_base_ = './upernet_deit-s16-gap_8xb2-160k_ade20k-512x512.py'
pretrained = 'checkpoints/deit-small-dropcov_8xb128_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/deit-small-dropcov_8xb128_in1k.py')))
