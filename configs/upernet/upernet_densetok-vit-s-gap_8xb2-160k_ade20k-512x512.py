# UperNet (mmseg's DeiT-S recipe: multi-level neck, 160k iterations) on the trunk of the
# published DropCov ViT-S, pretrained with a plain class-token head
# (configs/pretrain/densetok-vit-small-gap_8xb128_in1k.py). Blocks 3, 6, 9, 12 give 1/16 maps
# that the neck rescales to 1/4 ... 1/32; the 14 x 14 position table is resized to 32 x 32.
_base_ = 'mmseg::vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'checkpoints/densetok-vit-small-gap_8xb128_in1k.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmgcp.DenseTokenViT',
        arch='small',
        drop_path_rate=0.1,
        out_indices=(2, 5, 8, 11),
        out_type='featmap',
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            pretrain_config='configs/pretrain/densetok-vit-small-gap_8xb128_in1k.py')))
# The token embedding's BatchNorms see 2 images per GPU: synchronise them across GPUs, as mmseg's
# ResNet trunks do (mmengine converts them when training is distributed).
sync_bn = 'torch'
