# Copyright (c) mmgcp contributors. All rights reserved.
"""Convert the published DropCov ViT checkpoints (``Deit_drop_{Tiny,Small,Base}``) to mmpretrain.

Source: timm-style checkpoints of ``mingzeG/DropCov``'s ``Transformers/main.py``: a dict with
``state_dict`` and, with the default model EMA, ``state_dict_ema`` (also ``epoch``, ``arch``,
``optimizer``, ``args``, ``metric``), or a bare state dict; keys optionally ``module.``-prefixed:

- ``visual_tokens.tokens.{stem.0, stage.<i>.denselayer<j>.conv{1,2}, stage.<i>.{norm,conv},
  transition}``: the DenseNet-style token embedding;
- ``cls_token``, ``pos_embed`` (the fixed sinusoid table), ``blocks.<i>.{norm1, attn.qkv,
  attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``;
- ``classifier.representation.wr`` (``3 x heads x c`` rows), ``classifier.visual_fc``,
  ``classifier.cls_fc``.

Output: ``backbone.*`` of :class:`mmgcp.models.DenseTokenViT` and ``head.*`` of
:class:`mmgcp.models.MultiHeadCovClsHead`, for ``configs/pretrain/densetok-vit-{tiny,small,base}-
dropcov_8xb128_in1k.py``.
"""
import math
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

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
from .gcp_resnet import detect_format as detect_resnet_format

SOURCE_FORMAT = ('dropcov-vit', "DropCov's Transformers/main.py (timm): visual_tokens.tokens.*, "
                 'cls_token, pos_embed, blocks.<i>.*, norm, classifier.{representation.wr, '
                 'visual_fc, cls_fc}')
#: Which weights of a checkpoint to convert.
WEIGHTS = ('auto', 'ema', 'model')
#: Published sizes: (width, depth, MLP hidden width) -> (name, attention heads).
PUBLISHED_ARCHS = OrderedDict([
    ((240, 12, 600), ('tiny', 4)),
    ((384, 12, 1536), ('small', 6)),
    ((768, 12, 3072), ('base', 12)),
])
_STEM_CHANNELS = 64
_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
# Published prefix -> mmgcp prefix, first match wins.
_RENAMES = (('visual_tokens.tokens.transition.', 'backbone.token_embed.proj.'),
            ('visual_tokens.tokens.', 'backbone.token_embed.'),
            ('blocks.', 'backbone.layers.'),
            ('classifier.representation.wr.', 'head.proj.'),
            ('classifier.visual_fc.', 'head.fc_cov.'),
            ('classifier.cls_fc.', 'head.fc_cls.'))
_SOURCE_META_KEYS = ('epoch', 'arch', 'metric', 'version')


def select_state_dict(checkpoint: Any, weights: str = 'auto',
                      src: str = '<checkpoint>') -> Tuple[Dict[str, torch.Tensor], dict]:
    """Pick the weights to convert from a loaded checkpoint.

    Args:
        checkpoint (Any): What ``torch.load`` returned.
        weights (str): ``'ema'`` (``state_dict_ema``), ``'model'`` (``state_dict``, ``model`` or a
            bare state dict) or ``'auto'``: the EMA weights when present, as the published
            evaluation (``--model-ema`` is on by default) reads them. Defaults to ``'auto'``.
        src (str): The source file, named in errors. Defaults to ``'<checkpoint>'``.

    Returns:
        tuple: The state dict (``module.`` removed) and ``source_meta``.
    """
    if weights not in WEIGHTS:
        raise CheckpointConversionError(f"weights must be one of {WEIGHTS}, got '{weights}'.")
    has_ema = isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict_ema'), dict)
    if weights == 'ema' and not has_ema:
        raise CheckpointConversionError(
            f'{src}: has no "state_dict_ema" (top-level keys: {format_keys(list(checkpoint))}); '
            "convert its model weights with --weights model.")
    wrappers = ('state_dict', 'model') if weights == 'model' else ('state_dict_ema', 'state_dict',
                                                                    'model')
    state_dict, wrapper, source_meta = find_state_dict(checkpoint, src, wrappers,
                                                       _SOURCE_META_KEYS)
    if all(k.startswith('module.') for k in state_dict):
        state_dict = OrderedDict((k[len('module.'):], v) for k, v in state_dict.items())
    return state_dict, dict(weights=wrapper or 'state dict', **source_meta)


