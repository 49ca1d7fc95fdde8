# The published DropCov ViT-B (Deit_drop_Base): 12 covariance heads x 24 channels (the published
# code applies Dropout(0.5) to the covariances at every size).
_base_ = './densetok-vit-small-dropcov_8xb128_in1k.py'
model = dict(
    backbone=dict(arch='base'), head=dict(in_channels=768, num_heads=12, head_channels=24))
