# Copyright (c) mmgcp contributors. All rights reserved.
"""The trunk of the published DropCov vision transformers (``Deit_drop_{Tiny,Small,Base}``).

DropCov's transformers (``mingzeG/DropCov``, ``Transformers/src``) are built on SoT's ViT, not on
DeiT: tokens come from a small DenseNet-style convolutional stem instead of a 16 x 16 patch
projection, the position embedding is a fixed sinusoid table, and the blocks are pre-norm ViT
blocks without a qkv bias. ``docs/dropcov_vit.md`` lists the structure and how each detail was
pinned down.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from mmgcp.registry import MODELS

from ..utils import check_rates

#: Published sizes: width, depth, attention heads, MLP ratio (``transformer.py``).
ARCH_SETTINGS: Dict[str, dict] = {
    'tiny': dict(embed_dims=240, num_layers=12, num_heads=4, mlp_ratio=2.5),
    'small': dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4.0),
    'base': dict(embed_dims=768, num_layers=12, num_heads=12, mlp_ratio=4.0),
}
#: Output layouts of :class:`DenseTokenViT`.
OUT_TYPES = ('raw', 'cls_token', 'featmap')


def sinusoid_position_table(num_positions: int, channels: int) -> Tensor:
    """The fixed position embedding of the Transformer paper, one row per position.

    Entry ``(p, j)`` is ``sin(p / 10000^(2 floor(j/2) / C))`` for even ``j`` and the cosine of
    the same angle for odd ``j``.

    Args:
        num_positions (int): Rows (class token + patches, in token order).
        channels (int): Embedding width ``C``.

    Returns:
        Tensor: ``num_positions x channels``, float32.
    """
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    exponent = 2 * torch.div(torch.arange(channels), 2, rounding_mode='floor') / channels
    angle = position / torch.pow(10000.0, exponent.to(torch.float64))
    table = torch.where(torch.arange(channels) % 2 == 0, angle.sin(), angle.cos())
    return table.float()


def drop_path(x: Tensor, rate: float, training: bool) -> Tensor:
    """Stochastic depth: drop the residual branch of whole samples, rescale the kept ones."""
    if rate == 0 or not training:
        return x
    keep = 1 - rate
    mask = x.new_empty((x.shape[0], ) + (1, ) * (x.dim() - 1)).bernoulli_(keep)
    return x * mask / keep


class DenseLayer(nn.Module):
    """``ReLU -> 1x1 conv -> ReLU -> 3x3 conv``: ``growth`` new channels from all earlier ones.

    The published stem builds timm 0.4's ``DenseBlock`` with its default ``norm_layer=nn.ReLU``,
    so its dense layers have no BatchNorm (only the transitions have one).
    """

    def __init__(self, in_channels: int, growth: int, bottleneck: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, bottleneck, 1, bias=False)
        self.conv2 = nn.Conv2d(bottleneck, growth, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x))))


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and every layer's output."""

    def __init__(self, num_layers: int, in_channels: int, growth: int, bottleneck: int):
        super().__init__({
            f'denselayer{i + 1}': DenseLayer(in_channels + i * growth, growth, bottleneck)
            for i in range(num_layers)
        })

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)


