# Ablation control: the GAP trunk + mmgcp.CovAttentionNeck (its reduction trained from scratch, the
# GAP classifier has none), to separate the neck's effect from the pretraining's. The GCP and
# DropCov ablations inherit this detector and change only what their checkpoint provides.
_base_ = './faster-rcnn_r50-gap_fpn_1x_coco.py'
model = dict(type='mmgcp.PaddingAwareFasterRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[256, 512, 1024, 2048],
         # BN trains in every twin: the GAP control's reduction starts with no statistics to
         # freeze, and mmdet trains the norms of necks (only the trunk's are frozen)
         norm_eval=False),
    dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
])
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
