# Toy ablation: the segmentor of the control upernet-cov_r18-w16-gap with the toy GCP trunk and
# the head's 128 -> 32 reduction from the toy GCP classifier (`backbone.*`, `neck.reduction.*`).
_base_ = './upernet-cov_r18-w16-gap_1xb4_toy-128x128.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')),
    decode_head=dict(reduction_init_cfg=dict(
        type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
        strict=True,
        pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')))
