# ResNet-50 GAP with the "LRadju" schedule: 50 epochs, lr = 0.1 (1 - (e-1)/49)^2.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py', 'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_lradju.py', 'mmpretrain::_base_/default_runtime.py'
]
