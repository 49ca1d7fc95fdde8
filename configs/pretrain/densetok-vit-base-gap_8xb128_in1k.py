# DropCov ViT-B trunk (width 768, 12 heads) with a class-token classifier: the twin of
# densetok-vit-base-dropcov_8xb128_in1k.py (recipe of the Small config).
_base_ = './densetok-vit-small-gap_8xb128_in1k.py'
model = dict(backbone=dict(arch='base'), head=dict(in_channels=768))
