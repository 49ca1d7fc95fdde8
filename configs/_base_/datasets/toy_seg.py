# Toy ADE20K-format semantic segmentation set written by
# `python tools/dataset_converters/make_toy_data.py ade20k --out-dir data/toy` (data/toy/ade20k):
# 128 px images cut into regions of 4 classes, the sign patterns of the regions' RGB correlations
# (as in the toy classification set); label 0 ("other") is ignored through
# reduce_zero_label, as in ADE20K. mmseg's ADE20KDataset only accepts ADE20K's 150 class names,
# so the set loads with BaseSegDataset and ADE20K's file settings. Evaluated with mmseg's IoUMetric.
dataset_type = 'BaseSegDataset'
data_root = 'data/toy/ade20k'
metainfo = dict(
    classes=('rgb-pos', 'b-anti', 'g-anti', 'r-anti'),
    palette=[[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200]])
crop_size = (128, 128)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
# Two shared CPU cores: load in the main process.
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
# All toy images are 128x128, so evaluating 8 at a time gives the same numbers as one by one
# (nothing is padded), for 25% less CPU.
val_dataloader = dict(
    train_dataloader,
    batch_size=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        train_dataloader['dataset'],
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
