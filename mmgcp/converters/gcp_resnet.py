# Copyright (c) mmgcp contributors. All rights reserved.
"""Convert the ResNet checkpoints published with the GCP papers into mmpretrain checkpoints.

Source layouts (docs/checkpoints.md), told apart by their keys:

- ``cvpr20``: CVPR'20 GCP and NeurIPS'22 DropCov releases. ``{'state_dict': ..., 'epoch', 'arch',
  'best_acc1', 'optimizer'}``, keys ``module.``-prefixed: ``conv1``, ``bn1``, ``layer1..4``
  (torchvision names), ``layer_reduce``, ``layer_reduce_bn``, ``fc``; DropCov adds ``eca_layer``.
- ``fast-mpncov``: fast-MPN-COV's training checkpoints: ``features.module.<idx>`` (0 conv1, 1 bn1,
  4..7 layer1..4), ``representation.conv_dr_block.{0,1}`` (reduction conv, BN), ``classifier``.
- ``fast-mpncov-finetune``: fast-MPN-COV fine-tuning checkpoints (``finetune.sh``, ``--pretrained``
  ``mpncovresnet``): the pretrained model's children up to the classifier as
  ``features.module.<idx>`` (0 conv1, 1 bn1, 4..7 layer1..4, 8 the reduction conv, 9 its BN), a
  parameter-free iSQRT-COV representation and ``classifier`` (K x d(d+1)/2, e.g. 32896 x K).
- ``fast-mpncov-url``: fast-MPN-COV's released weights: the ``cvpr20`` names without ``module.``.
- ``torchvision``: a torchvision ResNet state dict (GAP baselines).

Every layout is first renamed to the published module names (``conv1``, ..., ``layer_reduce``,
``layer_reduce_bn``, ``eca_layer.conv``, ``fc``), checked key by key and shape by shape against the
ResNet that the shapes imply, then renamed to mmgcp's configs: ``backbone.*`` (mmpretrain's
``ResNet``, torchvision names), ``neck.reduction.conv``, ``neck.reduction.bn``,
``neck.attention.conv`` (:class:`GCPNeck` / :class:`DropCovNeck`) and ``head.fc``
(``LinearClsHead``).
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import torch

from .checkpoint_io import (
    CheckpointConversionError,
    check_and_save,
    find_state_dict,
    format_keys,
    load_source_checkpoint,
    raise_if_inconsistent,
    refuse_same_file,
)

#: Source layouts and how to recognise them.
SOURCE_FORMATS = OrderedDict([
    ('cvpr20', "CVPR'20 GCP / DropCov release: 'module.'-prefixed conv1, bn1, layer1..4, "
     'layer_reduce, layer_reduce_bn, fc (DropCov: eca_layer)'),
    ('fast-mpncov', "fast-MPN-COV training checkpoint: 'features.module.<idx>', "
     "'representation.conv_dr_block.{0,1}', 'classifier'"),
    ('fast-mpncov-finetune', "fast-MPN-COV fine-tuning checkpoint (finetune.sh): "
     "'features.module.<idx>' with the reduction at 8 (conv) and 9 (BN), 'classifier' of "
     'd(d+1)/2 inputs'),
    ('fast-mpncov-url', 'fast-MPN-COV released weights: conv1, bn1, layer1..4, layer_reduce, '
     "layer_reduce_bn, fc without 'module.'"),
    ('torchvision', "torchvision ResNet (GAP): conv1, bn1, layer1..4, fc without 'module.'"),
])

#: depth -> (block type, blocks per stage), for the depths mmgcp has configs for.
RESNET_ARCHS = OrderedDict([
    (18, ('basic', (2, 2, 2, 2))),
    (34, ('basic', (3, 4, 6, 3))),
    (50, ('bottleneck', (3, 4, 6, 3))),
    (101, ('bottleneck', (3, 4, 23, 3))),
])

# Positions of the trunk modules in fast-MPN-COV's nn.Sequential (2 is ReLU, 3 is max-pool); its
# fine-tuning models keep the pretrained reduction in the same Sequential (10 is its ReLU).
_FEATURES_INDEX = {'0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2', '6': 'layer3',
                   '7': 'layer4', '8': 'layer_reduce', '9': 'layer_reduce_bn'}
# A ResNet stem and first stage in such a Sequential: conv1 at 0, bn1 at 1, layer1 blocks at 4.
_FEATURES_RESNET = (re.compile(r'features\.(?:module\.)?0\.weight$'),
                    re.compile(r'features\.(?:module\.)?1\.running_mean$'),
                    re.compile(r'features\.(?:module\.)?4\.0\.conv1\.weight$'))
_FEATURES_REDUCE = re.compile(r'features\.(?:module\.)?8\.weight$')
# Published name prefix -> mmpretrain name prefix; everything else is the trunk.
_HEAD_RENAMES = (('layer_reduce_bn.', 'neck.reduction.bn.'),
                 ('layer_reduce.', 'neck.reduction.conv.'),
                 ('eca_layer.conv.', 'neck.attention.conv.'),
                 ('fc.', 'head.fc.'))
_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
# Entries of a source checkpoint worth keeping in ``meta``.
_SOURCE_META_KEYS = ('epoch', 'arch', 'best_acc1', 'best_prec1')


def unwrap_state_dict(checkpoint: Any, src: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Find the state dict in a loaded checkpoint.

    Args:
        checkpoint (Any): What :func:`load_source_checkpoint` returned.
        src (str): The source file, named in errors.

    Returns:
        tuple: The state dict and ``source_meta`` (``epoch``, ``arch``, ``best_acc1`` when
        present, the wrapper key, and the top-level entries that were dropped).
    """
    state_dict, wrapper, source_meta = find_state_dict(checkpoint, src,
                                                       meta_keys=_SOURCE_META_KEYS)
    if wrapper:
        source_meta['wrapper'] = wrapper
        dropped = [k for k in checkpoint if k != wrapper and k not in source_meta]
        if dropped:
            source_meta['dropped'] = dropped
    return state_dict, source_meta


