# GAP twin of mask-rcnn_r50-gcp-d2 / -dropcov-d2: the same detector (layer4 stride 1 + dilation 2,
# FPN strides 4, 8, 16, 16, 32, same anchor sizes), from the GAP trunk, so GCP-d2 vs GAP-d2
# compares pretrainings, not architectures.
_base_ = './mask-rcnn_r50-gap_fpn_1x_coco.py'
model = dict(
    backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    rpn_head=dict(
        anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16]),
        mask_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
