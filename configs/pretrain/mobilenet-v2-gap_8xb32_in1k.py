# MobileNetV2 GAP baseline: mmpretrain's own config and recipe (300 epochs, SGD lr 0.045 at batch
# 256, lr x 0.98 every epoch, weight decay 4e-5). The recipe of the papers' MobileNetV2 models is
# not published, so no published number stands beside this config (docs/papers.md, "Recipes and
# schedules"). PIL resizing (mmpretrain's imagenet_bs32_pil_resize.py): the published models were
# trained and evaluated with torchvision's PIL transforms.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
