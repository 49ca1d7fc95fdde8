# DeiT-S baseline (class token classifier), mmpretrain's recipe at batch 8 x 128 = 1024.
_base_ = 'mmpretrain::deit/deit-small_4xb256_in1k.py'
train_dataloader = dict(batch_size=128)