def detect_format(keys: List[str], src: str = '<state_dict>') -> str:
    """Tell the source layout from the keys of its state dict.

    Args:
        keys (list[str]): Keys of the state dict.
        src (str): The source file, named in errors. Defaults to ``'<state_dict>'``.

    Returns:
        str: One of :data:`SOURCE_FORMATS`.
    """
    prefixed = all(k.startswith('module.') for k in keys)
    names = [k[len('module.'):] for k in keys] if prefixed else keys
    if all(any(p.match(k) for k in names) for p in _FEATURES_RESNET):
        if any(_FEATURES_REDUCE.match(k) for k in names):
            return 'fast-mpncov-finetune'
        return 'fast-mpncov'
    if 'conv1.weight' in names and any(k.startswith('layer1.') for k in names):
        if prefixed:
            return 'cvpr20'
        return 'fast-mpncov-url' if 'layer_reduce.weight' in names else 'torchvision'
    layouts = '\n'.join(f'  {name}: {desc}' for name, desc in SOURCE_FORMATS.items())
    raise CheckpointConversionError(
        f'{src}: unknown checkpoint layout. Expected one of\n{layouts}\n'
        f'found {len(keys)} keys, the first: {format_keys(keys)}.')


def to_published_names(state_dict: Dict[str, torch.Tensor],
                       fmt: str) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, str]]:
    """Rename a state dict of layout ``fmt`` to the published module names.

    Args:
        state_dict (dict[str, Tensor]): The source weights.
        fmt (str): One of :data:`SOURCE_FORMATS`.

    Returns:
        tuple: The renamed state dict (``conv1.weight``, ``layer_reduce.weight``, ...) and the map
        from each new name to its source key, for error messages. Keys no rule covers are kept as
        they are (they are reported as unexpected later).
    """
    renamed: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    source_keys = {}
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if fmt in ('fast-mpncov', 'fast-mpncov-finetune'):
            match = re.match(r'features\.(?:module\.)?(\d+)\.(.+)$', name)
            if match and match.group(1) in _FEATURES_INDEX:
                name = f'{_FEATURES_INDEX[match.group(1)]}.{match.group(2)}'
            for old, new in (('representation.conv_dr_block.0.', 'layer_reduce.'),
                             ('representation.conv_dr_block.1.', 'layer_reduce_bn.'),
                             ('classifier.', 'fc.')):
                if name.startswith(old):
                    name = new + name[len(old):]
        renamed[name] = value
        source_keys[name] = key
    return renamed, source_keys


