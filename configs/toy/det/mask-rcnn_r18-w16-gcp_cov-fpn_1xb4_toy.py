# Toy ablation: the detector of the control mask-rcnn_r18-w16-gap_cov-fpn with the toy GCP trunk and
# the neck's 128 -> 32 reduction from the toy GCP classifier (`backbone.*`, `neck.reduction.*`).
_base_ = './mask-rcnn_r18-w16-gap_cov-fpn_1xb4_toy.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    backbone=dict(init_cfg=dict(
        checkpoint=pretrained, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')),
    neck=[
        dict(_base_.model.neck[0], reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True,
            pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')),
        _base_.model.neck[1],
    ])
