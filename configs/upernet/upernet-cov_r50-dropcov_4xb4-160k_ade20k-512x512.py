# Ablation: the DropCov trunk with mmgcp.CovUPerHead, its reduction from the DropCov head's
# (`neck.reduction.*`) and no matrix normalisation, as DropCov uses.
_base_ = './upernet_r50-dropcov_4xb4-160k_ade20k-512x512.py'
pretrained = 'checkpoints/resnet50-dropcov_8xb32_in1k.pth'
model = dict(
    decode_head=dict(
        type='mmgcp.CovUPerHead',
        post_norm='none',
        reduction_init_cfg=dict(
            type='mmgcp.PretrainedChecked', checkpoint=pretrained, prefix='neck.reduction.',
            strict=True, pretrain_config='configs/pretrain/resnet50-dropcov_8xb32_in1k.py')))
