# The published DropCov ViT-Ti (Deit_drop_Tiny): 6 covariance heads x 14 channels.
_base_ = './densetok-vit-small-dropcov_8xb128_in1k.py'
model = dict(
    backbone=dict(arch='tiny'), head=dict(in_channels=240, num_heads=6, head_channels=14))
