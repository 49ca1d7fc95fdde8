# Faster R-CNN R-50 FPN 1x COCO from an iSQRT-COV (GCP) ResNet-50 trunk, with the trunk changed: it
# was trained with layer4 at stride 1, and here layer4 downsamples again (mmdet's stride 2: same
# parameters, standard FPN strides), so its 3x3 convs see other neighbourhoods than in pretraining.
# The GAP twin differs only in the checkpoint. The trunk as trained (stride 1, dilation 1):
# faster-rcnn_r50-gcp-s1; stride 1 with dilation 2: faster-rcnn_r50-gcp-d2.
_base_ = './faster-rcnn_r50-gap_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(backbone=dict(init_cfg=dict(
    checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
