# Toy GCP trunk with layer4 at stride 1 and dilation 2: a choice, not the trunk as trained (the toy
# classifier's layer4 has stride 1 and dilation 1; see
# configs/mask_rcnn/mask-rcnn_r50-gcp-d2_fpn_1x_coco.py). The detector is its GAP twin's
# (mask-rcnn_r18-w16-gap-d2); only the checkpoint differs.
_base_ = './mask-rcnn_r18-w16-gap-d2_fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')))
