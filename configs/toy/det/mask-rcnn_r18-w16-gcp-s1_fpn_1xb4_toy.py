# Toy Mask R-CNN with the toy GCP trunk as it was trained (layer4 stride 1, dilation 1). The
# detector is its GAP twin's (mask-rcnn_r18-w16-gap-s1); only the checkpoint differs.
_base_ = './mask-rcnn_r18-w16-gap-s1_fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')))
