# UperNet on the trunk of the published DropCov ViT-S, pretrained with DropCov's head
# (configs/pretrain/densetok-vit-small-dropcov_8xb128_in1k.py, or a converted published
# Deit_drop_Small checkpoint); the twin differs only in the checkpoint.
_base_ = './upernet_densetok-vit-s-gap_8xb2-160k_ade20k-512x512.py'
pretrained = 'checkpoints/densetok-vit-small-dropcov_8xb128_in1k.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint=pretrained,
            pretrain_config='configs/pretrain/densetok-vit-small-dropcov_8xb128_in1k.py')))
