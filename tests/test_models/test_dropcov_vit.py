# Copyright (c) mmgcp contributors. All rights reserved.
"""The published DropCov ViT (DenseTokenViT + MultiHeadCovClsHead) against an independent model.

``Published*`` below rebuild ``Deit_drop_*`` of ``mingzeG/DropCov`` (``Transformers/src``) in plain
torch with the published module names and structure, not from mmgcp: timm 0.4's ``DenseBlock``
with its default ``norm_layer=nn.ReLU`` (so dense layers have no BatchNorm), transitions with a
BatchNorm and no activation, a fixed sinusoid position table, qkv without bias, and
``MultiHeadPooling``: ``Linear(dim, 3 x heads x c)``, a ``Dropout2d(0.2)`` mask on a
``(B*heads) x N x c`` tensor of ones (torch treats a 3-D input as ``N x C x L`` and drops whole
rows: tokens per head), the same mask on q and k, ``Covariance`` centring with
``adaptive_avg_pool2d`` (one mean per head), ``Dropout(0.5)``, then ``visual_fc + cls_fc``.
Random weights are saved in that layout, converted with mmgcp's converter and loaded into mmgcp's
model; both must give the same outputs.
"""
import argparse
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmgcp.converters.checkpoint_io import CheckpointConversionError
from mmgcp.converters.dropcov_vit import convert_checkpoint, convert_state_dict

# Tiny sizes: width 24, 2 blocks, 2 attention heads, 2 covariance heads x 3 channels, 5 classes,
# 64 x 64 images -> 4 x 4 tokens.
DIMS, DEPTH, HEADS, MLP_HIDDEN = 24, 2, 2, 48
COV_HEADS, COV_CHANNELS, NUM_CLASSES, SIZE, GRID = 2, 3, 5, 64, 4
TOOL = 'tools/model_converters/dropcov_vit2mmpretrain.py'


