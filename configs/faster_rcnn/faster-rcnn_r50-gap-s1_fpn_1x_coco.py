# GAP twin of faster-rcnn_r50-gcp-s1 / -dropcov-s1: the same detector, layer4 at stride 1 and
# dilation 1 as the GCP and DropCov trunks were trained (C5 at stride 16), from the GAP trunk
# (trained at stride 2, so here its layer4 changes), so GCP-s1 vs GAP-s1 compares pretrainings,
# not architectures. The FPN levels then have strides 4, 8, 16, 16 (and 32 for the extra level):
# the anchor generator and the RoI extractor use those strides, and the anchors keep mmdet's
# sizes (base_sizes 4..64 x scale 8 = 32..512 px).
_base_ = './faster-rcnn_r50-gap_fpn_1x_coco.py'
model = dict(
    backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1)),
    rpn_head=dict(
        anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
