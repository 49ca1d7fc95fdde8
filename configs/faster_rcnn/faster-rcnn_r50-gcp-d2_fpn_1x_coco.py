# GCP trunk used as trained: layer4 keeps stride 1, with dilation 2 (C5 at stride 16). The FPN
# levels then have strides 4, 8, 16, 16, 32: the anchors keep their sizes (base_sizes 4..64 x
# scale 8 = 32..512 px) and the RoI extractor uses the real strides.
_base_ = './faster-rcnn_r50-gcp_fpn_1x_coco.py'
model = dict(
    backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)),
    rpn_head=dict(
        anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