# ---------------------------------------------------------------------------------------------
# The published model, written from its structure, not from mmgcp.
# ---------------------------------------------------------------------------------------------
def published_sinusoid(n_position, d_hid):
    table = np.array([[p / np.power(10000, 2 * (j // 2) / d_hid) for j in range(d_hid)]
                      for p in range(n_position)])
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.FloatTensor(table).unsqueeze(0)


class PublishedDenseLayer(nn.Module):

    def __init__(self, cin):
        super().__init__()
        self.norm1 = nn.ReLU()  # timm's DenseBlock default norm_layer is nn.ReLU
        self.conv1 = nn.Conv2d(cin, 2 * 16, 1, bias=False)
        self.norm2 = nn.ReLU()
        self.conv2 = nn.Conv2d(2 * 16, 16, 3, padding=1, bias=False)

    def forward(self, features):
        return self.conv2(self.norm2(self.conv1(self.norm1(torch.cat(features, 1)))))


class PublishedDenseBlock(nn.ModuleDict):

    def __init__(self, cin):
        super().__init__()
        for i in range(6):
            self.add_module(f'denselayer{i + 1}', PublishedDenseLayer(cin + 16 * i))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


def published_transition(cin):
    return nn.Sequential(OrderedDict(
        norm=nn.BatchNorm2d(cin), conv=nn.Conv2d(cin, 128, 1, bias=False),
        pool=nn.AvgPool2d(2, 2)))


class PublishedTokens(nn.Module):

    def __init__(self, dims):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1), nn.MaxPool2d(3, 2, 1))
        self.stage = nn.Sequential(
            PublishedDenseBlock(64), published_transition(160),
            PublishedDenseBlock(128), published_transition(224),
            PublishedDenseBlock(128), published_transition(224))
        self.transition = nn.Conv2d(128, dims, 1)

    def forward(self, x):
        x = self.transition(self.stage(self.stem(x)))
        b, c, h, w = x.shape
        return x.view(b, c, h * w).transpose(1, 2)


class PublishedAttention(nn.Module):

    def __init__(self, dims, heads):
        super().__init__()
        self.heads, self.scale = heads, (dims // heads)**-0.5
        self.qkv = nn.Linear(dims, 3 * dims, bias=False)
        self.proj = nn.Linear(dims, dims)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (qkv[0] @ qkv[1].transpose(-2, -1) * self.scale).softmax(dim=-1)
        return self.proj((attn @ qkv[2]).transpose(1, 2).reshape(b, n, c))


class PublishedMlp(nn.Module):

    def __init__(self, dims, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dims, hidden), nn.GELU(), nn.Linear(hidden, dims)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PublishedBlock(nn.Module):

    def __init__(self, dims, heads, hidden):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dims), PublishedAttention(dims, heads)
        self.norm2, self.mlp = nn.LayerNorm(dims), PublishedMlp(dims, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PublishedMultiHeadPooling(nn.Module):

    def __init__(self, dims, heads, wr_dim):
        super().__init__()
        self.heads, self.wr_dim = heads, wr_dim
        self.wr = nn.Linear(dims, wr_dim * heads * 3, bias=False)
        self.dropout = nn.Dropout(0.5)
        self.mask = None  # set by a test to replace the random draw

    def forward(self, x):
        b, n, _ = x.shape
        qk = self.wr(x).reshape(b, n, 3, self.heads, self.wr_dim).permute(2, 0, 3, 1, 4)
        q = qk[0].reshape(b * self.heads, n, self.wr_dim)
        k = qk[1].reshape(b * self.heads, n, self.wr_dim)
        if self.training:
            mask = self.mask if self.mask is not None else F.dropout1d(
                torch.ones(b * self.heads, n, self.wr_dim), 0.2, training=True)
            q, k = q * mask, k * mask
        # Covariance(): adaptive_avg_pool2d on B x c x N averages c and N together
        q = q.transpose(-1, -2)
        q = (q - F.adaptive_avg_pool2d(q, (1, 1))).transpose(-1, -2)
        k = k.transpose(-1, -2)
        k = (k - F.adaptive_avg_pool2d(k, (1, 1))).transpose(-1, -2)
        cov = (1. / n) * q.transpose(-1, -2).bmm(k)
        return self.dropout(cov).view(b, -1)


class PublishedClassifier(nn.Module):

    def __init__(self, dims, heads, wr_dim, classes):
        super().__init__()
        self.representation = PublishedMultiHeadPooling(dims, heads, wr_dim)
        self.visual_fc = nn.Linear(heads * wr_dim**2, classes)
        self.cls_fc = nn.Linear(dims, classes)

    def forward(self, x):
        return self.visual_fc(self.representation(x[:, 1:])) + self.cls_fc(x[:, 0])


class PublishedDropCovViT(nn.Module):

    def __init__(self, dims=DIMS, depth=DEPTH, heads=HEADS, hidden=MLP_HIDDEN, cov_heads=COV_HEADS,
                 wr_dim=COV_CHANNELS, classes=NUM_CLASSES, grid=GRID):
        super().__init__()
        self.visual_tokens = nn.Module()
        self.visual_tokens.tokens = PublishedTokens(dims)
        self.blocks = nn.ModuleList([PublishedBlock(dims, heads, hidden) for _ in range(depth)])
        self.classifier = PublishedClassifier(dims, cov_heads, wr_dim, classes)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims))
        self.pos_embed = nn.Parameter(published_sinusoid(grid * grid + 1, dims),
                                      requires_grad=False)
        self.norm = nn.LayerNorm(dims)

    def features(self, x):
        """Every block's output (the last one after the final norm)."""
        x = self.visual_tokens.tokens(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        outs = []
        for blk in self.blocks:
            x = blk(x)
            outs.append(x)
        outs[-1] = self.norm(x)
        return outs

    def forward(self, x):
        return self.classifier(self.features(x)[-1])


def randomize(model, seed=0):
    """Random weights everywhere (BN statistics too), keeping the fixed position table."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name == 'pos_embed' or not tensor.is_floating_point():
                continue
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.2)
            if 'running_var' in name:
                tensor.abs_().add_(0.5)
    return model


@pytest.fixture(scope='module')
def published():
    torch.manual_seed(0)
    return randomize(PublishedDropCovViT()).eval()


def mmgcp_model(converted, backbone_out='raw', out_indices=-1):
    """mmpretrain ImageClassifier with mmgcp's trunk and head at the reference's tiny sizes."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmgcp.models  # noqa: F401
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='mmgcp.DenseTokenViT',
                      arch=dict(embed_dims=DIMS, num_layers=DEPTH, num_heads=HEADS,
                                mlp_ratio=MLP_HIDDEN / DIMS),
                      pos_embed_grid=GRID, out_indices=out_indices, out_type=backbone_out),
        head=dict(type='mmgcp.MultiHeadCovClsHead', num_classes=NUM_CLASSES, in_channels=DIMS,
                  num_heads=COV_HEADS, head_channels=COV_CHANNELS))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    model.load_state_dict(converted, strict=True)
    return model.eval()


