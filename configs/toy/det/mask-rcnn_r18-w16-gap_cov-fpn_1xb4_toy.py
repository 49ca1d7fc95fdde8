# Toy ablation control: the toy GAP trunk + mmgcp.CovAttentionNeck (its reduction trained from
# scratch, the GAP classifier has none) + FPN. The toy GCP ablation inherits it.
_base_ = './mask-rcnn_r18-w16-gap_fpn_1xb4_toy.py'
model = dict(type='mmgcp.PaddingAwareMaskRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[16, 32, 64, 128], reduced_channels=32,
         hidden_channels=16,
         # BN trains in every twin: the GAP control's reduction starts with no statistics to
         # freeze, and mmdet trains the norms of necks (only the trunk's are frozen)
         norm_eval=False),
    dict(type='FPN', in_channels=[16, 32, 64, 128], out_channels=32, num_outs=5),
])
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
