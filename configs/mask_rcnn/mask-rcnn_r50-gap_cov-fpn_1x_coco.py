# Ablation control: the GAP trunk + mmgcp.CovAttentionNeck (its reduction trained from scratch, the
# GAP classifier has none), to separate the neck's effect from the pretraining's.
_base_ = './mask-rcnn_r50-gap_fpn_1x_coco.py'
model = dict(type='mmgcp.PaddingAwareMaskRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[256, 512, 1024, 2048]),
    dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
])