@pytest.fixture(scope='module')
def converted(published):
    state, _ = convert_state_dict(published.state_dict(), num_heads=HEADS)
    return state


def test_eval_logits_equal_published(published, converted):
    model = mmgcp_model(converted)
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = published(images)
        logits = model(images, mode='tensor')
    assert logits.shape == (2, NUM_CLASSES)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)


def test_training_head_with_the_same_token_mask_equals_published(published, converted):
    """Same weights, same token mask, same covariance dropout draw: same logits and gradients."""
    model = mmgcp_model(converted)
    model.train()
    published.train()
    tokens = torch.randn(2, 1 + GRID * GRID, DIMS, requires_grad=True)
    torch.manual_seed(1)
    mask = F.dropout1d(torch.ones(2 * COV_HEADS, GRID * GRID, COV_CHANNELS), 0.2, training=True)
    # the mask drops whole tokens per head, scaled by 1 / 0.8, and is not trivial
    assert set(mask.unique().tolist()) == {0.0, 1.25}
    assert (mask == mask[..., :1]).all() and (mask == 0).any()
    published.classifier.representation.mask = mask
    model.head.draw_token_mask = lambda b, n, like: mask.view(b, COV_HEADS, n, COV_CHANNELS)[
        ..., :1]
    try:
        torch.manual_seed(2)
        expected = published.classifier(tokens)
        torch.manual_seed(2)
        logits = model.head((tokens, ))
    finally:
        published.classifier.representation.mask = None
        published.eval()
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-4)
    grad_ref, = torch.autograd.grad(expected.sum(), tokens)
    grad, = torch.autograd.grad(logits.sum(), tokens)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-4, atol=1e-4)
    # the covariance dropout is on: another draw gives other logits
    assert not torch.allclose(model.head((tokens, )), logits)


def test_token_mask_is_shared_by_q_and_k_and_per_head():
    from mmgcp.models import MultiHeadCovClsHead
    head = MultiHeadCovClsHead(num_classes=3, in_channels=8, num_heads=2, head_channels=2).train()
    torch.manual_seed(0)
    mask = head.draw_token_mask(64, 50, torch.zeros(1))
    assert mask.shape == (64, 2, 50, 1)
    assert set(mask.unique().tolist()) == {0.0, 1.25}
    assert (mask == 0).float().mean().item() == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ValueError, match="out_type='raw'"):
        head((torch.randn(2, 8), ))


def test_multi_level_outputs_for_upernet(published, converted):
    from mmgcp.models import DenseTokenViT
    backbone = DenseTokenViT(
        arch=dict(embed_dims=DIMS, num_layers=DEPTH, num_heads=HEADS, mlp_ratio=MLP_HIDDEN / DIMS),
        pos_embed_grid=GRID, out_indices=(0, 1), out_type='featmap').eval()
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in converted.items()
                              if k.startswith('backbone.')})
    images = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        outs = backbone(images)
        expected = published.features(images)
    assert len(outs) == 2
    for out, ref in zip(outs, expected):
        assert out.shape == (1, DIMS, GRID, GRID)
        torch.testing.assert_close(out.flatten(2).transpose(1, 2), ref[:, 1:], rtol=1e-4,
                                   atol=1e-4)
    with torch.no_grad():  # another input size: the position table is resized, 8 x 8 tokens
        assert backbone(torch.randn(1, 3, 128, 128))[-1].shape == (1, DIMS, 8, 8)


