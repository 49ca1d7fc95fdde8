# GCP trunk with layer4 at stride 1 and dilation 2 (C5 at stride 16). A choice, not the trunk as
# trained: the papers' code trains layer4 with dilation 1 (faster-rcnn_r50-gcp-s1), so here every
# 3x3 conv of layer4 sees a wider neighbourhood than in pretraining. FPN strides 4, 8, 16, 16,
# 32: the anchors keep their sizes and the RoI extractor use the real strides. The detector is
# its GAP twin's (faster-rcnn_r50-gap-d2); only the checkpoint differs.
_base_ = './faster-rcnn_r50-gap-d2_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
