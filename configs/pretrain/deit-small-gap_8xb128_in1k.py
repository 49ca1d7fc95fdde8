# DeiT-S baseline (class token classifier), mmpretrain's DeiT-S at batch 8 x 128 = 1024 with the
# recipe of its DropCov twin (deit-small-dropcov_8xb128_in1k.py, which inherits this file), so the
# two differ only in the head: AdamW lr 1e-3, wd 0.03, cosine over 300 epochs, 5 warm-up epochs,
# EMA.
_base_ = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.03))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
train_cfg = dict(by_epoch=True, max_epochs=300)
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
