# GAP twin of mask-rcnn_r18-w16-gcp-s1: layer4 at stride 1 and dilation 1, the toy GCP trunk as it
# was trained (C5 at stride 16), from the toy GAP trunk; FPN strides 4, 8, 16, 16, 32 with the
# anchor sizes of the stride-2 detector, RoI extractors at the real strides (see
# configs/mask_rcnn/mask-rcnn_r50-gap-s1_fpn_1x_coco.py).
_base_ = './mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
model = dict(
    backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1)),
    rpn_head=dict(
        anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16]),
        mask_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
