# Copyright (c) mmgcp contributors. All rights reserved.
"""tools/model_converters/gcp2mmpretrain.py (mmgcp/converters): published checkpoints -> mmpretrain.

The published models are rebuilt here, independently of mmgcp, with their module names and
structure: a torchvision ResNet whose layer4 has stride 1, then ``layer_reduce`` (1x1 conv),
``layer_reduce_bn``, ReLU, covariance, Newton-Schulz (GCP) and the upper triangle into ``fc``.
Random weights are saved in each published layout, converted, loaded strictly into mmgcp's config
of the same architecture through mmpretrain, and both models must give the same logits.
"""
import argparse
import glob
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torchvision

# Importing mmgcp also lets mmengine load local checkpoints under torch >= 2.6 (weights-only).
from mmgcp.converters import CheckpointConversionError, convert_checkpoint, convert_state_dict

NUM_CLASSES = 10  # small classifiers keep the checkpoint files small
INPUT_SIZE = 64  # layer4 (stride 1) gives 4 x 4 = 16 positions
TOOL = 'tools/model_converters/gcp2mmpretrain.py'
DROPCOV_VIT_TOOL = 'tools/model_converters/dropcov_vit2mmpretrain.py'


# ---------------------------------------------------------------------------------------------
# The published models, written from the math (docs/math.md sections 1, 2, 5), not mmgcp.ops.
# ---------------------------------------------------------------------------------------------
def reference_covariance(x: torch.Tensor) -> torch.Tensor:
    """B x d x H x W -> B x d x d, centred over the M = H*W positions, divided by M."""
    x = x.flatten(2)
    centred = x - x.mean(dim=2, keepdim=True)
    return centred @ centred.transpose(1, 2) / x.shape[2]


def reference_isqrt(sigma: torch.Tensor, num_iters: int = 5) -> torch.Tensor:
    """Trace pre-norm, coupled Newton-Schulz (N iterations), sqrt(trace) post-compensation."""
    eye = torch.eye(sigma.shape[1], dtype=sigma.dtype).expand_as(sigma)
    trace = sigma.diagonal(dim1=1, dim2=2).sum(dim=1).view(-1, 1, 1)
    y, z = sigma / trace, eye
    for _ in range(num_iters - 1):
        t = 0.5 * (3 * eye - z @ y)
        y, z = y @ t, t @ z
    y = 0.5 * y @ (3 * eye - z @ y)
    return y * trace.sqrt()


def reference_triu(sigma: torch.Tensor) -> torch.Tensor:
    """Upper triangle with the diagonal, row-major: B x d x d -> B x d(d+1)/2."""
    rows, cols = torch.triu_indices(sigma.shape[1], sigma.shape[2])
    return sigma[:, rows, cols]


