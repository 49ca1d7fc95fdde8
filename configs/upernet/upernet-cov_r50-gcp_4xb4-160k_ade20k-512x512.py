# Ablation: backbone + GCP head. The GCP trunk of upernet_r50-gcp_4xb4-160k_ade20k-512x512.py (the
# backbone-only transfer) with mmgcp.CovUPerHead: UperNet plus a second-order global context
# branch next to its PPM, whose 2048 -> 256 reduction starts from the pretrained GCP head's
# (`neck.reduction.*` of the same checkpoint). Another checkpoint: set both
# model.backbone.init_cfg.checkpoint and model.decode_head.reduction_init_cfg.checkpoint.
_base_ = './upernet_r50-gcp_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(
    decode_head=dict(
        type='mmgcp.CovUPerHead',
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')))