def detect_layout(keys, src: str = '<state_dict>') -> None:
    """Raise unless the keys are a DropCov ViT's; name the layout found when it is another one."""
    keys = list(keys)
    names = set(keys)
    if {'visual_tokens.tokens.stem.0.weight', 'cls_token', 'blocks.0.attn.qkv.weight',
            'classifier.representation.wr.weight'} <= names:
        return
    if any(k.startswith('patch_embed.') for k in keys):
        found = ("a timm / DeiT ViT (patch_embed: 16 x 16 patch projection), not DropCov's "
                 'DenseNet-token ViT; mmgcp trains DeiT-S with '
                 'configs/pretrain/deit-small-{gap,dropcov}_8xb128_in1k.py and mmpretrain converts '
                 'DeiT checkpoints (mmpretrain tools/model_converters/deit2mmpretrain.py)')
    elif any(k.startswith(('backbone.', 'head.')) for k in keys):
        found = 'already an mmpretrain-style checkpoint (backbone.*, head.*): nothing to convert'
    elif 'visual_tokens.tokens.stem.0.weight' in names:
        found = ('a DenseNet-token ViT without the MultiHeadPooling head '
                 '(classifier.representation.wr): not a DropCov ViT')
    else:
        found = _resnet_layout(keys) or 'an unknown layout'
    raise CheckpointConversionError(
        f'{src}: expected the {SOURCE_FORMAT[0]} layout ({SOURCE_FORMAT[1]}); found {found}. '
        f'{len(keys)} keys, the first: {format_keys(keys)}.')


def _resnet_layout(keys) -> Optional[str]:
    """What to say about a GCP / DropCov / GAP ResNet checkpoint; None for anything else."""
    try:
        detect_resnet_format(keys)
    except CheckpointConversionError:
        return None
    return ('a ResNet checkpoint (conv1, layer1..4: a CNN GCP / DropCov / GAP model, not the '
            'DropCov ViT); convert it with tools/model_converters/gcp2mmpretrain.py')


def infer_architecture(state_dict: Dict[str, torch.Tensor], num_heads: Optional[int] = None,
                       src: str = '<state_dict>') -> dict:
    """Read the sizes of a DropCov ViT off its tensor shapes.

    Args:
        state_dict (dict[str, Tensor]): Published names (``module.`` removed).
        num_heads (int, optional): Attention heads; shapes do not show them, so by default they
            come from the published size of the same width (Tiny 4, Small 6, Base 12).
            Defaults to None.
        src (str): The source file, named in errors. Defaults to ``'<state_dict>'``.

    Returns:
        dict: ``arch`` (``'tiny'``, ``'small'``, ``'base'`` or a dict for :class:`DenseTokenViT`),
        ``embed_dims``, ``num_layers``, ``num_heads``, ``mlp_ratio``, ``pos_embed_grid``,
        ``cov_heads``, ``head_channels`` and ``num_classes``.
    """
    embed_dims = int(state_dict['cls_token'].shape[-1])
    num_layers = len({k.split('.')[1] for k in state_dict if k.startswith('blocks.')})
    fc1 = state_dict.get('blocks.0.mlp.fc1.weight')
    hidden = int(fc1.shape[0]) if fc1 is not None else 0
    published = PUBLISHED_ARCHS.get((embed_dims, num_layers, hidden))
    if num_heads is None:
        by_width = {width: heads for (width, _, _), (_, heads) in PUBLISHED_ARCHS.items()}
        if embed_dims not in by_width:
            known = ', '.join(f'{name} {width}' for (width, _, _), (name, _) in
                              PUBLISHED_ARCHS.items())
            raise CheckpointConversionError(
                f'{src}: width {embed_dims} is none of the published DropCov ViTs ({known}); '
                'pass the number of attention heads (--num-heads).')
        num_heads = by_width[embed_dims]
    if embed_dims % num_heads:
        raise CheckpointConversionError(
            f'{src}: width {embed_dims} is not divisible by {num_heads} attention heads.')
    pos = state_dict.get('pos_embed')
    grid = math.isqrt(pos.shape[1] - 1) if pos is not None and pos.dim() == 3 else 0
    if pos is None or grid * grid != pos.shape[1] - 1:
        raise CheckpointConversionError(
            f'{src}: pos_embed must be 1 x (1 + g*g) x {embed_dims} for a square token grid, '
            f'found {None if pos is None else tuple(pos.shape)}.')
    wr = state_dict['classifier.representation.wr.weight']
    visual = state_dict.get('classifier.visual_fc.weight')
    per_head_total = wr.shape[0] // 3 if wr.shape[0] % 3 == 0 else 0  # heads x c
    head_channels = int(visual.shape[1]) // per_head_total if (
        visual is not None and per_head_total) else 0
    cov_heads = per_head_total // head_channels if head_channels else 0
    if not cov_heads or cov_heads * head_channels != per_head_total \
            or cov_heads * head_channels**2 != visual.shape[1]:
        found = None if visual is None else visual.shape[1]
        raise CheckpointConversionError(
            f'{src}: classifier.representation.wr ({wr.shape[0]} rows) and classifier.visual_fc '
            f'({found} inputs) do not form 3 x heads x c and heads x c x c, the published DropCov '
            'head (queries, keys and an unused third); a SoT checkpoint (2 x heads x c rows) or '
            'another head is not a DropCov ViT.')
    arch = published[0] if published and published[1] == num_heads else dict(
        embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
        mlp_ratio=hidden / embed_dims)
    return dict(arch=arch, embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
                mlp_ratio=hidden / embed_dims, pos_embed_grid=grid, cov_heads=cov_heads,
                head_channels=head_channels, num_classes=int(visual.shape[0]))