class EcaLayer(nn.Module):
    """DropCov's channel attention as published (only its weights matter at inference)."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)


class PublishedResNet(nn.Module):
    """A GCP / DropCov / GAP ResNet with the published module names, in eval-mode semantics."""

    def __init__(self, depth: int, neck: str = 'gcp', reduced_channels: int = 256,
                 num_classes: int = NUM_CLASSES, calibrate: bool = True):
        super().__init__()
        trunk = getattr(torchvision.models, f'resnet{depth}')(weights=None)
        for name in ('conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4'):
            setattr(self, name, getattr(trunk, name))
        channels = trunk.fc.in_features
        self.neck = neck
        if neck == 'gap':
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(channels, num_classes)
        else:
            first = self.layer4[0]  # the stride-1 last stage of every GCP ResNet
            (first.conv2 if hasattr(first, 'conv3') else first.conv1).stride = (1, 1)
            first.downsample[0].stride = (1, 1)
            self.layer_reduce = nn.Conv2d(channels, reduced_channels, 1, bias=False)
            self.layer_reduce_bn = nn.BatchNorm2d(reduced_channels)
            self.layer_reduce_relu = nn.ReLU(inplace=True)
            if neck == 'dropcov':
                self.eca_layer = EcaLayer()
            self.fc = nn.Linear(reduced_channels * (reduced_channels + 1) // 2, num_classes)
        randomize_(self, calibrate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.neck == 'gap':
            return self.fc(self.avgpool(x).flatten(1))
        x = self.layer_reduce_relu(self.layer_reduce_bn(self.layer_reduce(x)))
        sigma = reference_covariance(x)
        if self.neck == 'gcp':
            sigma = reference_isqrt(sigma)
        return self.fc(reference_triu(sigma))  # DropCov at inference: no normalisation


def randomize_(model: nn.Module, calibrate: bool = True) -> None:
    """Random BN parameters and statistics, so that swapped BN tensors would show.

    With ``calibrate``, the running statistics are measured on one random batch (after random BN
    scales are set), which keeps the activations of the deep, randomly initialised trunks, and so
    the logits, in the range of a trained model's; the classifier is then scaled to logits of
    standard deviation 5.
    """
    gen = torch.Generator().manual_seed(0)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        c = norm.num_features
        norm.weight.data = torch.rand(c, generator=gen) + 0.5
        norm.bias.data = torch.randn(c, generator=gen) * 0.1
        norm.running_mean = torch.randn(c, generator=gen) * 0.1
        norm.running_var = torch.rand(c, generator=gen) + 0.5
        norm.momentum = None  # a cumulative average: the statistics of the calibration batch
        norm.num_batches_tracked.zero_()
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            module.weight.data = torch.randn(module.weight.shape, generator=gen)
    if calibrate:
        with torch.no_grad():
            # Train mode normalises with the batch statistics that become the running ones, so
            # these logits are close to the eval-mode logits of the same batch.
            logits = model.train()(torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE, generator=gen))
            model.fc.weight.mul_(5 / logits.std())
            model.fc.bias.mul_(5 / logits.std())
    model.eval()
    for norm in norms:
        norm.momentum = 0.1
        norm.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1, ), generator=gen)))


_FEATURES_INDEX = {'conv1': 0, 'bn1': 1, 'layer1': 4, 'layer2': 5, 'layer3': 6, 'layer4': 7}


def fast_mpncov_key(name: str, finetune: bool = False) -> str:
    """Published module name -> fast-MPN-COV training name (trunk as an nn.Sequential). Its
    fine-tuning models (finetune.sh, --pretrained mpncovresnet) keep every child of the
    pretrained model but fc in that Sequential: the reduction conv at 8, its BN at 9."""
    head, rest = name.split('.', 1)
    if head in _FEATURES_INDEX:
        return f'features.module.{_FEATURES_INDEX[head]}.{rest}'
    if finetune and head in ('layer_reduce', 'layer_reduce_bn'):
        return f"features.module.{8 if head == 'layer_reduce' else 9}.{rest}"
    return {'layer_reduce': 'representation.conv_dr_block.0', 'fc': 'classifier',
            'layer_reduce_bn': 'representation.conv_dr_block.1'}[head] + '.' + rest


def save_published(model: PublishedResNet, path: str, layout: str) -> dict:
    """Save ``model`` in a published layout; returns its state dict with published names."""
    state_dict = model.state_dict()
    optimizer = dict(state={}, param_groups=[dict(lr=0.1, momentum=0.9, params=[0, 1])])
    if layout == 'cvpr20':
        checkpoint = dict(epoch=100, arch='resnet', best_acc1=torch.tensor(78.5),
                          optimizer=optimizer,
                          state_dict={'module.' + k: v for k, v in state_dict.items()})
    elif layout in ('fast-mpncov', 'fast-mpncov-finetune'):
        finetune = layout == 'fast-mpncov-finetune'
        checkpoint = dict(epoch=65, arch='mpncovresnet50', best_prec1=78.1, optimizer=optimizer,
                          state_dict={fast_mpncov_key(k, finetune): v
                                      for k, v in state_dict.items()})
    else:  # 'fast-mpncov-url' and 'torchvision': a bare state dict
        checkpoint = dict(state_dict)
    torch.save(checkpoint, path)
    return state_dict


# ---------------------------------------------------------------------------------------------
# mmpretrain side
# ---------------------------------------------------------------------------------------------
def build_config_model(repo_root: str, config: str, cfg_options: list) -> nn.Module:
    """Build the model of one of mmgcp's configs through mmpretrain's registry."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    cfg = Config.fromfile(osp.join(repo_root, config))
    cfg.merge_from_dict({k: int(v) for k, v in (o.split('=') for o in cfg_options)})
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def load_converted(repo_root: str, dst: str, meta: dict) -> nn.Module:
    from mmengine.runner import load_checkpoint

    model = build_config_model(repo_root, meta['config'], meta['cfg_options'])
    load_checkpoint(model, dst, map_location='cpu', strict=True)  # every key, every shape
    return model.eval()


