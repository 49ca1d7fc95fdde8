# GAP twin of mask-rcnn_r18-w16-gcp-d2: layer4 stride 1 + dilation 2 from the toy GAP trunk.
_base_ = './mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
model = dict(
    backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    rpn_head=dict(
        anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16]),
        mask_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
