# GCP trunk used as trained: layer4 keeps stride 1, with dilation 2 (C5 at stride 16). The FPN
# levels then have strides 4, 8, 16, 16, 32: the anchors keep their sizes (base_sizes 4..64 x
# scale 8 = 32..512 px) and the RoI extractor uses the real strides. The detector is its GAP
# twin's (faster-rcnn_r50-gap-d2); only the checkpoint differs.
_base_ = './faster-rcnn_r50-gap-d2_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
