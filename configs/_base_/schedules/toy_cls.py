# A few epochs of SGD: the toy classifiers train in about a minute on 2 CPU cores.
optim_wrapper = dict(
    # fused: one kernel for all parameters instead of a loop over them; the same update
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=8, eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=2)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