def infer_architecture(published: Dict[str, torch.Tensor], src: str = '<state_dict>') -> dict:
    """Read depth, neck, reduction width and classes off the tensor shapes.

    Args:
        published (dict[str, Tensor]): Weights with published names.
        src (str): The source file, named in errors. Defaults to ``'<state_dict>'``.

    Returns:
        dict: ``depth``, ``block``, ``neck`` (``'gcp'``, ``'dropcov'`` or ``'gap'``),
        ``reduced_channels`` (None for GAP), ``attention_kernel`` (DropCov only) and
        ``num_classes`` (None when there is no ``fc``).
    """
    blocks = tuple(
        len({k.split('.')[1] for k in published if k.startswith(f'layer{stage}.')})
        for stage in range(1, 5))
    block = 'bottleneck' if 'layer1.0.conv3.weight' in published else 'basic'
    depth = next((d for d, arch in RESNET_ARCHS.items() if arch == (block, blocks)), None)
    if depth is None:
        known = ', '.join(f'ResNet-{d}: {b} {n}' for d, (b, n) in RESNET_ARCHS.items())
        raise CheckpointConversionError(
            f'{src}: cannot tell the ResNet depth: expected one of {known} blocks per stage; '
            f'found {block} blocks {blocks}.')
    arch = dict(depth=depth, block=block, neck='gap', reduced_channels=None,
                attention_kernel=None, num_classes=None)
    if 'layer_reduce.weight' in published:
        arch['reduced_channels'] = int(published['layer_reduce.weight'].shape[0])
        arch['neck'] = 'gcp'
    if 'eca_layer.conv.weight' in published:
        arch['attention_kernel'] = int(published['eca_layer.conv.weight'].shape[-1])
        arch['neck'] = 'dropcov'
        if arch['reduced_channels'] is None:
            raise CheckpointConversionError(
                f'{src}: has a DropCov eca_layer but no layer_reduce; mmgcp converts DropCov '
                'ResNets with a 1x1 reduction (layer_reduce, layer_reduce_bn) only.')
    if 'fc.weight' in published:
        arch['num_classes'] = int(published['fc.weight'].shape[0])
    return arch


