# GAP twin of upernet_r50-gcp-s1 / -dropcov-s1: the same segmentor, layer4 at stride 1 and
# dilation 1 as the GCP and DropCov trunks were trained (C5 at 1/16, 32 x 32 at 512 px), from the
# GAP trunk (trained at stride 2, so here its layer4 changes). The decode head needs no other
# setting: UPerHead resizes each level to the next finer one's size (C5 and C4 are both 1/16), its
# pyramid pooling bins (1, 2, 3, 6) the 32 x 32 map, and the auxiliary head reads C4 as before.
_base_ = './upernet_r50-gap_4xb4-160k_ade20k-512x512.py'
model = dict(backbone=dict(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1)))