def expected_shapes(arch: dict) -> 'OrderedDict[str, Tuple[int, ...]]':
    """Every key and shape of the published model ``arch`` describes (published names)."""
    shapes: 'OrderedDict[str, Tuple[int, ...]]' = OrderedDict()
    dims, hidden = arch['embed_dims'], round(arch['mlp_ratio'] * arch['embed_dims'])
    tok = 'visual_tokens.tokens.'
    shapes[tok + 'stem.0.weight'] = (_STEM_CHANNELS, 3, 3, 3)
    shapes[tok + 'stem.0.bias'] = (_STEM_CHANNELS, )
    channels = _STEM_CHANNELS
    for block in range(3):
        for layer in range(6):
            prefix = f'{tok}stage.{2 * block}.denselayer{layer + 1}.'
            shapes[prefix + 'conv1.weight'] = (32, channels + 16 * layer, 1, 1)
            shapes[prefix + 'conv2.weight'] = (16, 32, 3, 3)
        prefix = f'{tok}stage.{2 * block + 1}.'
        for param in _BN_PARAMS:
            shapes[prefix + 'norm.' + param] = () if param == 'num_batches_tracked' else (
                channels + 96, )
        shapes[prefix + 'conv.weight'] = (128, channels + 96, 1, 1)
        channels = 128
    shapes[tok + 'transition.weight'] = (dims, 128, 1, 1)
    shapes[tok + 'transition.bias'] = (dims, )
    shapes['cls_token'] = (1, 1, dims)
    shapes['pos_embed'] = (1, 1 + arch['pos_embed_grid']**2, dims)
    for i in range(arch['num_layers']):
        prefix = f'blocks.{i}.'
        for name, shape in (('norm1.weight', (dims, )), ('norm1.bias', (dims, )),
                            ('attn.qkv.weight', (3 * dims, dims)),
                            ('attn.proj.weight', (dims, dims)), ('attn.proj.bias', (dims, )),
                            ('norm2.weight', (dims, )), ('norm2.bias', (dims, )),
                            ('mlp.fc1.weight', (hidden, dims)), ('mlp.fc1.bias', (hidden, )),
                            ('mlp.fc2.weight', (dims, hidden)), ('mlp.fc2.bias', (dims, ))):
            shapes[prefix + name] = shape
    shapes['norm.weight'] = shapes['norm.bias'] = (dims, )
    heads, c, classes = arch['cov_heads'], arch['head_channels'], arch['num_classes']
    shapes['classifier.representation.wr.weight'] = (3 * heads * c, dims)
    shapes['classifier.visual_fc.weight'] = (classes, heads * c * c)
    shapes['classifier.visual_fc.bias'] = (classes, )
    shapes['classifier.cls_fc.weight'] = (classes, dims)
    shapes['classifier.cls_fc.bias'] = (classes, )
    return shapes


def describe(arch: dict) -> str:
    """``'DropCov ViT-small (6 cov heads x 24), 1000 classes'``: an architecture in words."""
    name = arch['arch'] if isinstance(arch['arch'], str) else (
        f"{arch['embed_dims']}-wide, {arch['num_layers']} blocks")
    return (f"DropCov ViT-{name} ({arch['cov_heads']} cov heads x {arch['head_channels']}), "
            f"{arch['num_classes']} classes")


def suggested_config(arch: dict) -> Tuple[str, list]:
    """The mmgcp config for an architecture and the ``--cfg-options`` it needs."""
    name = arch['arch'] if isinstance(arch['arch'], str) else 'small'
    options = []
    if not isinstance(arch['arch'], str):
        options.append(f"model.backbone.arch={arch['arch']}")
    if arch['pos_embed_grid'] != 14:
        options.append(f"model.backbone.pos_embed_grid={arch['pos_embed_grid']}")
    if arch['num_classes'] != 1000:
        options.append(f"model.head.num_classes={arch['num_classes']}")
    return f'configs/pretrain/densetok-vit-{name}-dropcov_8xb128_in1k.py', options