class DenseTransition(nn.Sequential):
    """``BatchNorm -> 1x1 conv -> 2x2 average pooling`` (no activation, as published)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.add_module('norm', nn.BatchNorm2d(in_channels))
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module('pool', nn.AvgPool2d(2, stride=2))


class DenseTokenEmbed(nn.Module):
    """DenseNet-style token embedding (SoT / DropCov ``TokenEmbed``, type ``'DenseNet'``).

    ``3x3 conv (stride 1) -> 3x3 max-pool (stride 2)``, then three dense blocks of 6 layers
    (growth 16, bottleneck 32), each followed by a transition to 128 channels with 2x2 average
    pooling, then a 1x1 conv (with bias) to the token width: an overall stride of 16 (14 x 14
    tokens at 224 x 224).

    Args:
        in_channels (int): Image channels. Defaults to 3.
        embed_dims (int): Token width. Defaults to 384.
        stem_channels (int): Channels of the stem conv (``token_dim``). Defaults to 64.
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 384, stem_channels: int = 64):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1),
            nn.MaxPool2d(3, stride=2, padding=1))
        stages = []
        channels = stem_channels
        for _ in range(3):
            stages.append(DenseBlock(6, channels, growth=16, bottleneck=32))
            stages.append(DenseTransition(channels + 6 * 16, 128))
            channels = 128
        self.stage = nn.Sequential(*stages)
        self.proj = nn.Conv2d(channels, embed_dims, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``B x 3 x H x W -> B x embed_dims x H/16 x W/16``."""
        return self.proj(self.stage(self.stem(x)))


class Attention(nn.Module):
    """Multi-head self-attention, scale ``head_dims^-0.5``."""

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = False,
                 attn_drop: float = 0., proj_drop: float = 0.):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads '
                             f'({num_heads}).')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(
            2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class Mlp(nn.Module):
    """``Linear -> GELU -> Dropout -> Linear -> Dropout``."""

    def __init__(self, embed_dims: int, hidden_dims: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.fc2 = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class TransformerLayer(nn.Module):
    """Pre-norm ViT block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    LayerNorms use PyTorch's default eps (1e-5), as published (DeiT uses 1e-6).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float, qkv_bias: bool = False,
                 drop_rate: float = 0., attn_drop_rate: float = 0., drop_path_rate: float = 0.):
        super().__init__()
        self.drop_path_rate = drop_path_rate
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = Attention(embed_dims, num_heads, qkv_bias, attn_drop_rate, drop_rate)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop_rate)

    def forward(self, x: Tensor) -> Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


