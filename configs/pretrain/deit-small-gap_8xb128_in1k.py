# DeiT-S baseline (class-token classifier): mmpretrain's DeiT-S with its DeiT augmentations
# (RandAugment, random erasing 0.25, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, PIL resizing),
# trained with the published DropCov ViT recipe (docs/dropcov_vit.md, "Recipe":
# Transformers/scripts/train_Deit_drop_Small.sh and main.py's defaults): 8 GPUs x 128 images, AdamW
# lr 1e-3 (not rescaled by batch), weight decay 0.03, AMP, 5 warm-up epochs from 1e-6, cosine to
# 1e-5 at epoch 300 and 10 more epochs at 1e-5, drop path 0.1, model EMA 0.99996, no gradient
# clipping (mmpretrain's DeiT config clips at max_norm 5; the DropCov recipe does not). Which
# parameters that recipe decays on a plain DeiT-S is not published: as in mmpretrain's DeiT config,
# not the biases, norms, class token and position embedding. The DropCov twin
# (deit-small-dropcov_8xb128_in1k.py) and the DenseTokenViT configs inherit this recipe. Not DeiT's
# own recipe, so DeiT's published 79.8 is not this config's number.
_base_ = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
model = dict(backbone=dict(drop_path_rate=0.1))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.03, eps=1e-8, betas=(0.9, 0.999)),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]  # after epoch 300 the lr stays at 1e-5 (timm's 10 cool-down epochs)
train_cfg = dict(by_epoch=True, max_epochs=310)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
