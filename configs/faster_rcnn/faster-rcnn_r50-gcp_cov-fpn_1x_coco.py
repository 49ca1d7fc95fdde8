# Ablation: backbone + covariance neck from the GCP checkpoint. The detector of the control
# faster-rcnn_r50-gap_cov-fpn (mmgcp.CovAttentionNeck before FPN); the trunk and the neck's
# 2048 -> 256 reduction start from the GCP head's (`backbone.*`, `neck.reduction.*` of one
# checkpoint): only these initialisations differ from the control.
# Another checkpoint: set both model.backbone.init_cfg.checkpoint and
# model.neck.0.reduction_init_cfg.checkpoint.
_base_ = './faster-rcnn_r50-gap_cov-fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')),
    neck=[
        dict(_base_.model.neck[0], reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True,
            pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')),
        _base_.model.neck[1],
    ])