EXACTNESS_CASES = [
    # depth, neck, layout, reduced channels
    (50, 'gcp', 'cvpr20', 256),
    (18, 'gcp', 'fast-mpncov', 256),
    (18, 'gcp', 'fast-mpncov-finetune', 256),  # classifier 32896 x NUM_CLASSES
    (18, 'gcp', 'fast-mpncov-url', 128),
    (18, 'dropcov', 'cvpr20', 256),
    (50, 'gap', 'torchvision', None),
]


@pytest.mark.parametrize('depth,neck,layout,reduced', EXACTNESS_CASES,
                         ids=[f'r{c[0]}-{c[1]}-{c[2]}' for c in EXACTNESS_CASES])
def test_converted_model_gives_published_logits(repo_root, tmp_path, depth, neck, layout,
                                                reduced):
    import mmpretrain  # noqa: F401  a dependency of mmgcp
    torch.manual_seed(depth)
    published = PublishedResNet(depth, neck, reduced or 256).eval()
    src, dst = str(tmp_path / 'published.pth'), str(tmp_path / 'out' / 'converted.pth')
    save_published(published, src, layout)

    meta = convert_checkpoint(src, dst)

    assert meta['source_format'] == layout
    assert (meta['depth'], meta['neck'], meta['reduced_channels']) == (depth, neck, reduced)
    assert meta['num_classes'] == NUM_CLASSES and meta['source_file'] == osp.abspath(src)
    expected_config = f'configs/pretrain/resnet{depth}-{neck}_8xb32_in1k.py'
    assert meta['config'] == expected_config and osp.isfile(osp.join(repo_root, expected_config))
    model = load_converted(repo_root, dst, meta)
    x = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        expected, logits = published(x), model(x, mode='tensor')
    max_diff = (logits - expected).abs().max().item()
    print(f'r{depth}-{neck}-{layout}: max |logit diff| = {max_diff:.3g} '
          f'(logits up to {expected.abs().max().item():.3g})')
    assert expected.abs().max() > 1e-2  # not trivially equal
    assert max_diff < 1e-4


def test_cli_backbone_only_and_config_check(repo_root, tmp_path, tool_runner):
    """The command line, validated against a config with the 128-d overrides; a trunk-only copy."""
    src = str(tmp_path / 'r18-gcp128.pth.tar')
    published = save_published(PublishedResNet(18, 'gcp', 128, calibrate=False), src, 'cvpr20')
    options = ['--cfg-options', 'model.neck.reduced_channels=128', 'model.head.in_channels=8256',
               f'model.head.num_classes={NUM_CLASSES}']
    full, trunk = str(tmp_path / 'full.pth'), str(tmp_path / 'trunk.pth')
    proc = tool_runner([TOOL, src, full, '--config', 'configs/pretrain/resnet18-gcp_8xb32_in1k.py']
                       + options)
    assert 'model.neck.reduced_channels=128 model.head.in_channels=8256' in proc.stdout
    # Only the trunk is compared with backbone_only: the config's 256-d neck does not matter.
    convert_checkpoint(src, trunk, fmt='cvpr20', backbone_only=True,
                       config=osp.join(repo_root, 'configs/pretrain/resnet18-gcp_8xb32_in1k.py'))

    converted = torch.load(full, weights_only=True)
    assert converted['meta']['cfg_options'] == options[1:]
    assert converted['meta']['source_meta']['best_acc1'] == pytest.approx(78.5)
    assert 'optimizer' in converted['meta']['source_meta']['dropped']
    state_dict = converted['state_dict']
    assert torch.equal(state_dict['neck.reduction.conv.weight'], published['layer_reduce.weight'])
    assert torch.equal(state_dict['neck.reduction.bn.running_var'],
                       published['layer_reduce_bn.running_var'])
    assert torch.equal(state_dict['head.fc.weight'], published['fc.weight'])
    backbone = torch.load(trunk, weights_only=True)
    assert backbone['meta']['backbone_only'] is True
    assert set(backbone['state_dict']) == {k for k in state_dict if k.startswith('backbone.')}