def expected_shapes(arch: dict) -> 'OrderedDict[str, Tuple[int, ...]]':
    """Every key and shape of the published model that ``arch`` describes.

    Args:
        arch (dict): As returned by :func:`infer_architecture`.

    Returns:
        OrderedDict[str, tuple[int]]: Published names in module order (trunk, reduction,
        attention, classifier) to shapes.
    """
    shapes: 'OrderedDict[str, Tuple[int, ...]]' = OrderedDict()

    def conv(name, out_ch, in_ch, size):
        shapes[f'{name}.weight'] = (out_ch, in_ch, size, size)

    def bn(name, channels):
        for param in _BN_PARAMS:
            shapes[f'{name}.{param}'] = () if param == 'num_batches_tracked' else (channels, )

    block, blocks = RESNET_ARCHS[arch['depth']]
    expansion = 4 if block == 'bottleneck' else 1
    conv('conv1', 64, 3, 7)
    bn('bn1', 64)
    in_ch = 64
    for stage, num_blocks in enumerate(blocks, start=1):
        planes = 64 * 2**(stage - 1)
        for index in range(num_blocks):
            prefix = f'layer{stage}.{index}'
            if block == 'bottleneck':
                convs = [(planes, in_ch, 1), (planes, planes, 3), (planes * expansion, planes, 1)]
            else:
                convs = [(planes, in_ch, 3), (planes, planes, 3)]
            for i, (out_ch, conv_in, size) in enumerate(convs, start=1):
                conv(f'{prefix}.conv{i}', out_ch, conv_in, size)
                bn(f'{prefix}.bn{i}', out_ch)
            # torchvision (and the papers' code) downsample in the first block of a stage whenever
            # the stride or the width changes; the stride-1 layer4 of GCP still changes width.
            if index == 0 and (stage > 1 or in_ch != planes * expansion):
                conv(f'{prefix}.downsample.0', planes * expansion, in_ch, 1)
                bn(f'{prefix}.downsample.1', planes * expansion)
            in_ch = planes * expansion
    features = in_ch
    if arch['reduced_channels'] is not None:
        reduced = arch['reduced_channels']
        conv('layer_reduce', reduced, in_ch, 1)
        bn('layer_reduce_bn', reduced)
        features = reduced * (reduced + 1) // 2
    if arch['attention_kernel'] is not None:
        shapes['eca_layer.conv.weight'] = (1, 1, arch['attention_kernel'])
    if arch['num_classes'] is not None:
        shapes['fc.weight'] = (arch['num_classes'], features)
        shapes['fc.bias'] = (arch['num_classes'], )
    return shapes


def describe(arch: dict) -> str:
    """``'ResNet-50 GCP d=256, 1000 classes'``: an architecture in words."""
    neck = {'gcp': 'GCP', 'dropcov': 'DropCov', 'gap': 'GAP'}[arch['neck']]
    text = f"ResNet-{arch['depth']} {neck}"
    if arch['reduced_channels'] is not None:
        text += f" d={arch['reduced_channels']}"
    if arch['num_classes'] is None:
        return text + ', no classifier'
    return text + f", {arch['num_classes']} classes"


def suggested_config(arch: dict) -> Tuple[str, List[str]]:
    """The mmgcp config for an architecture and the ``--cfg-options`` it needs.

    Args:
        arch (dict): As returned by :func:`infer_architecture`.

    Returns:
        tuple[str, list[str]]: Config path relative to the repository root, and ``key=value``
        overrides (empty for the published default: d=256, 1000 classes, kernel 3).
    """
    config = f"configs/pretrain/resnet{arch['depth']}-{arch['neck']}_8xb32_in1k.py"
    options = []
    reduced = arch['reduced_channels']
    if reduced is not None and reduced != 256:
        options += [f'model.neck.reduced_channels={reduced}',
                    f'model.head.in_channels={reduced * (reduced + 1) // 2}']
    if arch['attention_kernel'] not in (None, 3):
        options.append(f"model.neck.attention_kernel={arch['attention_kernel']}")
    if arch['num_classes'] not in (None, 1000):
        options.append(f"model.head.num_classes={arch['num_classes']}")
    return config, options


def to_mmpretrain_name(published_name: str) -> str:
    """Published name to mmgcp's: ``layer_reduce.weight`` -> ``neck.reduction.conv.weight``."""
    for old, new in _HEAD_RENAMES:
        if published_name.startswith(old):
            return new + published_name[len(old):]
    return 'backbone.' + published_name


