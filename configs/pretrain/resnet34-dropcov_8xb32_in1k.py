# ResNet-34 DropCov: the ResNet-50 config with a depth-34 trunk (512 output channels -> 256), same
# recipe as the GAP twin resnet34-gap_8xb32_in1k.py.
# PIL resizing, as the published models were trained and evaluated.
_base_ = './resnet50-dropcov_8xb32_in1k.py'
model = dict(backbone=dict(depth=34), neck=dict(in_channels=512))