def test_default_position_table_and_published_size():
    from mmgcp.models import DenseTokenViT, MultiHeadCovClsHead
    trunk = DenseTokenViT(arch='small')
    torch.testing.assert_close(trunk.pos_embed, published_sinusoid(197, 384))
    head = MultiHeadCovClsHead(num_classes=1000, in_channels=384)
    params = sum(p.numel() for p in trunk.parameters()) + sum(p.numel() for p in head.parameters())
    # README of mingzeG/DropCov: DeiT-S + DropCov has 25.6M parameters (a 2 x heads x c
    # projection would give 25.5M)
    assert round(params / 1e6, 1) == 25.6


# ---------------------------------------------------------------------------------------------
# The converter: files, bad inputs, nothing written on failure.
# ---------------------------------------------------------------------------------------------
def _save(state, path, ema=None):
    # timm's CheckpointSaver layout, with the training script's arguments (an argparse
    # Namespace, which loads without --trust-checkpoint).
    checkpoint = dict(state_dict=state, epoch=299, arch='Deit_drop_Small', metric=82.4, version=2,
                      args=argparse.Namespace(model='Deit_drop_Small', lr=1e-3, model_ema=True))
    if ema is not None:
        checkpoint['state_dict_ema'] = ema
    torch.save(checkpoint, path)
    return str(path)


def test_converter_prefers_ema_weights(tmp_path, published):
    ema = {k: v + 1 if v.is_floating_point() and k != 'pos_embed' else v
           for k, v in published.state_dict().items()}
    src = _save({f'module.{k}': v for k, v in published.state_dict().items()},
                tmp_path / 'src.pth', ema=ema)
    dst = str(tmp_path / 'out.pth')
    meta = convert_checkpoint(src, dst, num_heads=HEADS)
    saved = torch.load(dst, weights_only=True)
    assert meta['source_meta']['weights'] == 'state_dict_ema'
    torch.testing.assert_close(saved['state_dict']['head.fc_cls.weight'],
                               ema['classifier.cls_fc.weight'])
    convert_checkpoint(src, dst, weights='model', num_heads=HEADS)
    saved = torch.load(dst, weights_only=True)
    torch.testing.assert_close(saved['state_dict']['backbone.layers.1.mlp.fc2.bias'],
                               published.state_dict()['blocks.1.mlp.fc2.bias'])


def test_other_vit_layouts_are_refused(tmp_path, published):
    deit = {'patch_embed.proj.weight': torch.zeros(384, 3, 16, 16), 'cls_token': torch.zeros(
        1, 1, 384), 'blocks.0.attn.qkv.weight': torch.zeros(1152, 384)}
    with pytest.raises(CheckpointConversionError, match='timm / DeiT ViT'):
        convert_state_dict(deit)
    state = published.state_dict()
    sot = dict(state)  # SoT's head: 2 x heads x c projection rows
    sot['classifier.representation.wr.weight'] = torch.zeros(2 * COV_HEADS * COV_CHANNELS, DIMS)
    with pytest.raises(CheckpointConversionError, match='SoT'):
        convert_state_dict(sot, num_heads=HEADS)
    bn = dict(state)  # dense layers with BatchNorm: another token embedding
    bn['visual_tokens.tokens.stage.0.denselayer1.norm1.weight'] = torch.ones(64)
    with pytest.raises(CheckpointConversionError, match='unexpected keys.*norm1'):
        convert_state_dict(bn, num_heads=HEADS)
    learned = dict(state)
    learned['pos_embed'] = torch.randn_like(state['pos_embed'])
    with pytest.raises(CheckpointConversionError, match='sinusoid'):
        convert_state_dict(learned, num_heads=HEADS)
    with pytest.raises(CheckpointConversionError, match='--num-heads'):
        convert_state_dict(state)  # width 24 is no published size


