# Ablation: the DropCov trunk + mmgcp.CovAttentionNeck with the DropCov head's reduction
# (`neck.reduction.*`) and no matrix normalisation, as DropCov uses; then FPN.
_base_ = './mask-rcnn_r50-dropcov_fpn_1x_coco.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(type='mmgcp.PaddingAwareMaskRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[256, 512, 1024, 2048],
         post_norm='none', norm_eval=True,
         reduction_init_cfg=dict(
             type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
             strict=True, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')),
    dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
])
