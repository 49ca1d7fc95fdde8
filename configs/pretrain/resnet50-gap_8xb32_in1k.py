# ResNet-50 GAP baseline: mmpretrain's own recipe (SGD 0.1, batch 256, 100 epochs, step 30/60/90),
# the papers' ResNet recipe.
# PIL resizing (backend='pillow', as mmpretrain's imagenet_bs32_pil_resize.py): the published models
# were trained and evaluated with torchvision's PIL transforms, and cv2 resizing costs their
# checkpoints a few tenths of top-1.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
