# Toy ablation: the toy GCP trunk + mmgcp.CovAttentionNeck (its 128 -> 32 reduction from the toy
# GCP classifier's `neck.reduction.*`) + FPN.
_base_ = './mask-rcnn_r18-w16-gcp_fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(type='mmgcp.PaddingAwareMaskRCNN', neck=[
    dict(type='mmgcp.CovAttentionNeck', in_channels=[16, 32, 64, 128],
         reduced_channels=32, hidden_channels=16, norm_eval=True,
         reduction_init_cfg=dict(
             type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
             strict=True, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')),
    dict(type='FPN', in_channels=[16, 32, 64, 128], out_channels=32, num_outs=5),
])
