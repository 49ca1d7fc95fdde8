# Toy ablation: the toy GCP trunk with mmgcp.CovUPerHead (its 128 -> 32 reduction from the toy GCP
# classifier's `neck.reduction.*`).
_base_ = './upernet_r18-w16-gcp_1xb4_toy-128x128.py'
pretrained = 'work_dirs/resnet18-w16-gcp_1xb32_toy/epoch_8.pth'
model = dict(
    decode_head=dict(
        type='mmgcp.CovUPerHead',
        reduced_channels=32,
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True, pretrain_config='configs/toy/resnet18-w16-gcp_1xb32_toy.py')))
