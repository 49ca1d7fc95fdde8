# ResNet-101 DropCov: the ResNet-50 config with a depth-101 trunk (2048 -> 256), same
# recipe as the GAP twin resnet101-gap_8xb32_in1k.py.
# PIL resizing, as the published models were trained and evaluated.
_base_ = './resnet50-dropcov_8xb32_in1k.py'
model = dict(backbone=dict(depth=101))