# ---------------------------------------------------------------------------------------------
# Downstream: the trunk of a converted checkpoint loads into mmdet's and mmseg's ResNet.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def r50_gcp_checkpoints(tmp_path_factory):
    """A ResNet-50 GCP checkpoint in the CVPR'20 layout and its conversions (full, trunk)."""
    folder = tmp_path_factory.mktemp('r50_gcp')
    src = str(folder / 'r50-gcp.pth.tar')
    published = save_published(PublishedResNet(50, 'gcp', 256, calibrate=False), src, 'cvpr20')
    outputs = dict(full=str(folder / 'full.pth'), trunk=str(folder / 'trunk.pth'))
    convert_checkpoint(src, outputs['full'])
    convert_checkpoint(src, outputs['trunk'], backbone_only=True)
    return published, outputs


def assert_trunk_arrived(backbone: nn.Module, published: dict) -> None:
    """Every trunk tensor of the source, and nothing else, is in the backbone, value by value."""
    loaded = backbone.state_dict()
    trunk = {k: v for k, v in published.items()
             if not k.startswith(('layer_reduce', 'eca_layer', 'fc.'))}
    assert set(loaded) == set(trunk), (sorted(set(loaded) ^ set(trunk))[:8])
    differing = [k for k in trunk if not torch.equal(loaded[k], trunk[k])]
    assert not differing, f'{len(differing)} tensors did not arrive, e.g. {differing[:8]}'


def _pretrained(path: str) -> dict:
    return dict(type='Pretrained', checkpoint=path, prefix='backbone.')


def test_mmdet_resnet_loads_converted_checkpoint(r50_gcp_checkpoints):
    import mmdet  # noqa: F401  a dependency of mmgcp
    from mmdet.models.backbones import ResNet

    published, outputs = r50_gcp_checkpoints
    backbone = ResNet(depth=50, init_cfg=_pretrained(outputs['full']))
    backbone.init_weights()
    assert_trunk_arrived(backbone, published)


def test_mmseg_resnet_v1b_loads_converted_trunk(r50_gcp_checkpoints):
    import mmseg  # noqa: F401  a dependency of mmgcp
    from mmseg.models.backbones import ResNet

    published, outputs = r50_gcp_checkpoints
    backbone = ResNet(depth=50, deep_stem=False, init_cfg=_pretrained(outputs['trunk']))
    backbone.init_weights()
    assert_trunk_arrived(backbone, published)


def _transfer_configs():
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    # Detection and segmentation configs: configs/<algorithm>/<algorithm>_r50-<pretraining>_...
    # GCP variants only: their GAP/DropCov twins build the same backbone with another checkpoint.
    found = sorted(glob.glob(osp.join(root, 'configs', '*', '*_r50-gcp*.py')))
    assert found, 'no ResNet-50 GCP transfer configs found under configs/'
    return [osp.relpath(p, root) for p in found]


@pytest.mark.slow
@pytest.mark.parametrize('config', _transfer_configs())
def test_transfer_config_backbones_load_converted_trunk(repo_root, r50_gcp_checkpoints, config):
    """The detection / segmentation configs' backbones take the converted ResNet-50 trunk."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    cfg = Config.fromfile(osp.join(repo_root, config))
    backbone_cfg = cfg.model.backbone
    assert backbone_cfg.get('depth') == 50, f'{config} is named r50 but builds another depth'

    published, outputs = r50_gcp_checkpoints
    backbone_cfg.init_cfg = _pretrained(outputs['trunk'])
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    assert_trunk_arrived(backbone, published)


# ---------------------------------------------------------------------------------------------
# Bad input: an error that names the file and what was expected vs found; nothing written.
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def r18_gcp128(tmp_path_factory):
    """A ResNet-18 GCP d=128 checkpoint in the CVPR'20 layout: (path, published state dict)."""
    src = str(tmp_path_factory.mktemp('r18_gcp128') / 'r18-gcp128.pth.tar')
    return src, save_published(PublishedResNet(18, 'gcp', 128, calibrate=False), src, 'cvpr20')