@MODELS.register_module()
class DenseTokenViT(BaseModule):
    """The ViT trunk of the published DropCov transformers (``Deit_drop_{Tiny,Small,Base}``).

    Tokens of a DenseNet-style convolutional stem (stride 16), a class token, a fixed sinusoid
    position embedding, ``num_layers`` pre-norm blocks without qkv bias, and a final LayerNorm on
    the last block's output. At another input size than the pretraining one, the patch part of the
    position table is resized bicubically (as mmseg does for DeiT).

    Args:
        arch (str | dict): ``'tiny'``, ``'small'``, ``'base'`` (:data:`ARCH_SETTINGS`) or a dict
            with ``embed_dims``, ``num_layers``, ``num_heads`` and ``mlp_ratio``.
            Defaults to ``'small'``.
        in_channels (int): Image channels. Defaults to 3.
        stem_channels (int): Channels of the stem conv. Defaults to 64.
        pos_embed_grid (int | tuple[int]): Token grid the position table is made for (14 for the
            published 224 x 224 models). Defaults to 14.
        qkv_bias (bool): Bias in the qkv projection. Defaults to False.
        drop_rate (float): Dropout after the position embedding, in the MLPs and after the
            attention projection. Defaults to 0.
        attn_drop_rate (float): Dropout of the attention weights. Defaults to 0.
        drop_path_rate (float): Stochastic depth, rising linearly from 0 to this value over the
            blocks (the published recipe: 0.1). Defaults to 0.
        out_indices (int | Sequence[int]): Blocks whose outputs are returned; negative indices
            count from the end. The last block's output goes through the final LayerNorm, the
            others are returned as they are. Defaults to -1.
        out_type (str): ``'raw'`` (``B x (1 + N) x C`` tokens, class token first, for
            :class:`MultiHeadCovClsHead`), ``'cls_token'`` (``B x C``, for ``LinearClsHead``) or
            ``'featmap'`` (``B x C x h x w`` patch tokens, for UperNet). Defaults to ``'raw'``.
        init_cfg (dict | list[dict], optional): Defaults to the published initialisation:
            truncated normal (std 0.02) linear weights with zero bias, unit LayerNorms; the
            class token is drawn the same way unless a checkpoint is loaded.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 pos_embed_grid: Union[int, Sequence[int]] = 14,
                 qkv_bias: bool = False,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'raw',
                 init_cfg: Optional[Union[dict, list]] = (
                     dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                     dict(type='Constant', layer='LayerNorm', val=1., bias=0.))):
        super().__init__(init_cfg=list(init_cfg) if isinstance(init_cfg, tuple) else init_cfg)
        self.arch_settings = self._arch_settings(arch)
        embed_dims = self.arch_settings['embed_dims']
        num_layers = self.arch_settings['num_layers']
        if out_type not in OUT_TYPES:
            raise ValueError(f"out_type must be one of {OUT_TYPES}, got '{out_type}'.")
        check_rates(drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                    drop_path_rate=drop_path_rate)
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = []
        for index in out_indices:
            if not -num_layers <= index < num_layers:
                raise ValueError(f'out_indices {list(out_indices)} must lie in '
                                 f'[{-num_layers}, {num_layers - 1}] for {num_layers} blocks.')
            self.out_indices.append(index % num_layers)
        self.out_type = out_type
        self.embed_dims = embed_dims
        grid = (pos_embed_grid, ) * 2 if isinstance(pos_embed_grid, int) else tuple(pos_embed_grid)
        self.pos_embed_grid = grid

        self.token_embed = DenseTokenEmbed(in_channels, embed_dims, stem_channels)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        # Fixed, not learned: a buffer (the published model keeps it as a frozen parameter).
        self.register_buffer(
            'pos_embed', sinusoid_position_table(1 + grid[0] * grid[1], embed_dims).unsqueeze(0))
        self.drop_after_pos = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.layers = nn.ModuleList([
            TransformerLayer(embed_dims, self.arch_settings['num_heads'],
                             self.arch_settings['mlp_ratio'], qkv_bias, drop_rate,
                             attn_drop_rate, rates[i]) for i in range(num_layers)
        ])
        self.norm = nn.LayerNorm(embed_dims)

    @staticmethod
    def _arch_settings(arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise ValueError(f"arch '{arch}' is not one of {list(ARCH_SETTINGS)}; or pass a "
                                 'dict with embed_dims, num_layers, num_heads, mlp_ratio.')
            return dict(ARCH_SETTINGS[arch])
        keys = {'embed_dims', 'num_layers', 'num_heads', 'mlp_ratio'}
        if not isinstance(arch, dict) or set(arch) != keys:
            raise ValueError(f'a custom arch must be a dict with exactly the keys {sorted(keys)}, '
                             f'got {arch}.')
        return dict(arch)

    def init_weights(self):
        first_time = not getattr(self, 'is_init', False)
        super().init_weights()
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg or {}]
        loads_checkpoint = any('Pretrained' in str(cfg.get('type', '')) for cfg in cfgs)
        if first_time and not loads_checkpoint:
            trunc_normal_(self.cls_token, std=0.02)

    def position_embedding(self, grid: Tuple[int, int]) -> Tensor:
        """The position table for a token grid: resized bicubically if it is not the table's own.

        Args:
            grid (tuple[int]): ``(h, w)`` of the token map.

        Returns:
            Tensor: ``1 x (1 + h*w) x C``.
        """
        if tuple(grid) == self.pos_embed_grid:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patch_pos = patch_pos.reshape(1, *self.pos_embed_grid, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=tuple(grid), mode='bicubic', align_corners=False)
        return torch.cat([cls_pos, patch_pos.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Images ``B x 3 x H x W`` -> one output per ``out_indices`` entry (see ``out_type``)."""
        feats = self.token_embed(x)
        grid = feats.shape[2:]
        tokens = feats.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = self.drop_after_pos(tokens + self.position_embedding(grid))
        outs = []
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            tokens = layer(tokens)
            if index == last:
                tokens = self.norm(tokens)
            if index in self.out_indices:
                outs.append(self._format_output(tokens, grid))
        return tuple(outs)

    def _format_output(self, tokens: Tensor, grid) -> Tensor:
        if self.out_type == 'raw':
            return tokens
        if self.out_type == 'cls_token':
            return tokens[:, 0]
        b, _, c = tokens.shape
        return tokens[:, 1:].transpose(1, 2).reshape(b, c, *grid)


__all__ = ['DenseTokenViT', 'DenseTokenEmbed', 'ARCH_SETTINGS', 'sinusoid_position_table']
