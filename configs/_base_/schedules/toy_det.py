# Toy detection fine-tuning: 6 epochs of SGD over the 64 toy COCO images (about a minute on two
# CPU cores for the ResNet-18 w16 Mask R-CNN with OMP_NUM_THREADS=1), one evaluation at the end.
# lr 0.04 at batch 4 (0.02 learns slower, 0.08 diverges).
# The transfer benchmark (configs/benchmark/toy.py) fine-tunes at 2 images per batch instead: at
# the same CPU time it learned far more (see that file).
max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=16),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-4),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)
