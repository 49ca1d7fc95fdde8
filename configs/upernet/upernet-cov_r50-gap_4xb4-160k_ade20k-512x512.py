# Ablation control: the GAP trunk with mmgcp.CovUPerHead (its reduction trained from scratch, the
# GAP classifier has none), to separate the head's effect from the pretraining's. The GCP and
# DropCov ablations inherit this segmentor and change only what their checkpoint provides.
_base_ = './upernet_r50-gap_4xb4-160k_ade20k-512x512.py'
model = dict(decode_head=dict(type='mmgcp.CovUPerHead'))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
