# ResNet-34 GAP baseline: mmpretrain's own recipe (SGD 0.1, batch 256, 100 epochs, step 30/60/90).
_base_ = 'mmpretrain::resnet/resnet34_8xb32_in1k.py'
