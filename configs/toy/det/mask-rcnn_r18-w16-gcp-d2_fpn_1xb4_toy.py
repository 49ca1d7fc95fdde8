# Toy GCP trunk used as trained: layer4 stride 1 + dilation 2 (see
# configs/mask_rcnn/mask-rcnn_r50-gcp-d2_fpn_1x_coco.py). The detector is its GAP twin's
# (mask-rcnn_r18-w16-gap-d2); only the checkpoint differs.
_base_ = './mask-rcnn_r18-w16-gap-d2_fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')))
