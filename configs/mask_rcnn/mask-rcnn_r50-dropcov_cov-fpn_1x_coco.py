# Ablation: backbone + covariance neck from the DropCov checkpoint. The detector of the control
# mask-rcnn_r50-gap_cov-fpn (mmgcp.CovAttentionNeck before FPN); the trunk and the neck's
# 2048 -> 256 reduction start from the DropCov head's (`backbone.*`, `neck.reduction.*` of one
# checkpoint): only these initialisations differ from the control.
# The neck keeps the control's iSQRT normalisation (DropCov's own head has none): the pair then
# differs only in the pretraining. DropCov's setting is model.neck.0.post_norm='none', to be set
# in this config and in the control alike.
# Another checkpoint: set both model.backbone.init_cfg.checkpoint and
# model.neck.0.reduction_init_cfg.checkpoint.
_base_ = './mask-rcnn_r50-gap_cov-fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')),
    neck=[
        dict(_base_.model.neck[0], reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True,
            pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')),
        _base_.model.neck[1],
    ])
