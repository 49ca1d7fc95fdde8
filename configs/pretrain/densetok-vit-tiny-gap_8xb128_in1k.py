# DropCov ViT-Ti trunk (width 240, 4 heads, MLP ratio 2.5) with a class-token classifier: the
# twin of densetok-vit-tiny-dropcov_8xb128_in1k.py (recipe of the Small config).
_base_ = './densetok-vit-small-gap_8xb128_in1k.py'
model = dict(backbone=dict(arch='tiny'), head=dict(in_channels=240))
