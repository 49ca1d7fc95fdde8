# ResNet-50 GAP with the "LRfast" schedule: 30 epochs, lr = 0.1 (1 - (e-1)/52)^11.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py', 'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_lrfast.py', 'mmpretrain::_base_/default_runtime.py'
]
