# MobileNetV2 iSQRT-COV: strides kept, 1280 -> 256 reduction with ReLU6, 5 Newton-Schulz
# iterations, upper triangle (32896) -> Dropout(0.2) -> fc. The recipe is its GAP twin's, i.e.
# mmpretrain's (300 epochs, SGD lr 0.045 at batch 256, lr x 0.98 every epoch, weight decay 4e-5):
# the recipe of the published MobileNetV2 GCP is not published, so no published number stands
# beside this config (docs/papers.md, "Recipes and schedules"). PIL resizing (mmpretrain's
# imagenet_bs32_pil_resize.py): the published models were trained and evaluated with torchvision's
# PIL transforms.
_base_ = './mobilenet-v2-gap_8xb32_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    neck=dict(
        _delete_=True,
        type='mmgcp.GCPNeck',
        in_channels=1280,
        reduced_channels=256,
        act_cfg=dict(type='ReLU6')),
    head=dict(type='mmgcp.DropoutLinearClsHead', in_channels=32896, dropout_rate=0.2))
# The GCP modules check for NaN/Inf on the device, without a host sync, only while this hook
# reads their records; registered here so that any trainer (mim, the libraries' tools) uses it.
custom_hooks = [dict(type='mmgcp.NonFiniteCheckHook')]
