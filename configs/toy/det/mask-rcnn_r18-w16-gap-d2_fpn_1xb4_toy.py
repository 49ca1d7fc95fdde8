# GAP twin of mask-rcnn_r18-w16-gcp-d2: the stride-1 detector of mask-rcnn_r18-w16-gap-s1 with
# dilation 2 in layer4, from the toy GAP trunk.
_base_ = './mask-rcnn_r18-w16-gap-s1_fpn_1xb4_toy.py'
model = dict(backbone=dict(dilations=(1, 1, 1, 2)))
