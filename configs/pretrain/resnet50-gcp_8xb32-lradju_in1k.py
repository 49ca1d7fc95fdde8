# ResNet-50 GCP with the "LRadju" schedule: 50 epochs, lr = 0.1 (1 - (e-1)/49)^2.
_base_ = [
    '../_base_/models/resnet50_gcp.py', 'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_lradju.py', 'mmpretrain::_base_/default_runtime.py'
]
