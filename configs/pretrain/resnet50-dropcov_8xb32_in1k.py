# ResNet-50 DropCov: stride-1 last stage, 2048 -> 256 reduction, adaptive channel dropout
# (training only), covariance, upper triangle (32896) -> fc. The GAP twin's recipe (the papers'),
# data and PIL resizing (the published models were trained and evaluated with torchvision's PIL
# transforms); only the pooling differs.
_base_ = './resnet50-gap_8xb32_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    backbone=dict(strides=(1, 2, 2, 1)),
    neck=dict(
        _delete_=True, type='mmgcp.DropCovNeck', in_channels=2048, reduced_channels=256),
    head=dict(in_channels=32896))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
