# MobileNetV2 iSQRT-COV: strides kept, 1280 -> 256 reduction with ReLU6, 5 Newton-Schulz
# iterations, upper triangle (32896) -> Dropout(0.2) -> fc.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    neck=dict(
        _delete_=True,
        type='mmgcp.GCPNeck',
        in_channels=1280,
        reduced_channels=256,
        act_cfg=dict(type='ReLU6')),
    head=dict(type='mmgcp.DropoutLinearClsHead', in_channels=32896, dropout_rate=0.2))
