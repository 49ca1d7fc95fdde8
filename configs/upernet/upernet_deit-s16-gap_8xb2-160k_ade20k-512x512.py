# UperNet with a DeiT-S trunk (mmseg's vit_deit-s16_mln_upernet config: multi-level neck, 160k)
# from an ImageNet DeiT-S trained with mmpretrain (configs/pretrain/deit-small-gap_8xb128_in1k.py).
# mmpretrain's ViT keys differ from mmseg's in the attention only (qkv/proj vs the in_proj/out_proj
# of nn.MultiheadAttention): `revise_keys` renames them; the 14x14 position embedding is resized
# to 32x32 on loading.
_base_ = 'mmseg::vit/vit_deit-s16_mln_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmgcp.models'], allow_failed_imports=False)
pretrained = 'checkpoints/deit-small-gap_8xb128_in1k.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        init_cfg=dict(
            type='mmgcp.PretrainedChecked',
            checkpoint=pretrained,
            prefix='backbone.',
            revise_keys=[(r'\.attn\.qkv\.', '.attn.attn.in_proj_'),
                         (r'\.attn\.proj\.', '.attn.attn.out_proj.')],
            pretrain_config='configs/pretrain/deit-small-gap_8xb128_in1k.py')))
