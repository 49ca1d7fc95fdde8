# Toy iSQRT-COV: the GAP twin with a GCP neck (128 -> 32 channels, 5 Newton-Schulz iterations).
_base_ = './resnet18-w16-gap_1xb32_toy.py'
model = dict(
    neck=dict(
        _delete_=True,
        type='mmgcp.GCPNeck',
        in_channels=128,
        reduced_channels=32),
    head=dict(in_channels=32 * 33 // 2))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