def _convert_fails(src: str, folder, match: list, **kwargs) -> str:
    dst = str(folder / 'out' / 'converted.pth')
    with pytest.raises(CheckpointConversionError) as info:
        convert_checkpoint(src, dst, **kwargs)
    message = str(info.value)
    assert src in message
    for text in match:
        assert text in message, message
    assert not osp.exists(dst)
    leftovers = os.listdir(osp.dirname(dst)) if osp.isdir(osp.dirname(dst)) else []
    assert not leftovers, leftovers
    return message


def test_unknown_layout(tmp_path):
    src = str(tmp_path / 'vit.pth')
    torch.save({'blocks.0.attn.qkv.weight': torch.zeros(3, 3), 'cls_token': torch.zeros(1)}, src)
    _convert_fails(src, tmp_path, ['unknown checkpoint layout', 'cvpr20', 'fast-mpncov',
                                   'blocks.0.attn.qkv.weight'])


def test_no_resnet_is_an_unknown_layout(tmp_path):
    # torchvision's MobileNetV2 also has 'features.<idx>' keys, but no ResNet stem or stages.
    src = str(tmp_path / 'mobilenet_v2.pth')
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), src)
    message = _convert_fails(src, tmp_path, [
        'unknown checkpoint layout', 'cvpr20', 'fast-mpncov-finetune', 'torchvision',
        'features.0.0.weight'])
    assert 'cannot tell the ResNet depth' not in message


