# ResNet-50 iSQRT-COV (GCP) with the papers' recipe (SGD 0.1, batch 256, 100 epochs, step
# 30/60/90), the same as its GAP twin resnet50-gap_8xb32_in1k.py.
# PIL resizing (backend='pillow', as mmpretrain's imagenet_bs32_pil_resize.py): the published models
# were trained and evaluated with torchvision's PIL transforms, and cv2 resizing costs their
# checkpoints a few tenths of top-1.
_base_ = [
    '../_base_/models/resnet50_gcp.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
