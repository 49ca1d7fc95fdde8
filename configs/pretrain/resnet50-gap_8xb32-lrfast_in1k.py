# ResNet-50 GAP with the "LRfast" schedule: 30 epochs, lr = 0.1 (1 - (e-1)/52)^11. PIL
# resizing, as the published models were trained and evaluated (see resnet50-gap_8xb32_in1k.py).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs256_lrfast.py',
    'mmpretrain::_base_/default_runtime.py',
]
