# GAP twin of faster-rcnn_r50-gcp-d2 / -dropcov-d2: the stride-1 detector of faster-rcnn_r50-gap-s1
# (FPN strides 4, 8, 16, 16, 32, same anchor sizes) with dilation 2 in layer4, from the GAP
# trunk, so GCP-d2 vs GAP-d2 compares pretrainings, not architectures.
_base_ = './faster-rcnn_r50-gap-s1_fpn_1x_coco.py'
model = dict(backbone=dict(dilations=(1, 1, 1, 2)))
