# ResNet-50 iSQRT-COV (GCP) classifier: stride-1 last stage, 2048 -> 256 reduction, covariance,
# 5 Newton-Schulz iterations, upper triangle (32896) -> fc.
_base_ = 'mmpretrain::_base_/models/resnet50.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    backbone=dict(strides=(1, 2, 2, 1)),
    neck=dict(
        _delete_=True,
        type='mmgcp.GCPNeck',
        in_channels=2048,
        reduced_channels=256),
    head=dict(in_channels=32896))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
