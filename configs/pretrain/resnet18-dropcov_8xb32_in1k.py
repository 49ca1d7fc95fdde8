# ResNet-18 DropCov: the ResNet-50 config with a depth-18 trunk (512 output channels -> 256), same
# recipe as the GAP twin resnet18-gap_8xb32_in1k.py.
# PIL resizing, as the published models were trained and evaluated.
_base_ = './resnet50-dropcov_8xb32_in1k.py'
model = dict(backbone=dict(depth=18), neck=dict(in_channels=512))
