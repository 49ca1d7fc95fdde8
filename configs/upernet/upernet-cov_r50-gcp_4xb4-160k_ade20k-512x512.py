# Ablation: backbone + covariance head from the GCP checkpoint. The segmentor of the control
# upernet-cov_r50-gap (UperNet plus mmgcp.CovUPerHead's second-order context next to its PPM);
# the trunk and the head's 2048 -> 256 reduction start from the GCP classifier's
# (`backbone.*`, `neck.reduction.*` of one checkpoint): only these initialisations differ.
# Another checkpoint: set both model.backbone.init_cfg.checkpoint and
# model.decode_head.reduction_init_cfg.checkpoint.
_base_ = './upernet-cov_r50-gap_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint=pretrained, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')),
    decode_head=dict(reduction_init_cfg=dict(
        type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
        strict=True,
        pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