def convert_state_dict(state_dict: Dict[str, torch.Tensor], fmt: str = 'auto',
                       src: str = '<state_dict>') -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Convert a published GCP / DropCov / GAP ResNet state dict to mmgcp's config names.

    Args:
        state_dict (dict[str, Tensor]): The source weights (already unwrapped).
        fmt (str): ``'auto'`` or one of :data:`SOURCE_FORMATS`; a given layout must match the
            detected one. Defaults to ``'auto'``.
        src (str): The source file, named in errors. Defaults to ``'<state_dict>'``.

    Returns:
        tuple: The converted state dict (``backbone.*``, ``neck.*``, ``head.*``) and a dict that
        describes the source: ``source_format``, the keys of :func:`infer_architecture`,
        ``config`` and ``cfg_options`` (see :func:`suggested_config`) and
        ``added_num_batches_tracked``.

    Raises:
        CheckpointConversionError: Unknown layout, a layout other than ``fmt``, an unknown depth,
            or keys and shapes that do not form the detected architecture.
    """
    if fmt != 'auto' and fmt not in SOURCE_FORMATS:
        raise CheckpointConversionError(
            f"format '{fmt}' is not known; choose 'auto' or one of {list(SOURCE_FORMATS)}.")
    detected = detect_format(list(state_dict), src)
    if fmt not in ('auto', detected):
        raise CheckpointConversionError(
            f"{src}: --format {fmt} expects {SOURCE_FORMATS[fmt]}; found the '{detected}' layout "
            f'({SOURCE_FORMATS[detected]}); first keys: {format_keys(list(state_dict))}.')
    published, source_keys = to_published_names(state_dict, detected)
    arch = infer_architecture(published, src)
    shapes = expected_shapes(arch)

    unexpected = [source_keys[k] for k in published if k not in shapes]
    missing = [k for k in shapes if k not in published and not k.endswith('num_batches_tracked')]
    mismatched = [
        f'{source_keys[k]}: expected {shape} found {tuple(published[k].shape)}'
        for k, shape in shapes.items() if k in published and tuple(published[k].shape) != shape
    ]
    raise_if_inconsistent(f"{src}: not a consistent '{detected}' checkpoint of the "
                          f'{describe(arch)} that its shapes imply:', unexpected, missing,
                          mismatched, missing_label=', published names')

    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    added = 0
    for key in shapes:
        if key in published:
            converted[to_mmpretrain_name(key)] = published[key]
        else:  # checkpoints from before PyTorch 0.4.1 have no BN step counters
            converted[to_mmpretrain_name(key)] = torch.tensor(0, dtype=torch.long)
            added += 1
    config, cfg_options = suggested_config(arch)
    info = dict(source_format=detected, **arch, config=config, cfg_options=cfg_options,
                added_num_batches_tracked=added)
    return converted, info


def convert_checkpoint(src: str, dst: str, fmt: str = 'auto', backbone_only: bool = False,
                       config: Optional[str] = None, cfg_options: Optional[dict] = None,
                       trust: Optional[bool] = None) -> dict:
    """Convert a published checkpoint file into an mmpretrain checkpoint file.

    Nothing is written unless the whole conversion (and the optional check against ``config``)
    succeeds, and then ``dst`` appears complete at once.

    Args:
        src (str): Source checkpoint (any layout of :data:`SOURCE_FORMATS`).
        dst (str): Destination; gets ``{'state_dict': ..., 'meta': ...}``.
        fmt (str): ``'auto'`` or the expected source layout. Defaults to ``'auto'``.
        backbone_only (bool): Write only the ``backbone.*`` keys, for detection and segmentation
            configs (``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``).
            Defaults to False.
        config (str, optional): Build this config's model and require the converted keys and
            shapes to match it (only its ``backbone.*`` keys with ``backbone_only``).
            Defaults to None.
        cfg_options (dict, optional): Overrides of ``config``. Defaults to None.
        trust (bool, optional): Load a source that needs Python types outside mmgcp's
            allowlist (it can run code: only for files you trust). None (default): trusted when
            ``MMGCP_TRUST_CHECKPOINT=1`` (``--trust-checkpoint``).

    Returns:
        dict: The ``meta`` written to ``dst``.
    """
    refuse_same_file(src, dst)
    checkpoint = load_source_checkpoint(src, trust=trust)
    state_dict, source_meta = unwrap_state_dict(checkpoint, src)
    converted, info = convert_state_dict(state_dict, fmt=fmt, src=src)
    return check_and_save(
        converted, info, src, dst, converter='tools/model_converters/gcp2mmpretrain.py',
        source_format_description=SOURCE_FORMATS[info['source_format']],
        source_meta=source_meta, describe=describe, backbone_only=backbone_only, config=config,
        cfg_options=cfg_options)