def test_truncated_file_writes_nothing(tmp_path, published):
    src = _save(published.state_dict(), tmp_path / 'src.pth')
    data = open(src, 'rb').read()
    with open(src, 'wb') as f:
        f.write(data[:len(data) // 2])
    dst = tmp_path / 'out.pth'
    with pytest.raises(CheckpointConversionError, match='truncated'):
        convert_checkpoint(src, str(dst), num_heads=HEADS)
    assert not dst.exists()


def test_mismatching_config_writes_nothing(tmp_path, published):
    src = _save(published.state_dict(), tmp_path / 'src.pth')
    dst = tmp_path / 'out.pth'
    with pytest.raises(CheckpointConversionError, match='does not fit the model') as info:
        convert_checkpoint(src, str(dst), num_heads=HEADS,
                           config='configs/pretrain/densetok-vit-small-dropcov_8xb128_in1k.py')
    assert 'shape mismatches' in str(info.value) and 'backbone.cls_token' in str(info.value)
    assert not dst.exists()


@pytest.mark.slow
def test_cli_mismatching_config_writes_nothing(repo_root, tmp_path, tool_runner, published):
    src = _save(published.state_dict(), tmp_path / 'src.pth')
    dst = tmp_path / 'out.pth'
    proc = tool_runner([TOOL, src, str(dst), '--num-heads', str(HEADS), '--config',
                        'configs/pretrain/densetok-vit-small-dropcov_8xb128_in1k.py'],
                       check=False)
    assert proc.returncode != 0
    assert 'does not fit the model of configs/pretrain/densetok-vit-small-dropcov' in proc.stderr
    assert 'shape mismatches' in proc.stderr and 'Nothing was written' in proc.stderr
    assert not dst.exists()


def test_published_small_layout_fits_the_configs():
    """A Deit_drop_Small-shaped state dict converts and loads strictly into both configs."""
    from mmgcp.converters.checkpoint_io import check_against_config
    state = PublishedDropCovViT(dims=384, depth=12, heads=6, hidden=1536, cov_heads=6, wr_dim=24,
                                classes=1000, grid=14).state_dict()
    converted_state, info = convert_state_dict(state)
    assert info['arch'] == 'small' and info['cov_heads'] == 6 and info['head_channels'] == 24
    assert info['config'] == 'configs/pretrain/densetok-vit-small-dropcov_8xb128_in1k.py'
    assert info['cfg_options'] == []
    check_against_config(converted_state, info['config'])
    trunk = {k: v for k, v in converted_state.items() if k.startswith('backbone.')}
    check_against_config(
        trunk, 'configs/upernet/upernet_densetok-vit-s-dropcov_8xb2-160k_ade20k-512x512.py',
        backbone_only=True)
    assert math.isclose(info['mlp_ratio'], 4.0)


@pytest.mark.slow
def test_converted_small_trunk_arrives_in_upernet(tmp_path):
    """The UperNet config's trunk loads a converted Small checkpoint through its init_cfg."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmgcp.models  # noqa: F401
    torch.manual_seed(0)
    state = randomize(PublishedDropCovViT(dims=384, depth=12, heads=6, hidden=1536, cov_heads=6,
                                          wr_dim=24, classes=10, grid=14))
    src = _save(state.state_dict(), tmp_path / 'src.pth')
    dst = str(tmp_path / 'trunk.pth')
    convert_checkpoint(src, dst, backbone_only=True)
    cfg = Config.fromfile(
        'configs/upernet/upernet_densetok-vit-s-dropcov_8xb2-160k_ade20k-512x512.py')
    cfg.model.backbone.init_cfg.checkpoint = dst
    with DefaultScope.overwrite_default_scope('mmseg'):
        backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    published = state.state_dict()
    for ours, theirs in (('cls_token', 'cls_token'), ('pos_embed', 'pos_embed'),
                         ('layers.11.mlp.fc2.weight', 'blocks.11.mlp.fc2.weight'),
                         ('token_embed.proj.bias', 'visual_tokens.tokens.transition.bias'),
                         ('token_embed.stage.5.norm.running_var',
                          'visual_tokens.tokens.stage.5.norm.running_var')):
        torch.testing.assert_close(backbone.state_dict()[ours], published[theirs], msg=ours)


def test_head_keeps_covariance_in_float32_under_autocast():
    from mmgcp.models import MultiHeadCovClsHead
    from mmgcp.models.heads.multi_head_cov_head import head_cross_covariance
    torch.manual_seed(0)
    head = MultiHeadCovClsHead(num_classes=3, in_channels=8, num_heads=2, head_channels=2).eval()
    tokens = torch.randn(2, 10, 8) * 100
    with torch.autocast('cpu', dtype=torch.bfloat16):
        q = torch.randn(2, 2, 9, 2).bfloat16()
        assert head_cross_covariance(q, q).dtype == torch.float32
        logits = head((tokens, ))
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits.float(), head((tokens, )), rtol=0.05, atol=0.5)