def test_truncated_file(tmp_path, r18_gcp128):
    src = str(tmp_path / 'truncated.pth')
    with open(r18_gcp128[0], 'rb') as f:
        data = f.read()
    with open(src, 'wb') as f:
        f.write(data[:len(data) // 2])
    _convert_fails(src, tmp_path, ['truncated', f'{len(data) // 2} bytes'])


def test_depth_mismatch_with_config(repo_root, tmp_path, r18_gcp128):
    import mmpretrain  # noqa: F401  a dependency of mmgcp
    config = osp.join(repo_root, 'configs/pretrain/resnet50-gcp_8xb32_in1k.py')
    message = _convert_fails(r18_gcp128[0], tmp_path, [
        config, 'ResNet-18 GCP d=128', '(backbone type=ResNet, depth=50)',
        'backbone.layer1.0.conv1.weight: expected (64, 64, 1, 1) found (64, 64, 3, 3)',
        'neck.reduction.conv.weight: expected (256, 2048, 1, 1) found (128, 512, 1, 1)',
        'backbone.layer1.0.conv3.weight'
    ], config=config)
    assert 'lacks' in message and 'shape mismatches' in message


def test_width_mismatch_with_config(repo_root, tmp_path, r18_gcp128):
    import mmpretrain  # noqa: F401  a dependency of mmgcp
    config = osp.join(repo_root, 'configs/pretrain/resnet18-gcp_8xb32_in1k.py')
    _convert_fails(r18_gcp128[0], tmp_path, [
        'neck.reduction.conv.weight: expected (256, 512, 1, 1) found (128, 512, 1, 1)',
        f'head.fc.weight: expected ({NUM_CLASSES}, 32896) found ({NUM_CLASSES}, 8256)'
    ], config=config, cfg_options={'model.head.num_classes': NUM_CLASSES})


def test_inconsistent_or_extra_keys(tmp_path, r18_gcp128):
    state_dict = {'module.' + k: v for k, v in r18_gcp128[1].items()}
    state_dict['module.fc.weight'] = torch.zeros(NUM_CLASSES, 32896)  # fc of d=256, reduce d=128
    state_dict['module.layer_reduce_relu.weight'] = torch.zeros(1)
    del state_dict['module.layer2.0.downsample.0.weight']
    src = str(tmp_path / 'inconsistent.pth')
    torch.save(dict(state_dict=state_dict), src)
    _convert_fails(src, tmp_path, [
        f'module.fc.weight: expected ({NUM_CLASSES}, 8256) found ({NUM_CLASSES}, 32896)',
        'unexpected keys (1): module.layer_reduce_relu.weight',
        'missing keys (1, published names): layer2.0.downsample.0.weight'
    ])


def test_unknown_depth(tmp_path, r18_gcp128):
    state_dict = {k: v for k, v in r18_gcp128[1].items() if not k.startswith('layer3.1.')}
    src = str(tmp_path / 'odd.pth')
    torch.save(state_dict, src)
    _convert_fails(src, tmp_path, ['cannot tell the ResNet depth', '(2, 2, 1, 2)',
                                   'ResNet-18: basic (2, 2, 2, 2)'])


def test_forced_format_must_match(tmp_path, r18_gcp128):
    _convert_fails(r18_gcp128[0], tmp_path, ['--format torchvision', "'cvpr20' layout"],
                   fmt='torchvision')


def test_timm_args_namespace_loads_without_trust(tmp_path, r18_gcp128):
    # timm-based training scripts save their argparse arguments next to the weights.
    src = str(tmp_path / 'with_args.pth')
    torch.save(dict(state_dict=r18_gcp128[1], args=argparse.Namespace(arch='resnet18')), src)
    meta = convert_checkpoint(src, str(tmp_path / 'out.pth'))
    assert meta['source_meta']['dropped'] == ['args']


@pytest.mark.slow
def test_crafted_source_is_refused_unless_trusted_for_one_invocation(tmp_path, r18_gcp128,
                                                                    tool_runner,
                                                                    crafted_checkpoint):
    src, marker = crafted_checkpoint('crafted.pth.tar', dict(state_dict=r18_gcp128[1]))
    dst = str(tmp_path / 'out' / 'converted.pth')
    for tool in (TOOL, DROPCOV_VIT_TOOL):
        proc = tool_runner([tool, src, dst], check=False)
        assert proc.returncode != 0
        assert src in proc.stderr and crafted_checkpoint.global_name in proc.stderr
        assert '--trust-checkpoint' in proc.stderr and 'Nothing was written' in proc.stderr
        assert not marker.exists() and not osp.exists(dst)
    # Trusted for this invocation: fully unpickled, so the file's command runs.
    tool_runner([TOOL, src, dst, '--trust-checkpoint'])
    assert marker.exists() and osp.isfile(dst)
    marker.unlink()
    os.remove(dst)
    proc = tool_runner([TOOL, src, dst, '--allow-pickle'])  # the deprecated name still works
    assert '--allow-pickle is deprecated' in proc.stderr and marker.exists()
    marker.unlink()
    os.remove(dst)
    # The next invocation without the flag refuses again: nothing persisted.
    proc = tool_runner([TOOL, src, dst], check=False)
    assert proc.returncode != 0 and not marker.exists() and not osp.exists(dst)


def test_dropcov_vit_converter_names_the_resnet_converter(tmp_path):
    from mmgcp.converters import dropcov_vit
    src = str(tmp_path / 'r18-dropcov.pth.tar')
    save_published(PublishedResNet(18, 'dropcov', calibrate=False), src, 'cvpr20')
    dst = tmp_path / 'out.pth'
    with pytest.raises(CheckpointConversionError) as info:
        dropcov_vit.convert_checkpoint(src, str(dst))
    message = str(info.value)
    assert 'a ResNet checkpoint' in message
    assert 'convert it with tools/model_converters/gcp2mmpretrain.py' in message
    assert not dst.exists()


def test_old_checkpoints_without_bn_counters():
    state_dict = {k: v for k, v in PublishedResNet(18, 'gap', calibrate=False).state_dict().items()
                  if not k.endswith('num_batches_tracked')}
    converted, info = convert_state_dict(state_dict)
    assert info['added_num_batches_tracked'] == 20
    assert converted['backbone.layer4.1.bn2.num_batches_tracked'] == 0
    assert info['config'] == 'configs/pretrain/resnet18-gap_8xb32_in1k.py'


def test_cli_failure_writes_nothing(tmp_path, tool_runner):
    src = str(tmp_path / 'empty.pth')
    with open(src, 'wb') as f:
        f.write(b'PK\x03\x04 not really a zip')
    dst = str(tmp_path / 'out.pth')
    proc = tool_runner([TOOL, src, dst], check=False)
    assert proc.returncode != 0
    assert src in proc.stderr and 'Nothing was written' in proc.stderr
    assert os.listdir(tmp_path) == ['empty.pth']
