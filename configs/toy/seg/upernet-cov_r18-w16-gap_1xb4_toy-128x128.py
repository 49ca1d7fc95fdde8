# Toy ablation control: the toy GAP trunk with mmgcp.CovUPerHead (its reduction trained from
# scratch, the GAP classifier has none). The toy GCP ablation inherits it.
_base_ = './upernet_r18-w16-gap_1xb4_toy-128x128.py'
model = dict(decode_head=dict(type='mmgcp.CovUPerHead', reduced_channels=32))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
