# The trunk of the published DropCov ViT-S (mmgcp.DenseTokenViT: DenseNet-style token embedding,
# fixed sinusoid position table, 12 blocks of width 384, 6 heads) with a plain class-token
# classifier: the first-order twin of densetok-vit-small-dropcov_8xb128_in1k.py.
# The DropCov paper's recipe, inherited from deit-small-gap_8xb128_in1k.py (8 GPUs x 128 images,
# AdamW lr 1e-3, weight decay 0.03, AMP, 5 warm-up epochs, cosine to 1e-5 at epoch 300 and 10
# more at 1e-5, drop path 0.1, EMA 0.99996, no gradient clipping, DeiT augmentations), with the
# published code's weight decay: every parameter of more than one dimension (the class token too).
# PIL resizing (bicubic, from mmpretrain's DeiT data settings): the published models were trained
# and evaluated with timm's PIL transforms.
_base_ = './deit-small-gap_8xb128_in1k.py'
custom_imports = dict(imports=['mmgcp'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmgcp.DenseTokenViT',
        arch='small',
        drop_path_rate=0.1,
        out_type='cls_token'),
    head=dict(
        _delete_=True,
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')))
# timm decays every parameter of more than one dimension, the class token included
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.cls_token': dict(decay_mult=1.0)}))