def to_mmgcp_name(published_name: str) -> str:
    """``blocks.0.attn.qkv.weight`` -> ``backbone.layers.0.attn.qkv.weight``."""
    for old, new in _RENAMES:
        if published_name.startswith(old):
            return new + published_name[len(old):]
    return 'backbone.' + published_name  # cls_token, pos_embed, norm.*


def convert_state_dict(state_dict: Dict[str, torch.Tensor], num_heads: Optional[int] = None,
                       src: str = '<state_dict>') -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Convert a published DropCov ViT state dict to mmgcp's names.

    Args:
        state_dict (dict[str, Tensor]): The source weights (unwrapped, ``module.`` removed).
        num_heads (int, optional): Attention heads, for widths other than the published ones.
            Defaults to None.
        src (str): The source file, named in errors. Defaults to ``'<state_dict>'``.

    Returns:
        tuple: The converted state dict (``backbone.*``, ``head.*``) and a dict describing the
        source (the keys of :func:`infer_architecture`, ``config``, ``cfg_options``).

    Raises:
        CheckpointConversionError: Another layout, or keys and shapes that do not form the
            DropCov ViT its shapes imply, or a position embedding that is not the fixed table.
    """
    from mmgcp.models.backbones.dense_token_vit import sinusoid_position_table

    detect_layout(state_dict, src)
    arch = infer_architecture(state_dict, num_heads, src)
    shapes = expected_shapes(arch)
    unexpected = [k for k in state_dict if k not in shapes]
    missing = [k for k in shapes if k not in state_dict]
    mismatched = [f'{k}: expected {shape} found {tuple(state_dict[k].shape)}'
                  for k, shape in shapes.items()
                  if k in state_dict and tuple(state_dict[k].shape) != shape]
    raise_if_inconsistent(f'{src}: not a consistent {SOURCE_FORMAT[0]} checkpoint of the '
                          f'{describe(arch)} that its shapes imply:', unexpected, missing,
                          mismatched)
    table = sinusoid_position_table(*shapes['pos_embed'][1:]).unsqueeze(0)
    difference = (state_dict['pos_embed'].float() - table).abs().max().item()
    if difference > 1e-4:
        raise CheckpointConversionError(
            f'{src}: pos_embed is not the fixed sinusoid table of the published DropCov ViTs '
            f'(largest difference {difference:.3g}); a learned position embedding is another '
            'model.')
    converted = OrderedDict((to_mmgcp_name(k), state_dict[k]) for k in shapes)
    config, cfg_options = suggested_config(arch)
    return converted, dict(source_format=SOURCE_FORMAT[0], **arch, config=config,
                           cfg_options=cfg_options)


def convert_checkpoint(src: str, dst: str, weights: str = 'auto', num_heads: Optional[int] = None,
                       backbone_only: bool = False, config: Optional[str] = None,
                       cfg_options: Optional[dict] = None, trust: Optional[bool] = None) -> dict:
    """Convert a published DropCov ViT checkpoint file into an mmpretrain checkpoint file.

    Nothing is written unless the whole conversion (and the optional check against ``config``)
    succeeds, and then ``dst`` appears complete at once.

    Args:
        src (str): Source checkpoint.
        dst (str): Destination; gets ``{'state_dict': ..., 'meta': ...}``.
        weights (str): ``'auto'``, ``'ema'`` or ``'model'`` (see :func:`select_state_dict`).
            Defaults to ``'auto'``.
        num_heads (int, optional): Attention heads for non-published widths. Defaults to None.
        backbone_only (bool): Write only ``backbone.*`` (for UperNet). Defaults to False.
        config (str, optional): Require the result to load strictly into this config's model
            (only its ``backbone.*`` with ``backbone_only``). Defaults to None.
        cfg_options (dict, optional): Overrides of ``config``. Defaults to None.
        trust (bool, optional): Load a source that needs Python types outside mmgcp's
            allowlist (timm's ``args`` Namespace is in it); such a file can run code: only for
            files you trust. None (default): trusted when ``MMGCP_TRUST_CHECKPOINT=1``
            (``--trust-checkpoint``).

    Returns:
        dict: The ``meta`` written to ``dst``.
    """
    refuse_same_file(src, dst)
    checkpoint = load_source_checkpoint(src, trust=trust)
    state_dict, source_meta = select_state_dict(checkpoint, weights, src)
    converted, info = convert_state_dict(state_dict, num_heads, src)
    return check_and_save(
        converted, info, src, dst, converter='tools/model_converters/dropcov_vit2mmpretrain.py',
        source_format_description=SOURCE_FORMAT[1], source_meta=source_meta, describe=describe,
        backbone_only=backbone_only, config=config, cfg_options=cfg_options)
