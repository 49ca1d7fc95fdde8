# Toy ablation control: the toy GAP trunk + mmgcp.CovAttentionNeck (its reduction trained from
# scratch, the GAP classifier has none) + FPN.
_base_ = './mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
model = dict(type='mmgcp.PaddingAwareMaskRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[16, 32, 64, 128], reduced_channels=32,
         hidden_channels=16),
    dict(type='FPN', in_channels=[16, 32, 64, 128], out_channels=32, num_outs=5),
])
