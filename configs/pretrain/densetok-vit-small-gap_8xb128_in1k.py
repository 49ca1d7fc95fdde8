# The trunk of the published DropCov ViT-S (mmgcp.DenseTokenViT: DenseNet-style token embedding,
# fixed sinusoid position table, 12 blocks of width 384, 6 heads) with a plain class-token
# classifier: the first-order twin of densetok-vit-small-dropcov_8xb128_in1k.py.
# The DropCov paper's recipe (Transformers/scripts/train_Deit_drop_Small.sh and main.py's
# defaults): 8 GPUs x 128 images, AdamW lr 1e-3 (not rescaled by batch), weight decay 0.03 (not on
# biases and norms), AMP, 5 warm-up epochs from 1e-6, cosine to 1e-5 at epoch 300 and 10 more
# epochs at 1e-5, drop path 0.1, model EMA 0.99996, no gradient clipping; DeiT augmentations
# (RandAugment, random erasing 0.25, Mixup 0.8 / CutMix 1.0, label smoothing 0.1) from
# mmpretrain's DeiT-S config.
_base_ = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmgcp.DenseTokenViT',
        arch='small',
        drop_path_rate=0.1,
        out_type='cls_token'),
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.03, eps=1e-8, betas=(0.9, 0.999)),
    # timm decays every parameter of more than one dimension, the class token included
    paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=1.0)}),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300,
         convert_to_iter_based=True),
]  # after epoch 300 the lr stays at 1e-5 (timm's 10 cool-down epochs)
train_cfg = dict(by_epoch=True, max_epochs=310)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
