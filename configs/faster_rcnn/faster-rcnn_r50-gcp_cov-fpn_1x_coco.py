# Ablation: backbone + GCP neck. The GCP-pretrained trunk (as in faster-rcnn_r50-gcp_fpn_1x_coco.py,
# the backbone-only transfer) followed by mmgcp.CovAttentionNeck, whose 2048 -> 256 reduction
# starts from the pretrained GCP head's (`neck.reduction.*` of the same checkpoint), then FPN.
# Another checkpoint: set both model.backbone.init_cfg.checkpoint and
# model.neck.0.reduction_init_cfg.checkpoint.
_base_ = './faster-rcnn_r50-gcp_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-gcp_8xb32_in1k.pth'
model = dict(type='mmgcp.PaddingAwareFasterRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[256, 512, 1024, 2048],
         norm_eval=True,  # frozen BN statistics, like the backbone's
         reduction_init_cfg=dict(
             type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
             strict=True, pretrain_config='configs/pretrain/resnet50-gcp_8xb32_in1k.py')),
    dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
])
