# UperNet R-50 512x512 160k ADE20K from an iSQRT-COV (GCP) ResNet-50 trunk, with the trunk changed:
# it was trained with layer4 at stride 1, and here layer4 downsamples again (stride 2, as in the
# GAP twin, which differs only in the checkpoint). The trunk as trained: upernet_r50-gcp-s1.
_base_ = './upernet_r50-gap_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
