# ResNet-34 GAP baseline: the ResNet-50 config (mmpretrain's recipe: SGD 0.1, batch 256, 100
# epochs, step 30/60/90; PIL resizing, as the published models were trained and evaluated) with a
# depth-34 trunk.
_base_ = './resnet50-gap_8xb32_in1k.py'
model = dict(backbone=dict(depth=34), head=dict(in_channels=512))
