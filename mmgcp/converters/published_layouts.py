# Copyright (c) mmgcp contributors. All rights reserved.
"""Write random-weight ResNet checkpoints saved the way the GCP papers' code saves its releases.

For rehearsing the paper path without the real files: each layout is a ResNet of the published
structure (a torchvision ResNet trunk; for GCP and DropCov a stride-1 last stage, a 1x1 reduction
``layer_reduce`` + ``layer_reduce_bn`` and a classifier on the ``d(d+1)/2`` upper triangle; DropCov
adds the ``eca_layer`` attention) with random weights, saved in the file layout of its project
(``docs/checkpoints.md``):

- ``fast-mpncov``: fast-MPN-COV's ``main.py`` training checkpoint (``model_best.pth.tar``):
  ``{'epoch', 'arch', 'state_dict', 'best_prec1', 'optimizer'}`` with the trunk as the
  ``nn.Sequential`` ``features.module.<idx>`` (0 conv1, 1 bn1, 4..7 layer1..4), the reduction as
  ``representation.conv_dr_block.{0,1}`` and ``classifier``.
- ``cvpr20``: the CVPR'20 GCP release (``iSQRT-COV-R50.pth.tar``): ``{'epoch', 'arch',
  'state_dict', 'best_acc1', 'optimizer'}`` with DataParallel's ``module.`` before ``conv1``,
  ``bn1``, ``layer1..4``, ``layer_reduce``, ``layer_reduce_bn``, ``fc``.
- ``dropcov``: the NeurIPS'22 DropCov release: ``cvpr20`` plus ``module.eca_layer.conv.weight``.
- ``torchvision``: a GAP ResNet as ``torch.save(model.state_dict())``, named as torchvision names
  its files (``resnet50-<first 8 hex digits of the file's sha256>.pth``).

``tools/model_converters/gcp2mmpretrain.py`` reads all four with ``--format auto``.
"""
import hashlib
import io
import os
import os.path as osp
import uuid
from collections import OrderedDict
from typing import Any, Dict, Sequence

import torch
import torch.nn as nn

from .gcp_resnet import RESNET_ARCHS

#: Layout -> the variant of the paper preset it belongs to, the converter's ``--format`` for it,
#: the file name its project gives it (``{depth}``; ``{sha256}``: the file's hash prefix), the
#: training length and final lr of its recipe (recorded as the projects record them).
PUBLISHED_LAYOUTS: Dict[str, Dict[str, Any]] = OrderedDict([
    ('fast-mpncov', dict(variant='gcp', source_format='fast-mpncov',
                         file_name='mpncovresnet{depth}/model_best.pth.tar', epochs=65,
                         final_lr=1e-4)),
    ('cvpr20', dict(variant='gcp', source_format='cvpr20',
                    file_name='iSQRT-COV-R{depth}.pth.tar', epochs=100, final_lr=1e-4)),
    ('dropcov', dict(variant='dropcov', source_format='cvpr20',
                     file_name='DropCov-R{depth}.pth.tar', epochs=100, final_lr=1e-4)),
    ('torchvision', dict(variant='gap', source_format='torchvision',
                         file_name='resnet{depth}-{sha256}.pth', epochs=90, final_lr=1e-3)),
])

# fast-MPN-COV's trunk is an nn.Sequential of the ResNet's children (2 is ReLU, 3 max-pool).
_FAST_MPNCOV_FEATURES = {'conv1': 0, 'bn1': 1, 'layer1': 4, 'layer2': 5, 'layer3': 6, 'layer4': 7}
_FAST_MPNCOV_HEAD = {'layer_reduce': 'representation.conv_dr_block.0',
                     'layer_reduce_bn': 'representation.conv_dr_block.1', 'fc': 'classifier'}
_TRUNK = ('conv1', 'bn1', 'relu', 'maxpool', 'layer1', 'layer2', 'layer3', 'layer4')
# ImageNet iterations per epoch at the papers' batch of 256 (1,281,167 images): what the BN
# counters of a trained model read.
_ITERS_PER_EPOCH = 5005
# Top-1 (%) of a random 1000-way classifier: what the checkpoint honestly reports.
_CHANCE_TOP1 = 0.1


def check_published_arguments(depth: int, reduced_channels: int, num_classes: int,
                              seed: int = 0, layouts: Sequence[str] = ()) -> None:
    """Raise ``ValueError`` on an argument no published checkpoint could have.

    Args:
        depth (int): ResNet depth; one of the converter's (18, 34, 50, 101).
        reduced_channels (int): GCP / DropCov reduction width, >= 1.
        num_classes (int): Classifier outputs, >= 1.
        seed (int): Seed, >= 0. Defaults to 0.
        layouts (Sequence[str]): Layouts, each of :data:`PUBLISHED_LAYOUTS`. Defaults to ().
    """
    unknown = [layout for layout in layouts if layout not in PUBLISHED_LAYOUTS]
    if unknown:
        raise ValueError(f'unknown layout(s) {unknown}; choose from {list(PUBLISHED_LAYOUTS)}.')
    if depth not in RESNET_ARCHS:
        raise ValueError(f'depth must be one of {list(RESNET_ARCHS)} (the ResNets the converter '
                         f'reads), got {depth!r}.')
    for name, value, low in (('reduced_channels', reduced_channels, 1),
                             ('num_classes', num_classes, 1), ('seed', seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {value!r}.')


def published_model(layout: str, depth: int = 50, reduced_channels: int = 256,
                    num_classes: int = 1000, seed: int = 0) -> nn.Module:
    """A ResNet of a published layout's structure, with random weights, in eval mode.

    The trunk is torchvision's ResNet initialised under ``seed`` (mixed with the layout, so the
    variants of one seed differ); BN scales and shifts are random, and the BN statistics are those
    of one random batch, which keeps the activations of the random trunk in range as a trained
    model's are. The children are named as the published models name them: ``conv1``, ``bn1``,
    ``layer1..4``, then ``layer_reduce``, ``layer_reduce_bn`` (GCP, DropCov), ``eca_layer.conv``
    (DropCov) and ``fc``.

    Args:
        layout (str): One of :data:`PUBLISHED_LAYOUTS`.
        depth (int): ResNet depth (18, 34, 50, 101). Defaults to 50.
        reduced_channels (int): Width ``d`` of the reduction (not for ``torchvision``).
            Defaults to 256.
        num_classes (int): Classifier outputs. Defaults to 1000.
        seed (int): Seed; the same arguments give the same weights. Defaults to 0.

    Returns:
        nn.Module: The model; its ``state_dict()`` has the published names.
    """
    import torchvision  # only here: the rest of the converters does not need it

    check_published_arguments(depth, reduced_channels, num_classes, seed, [layout])
    covariance = PUBLISHED_LAYOUTS[layout]['variant'] != 'gap'
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * len(PUBLISHED_LAYOUTS) + list(PUBLISHED_LAYOUTS).index(layout))
        resnet = getattr(torchvision.models, f'resnet{depth}')(weights=None)
        model = nn.Module()
        for name in _TRUNK:
            model.add_module(name, getattr(resnet, name))
        channels = resnet.fc.in_features
        features = channels
        if covariance:
            # The GCP ResNets keep layer4 at stride 1 (28x28 -> 14x14 positions at 224 px).
            first = model.layer4[0]
            (first.conv2 if hasattr(first, 'conv3') else first.conv1).stride = (1, 1)
            first.downsample[0].stride = (1, 1)
            model.add_module('layer_reduce', nn.Conv2d(channels, reduced_channels, 1, bias=False))
            model.add_module('layer_reduce_bn', nn.BatchNorm2d(reduced_channels))
            features = reduced_channels * (reduced_channels + 1) // 2
        if layout == 'dropcov':
            eca_layer = nn.Module()
            eca_layer.add_module('conv', nn.Conv1d(1, 1, 3, padding=1, bias=False))
            model.add_module('eca_layer', eca_layer)
        model.add_module('fc', nn.Linear(features, num_classes))
        _randomize_norms(model, PUBLISHED_LAYOUTS[layout]['epochs'] * _ITERS_PER_EPOCH)
    return model.eval()


def _randomize_norms(model: nn.Module, num_batches_tracked: int) -> None:
    """Random BN affine parameters, then BN statistics measured on one random batch."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.normal_(0.0, 0.1)
        norm.momentum = None  # a cumulative average: the statistics of this one batch
    feature_layers = [name for name in (*_TRUNK, 'layer_reduce', 'layer_reduce_bn')
                      if hasattr(model, name)]
    with torch.no_grad():
        x = torch.randn(2, 3, 112, 112)
        model.train()
        for name in feature_layers:
            x = getattr(model, name)(x)
    for norm in norms:
        norm.momentum = 0.1
        norm.num_batches_tracked.fill_(num_batches_tracked)


def published_checkpoint(model: nn.Module, layout: str, depth: int) -> Any:
    """What the project of ``layout`` passes to ``torch.save`` for ``model``.

    The optimizer entry is a real ``torch.optim.SGD`` state dict of the recipe's last lr
    (momentum 0.9, weight decay 1e-4) without its momentum buffers, which would double the file
    and which the converter drops anyway.

    Args:
        model (nn.Module): From :func:`published_model`.
        layout (str): One of :data:`PUBLISHED_LAYOUTS`.
        depth (int): The model's ResNet depth, for the ``arch`` entry.

    Returns:
        Any: A state dict (``torchvision``) or a training checkpoint dict.
    """
    spec = PUBLISHED_LAYOUTS[layout]
    weights = model.state_dict()
    if layout == 'torchvision':
        return weights
    optimizer = torch.optim.SGD(model.parameters(), lr=spec['final_lr'], momentum=0.9,
                                weight_decay=1e-4).state_dict()
    if layout == 'fast-mpncov':
        state_dict = OrderedDict((_fast_mpncov_name(k), v) for k, v in weights.items())
        return dict(epoch=spec['epochs'], arch=f'mpncovresnet{depth}', state_dict=state_dict,
                    best_prec1=torch.tensor(_CHANCE_TOP1), optimizer=optimizer)
    state_dict = OrderedDict(('module.' + k, v) for k, v in weights.items())
    return dict(epoch=spec['epochs'], arch=f'resnet{depth}', state_dict=state_dict,
                best_acc1=torch.tensor(_CHANCE_TOP1), optimizer=optimizer)


def _fast_mpncov_name(name: str) -> str:
    """Published module name -> fast-MPN-COV's (``layer2.0.conv1.weight`` ->
    ``features.module.5.0.conv1.weight``)."""
    head, rest = name.split('.', 1)
    if head in _FAST_MPNCOV_FEATURES:
        return f'features.module.{_FAST_MPNCOV_FEATURES[head]}.{rest}'
    return f'{_FAST_MPNCOV_HEAD[head]}.{rest}'


def _serialize(checkpoint: Any) -> bytes:
    # Saved to memory, the archive's inner folder name is fixed ('archive'), so the same weights
    # give the same bytes (and sha256) whatever the file is called.
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def _write_bytes_atomic(data: bytes, path: str) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp_path = osp.join(folder, f'.{osp.basename(path)}.{uuid.uuid4().hex[:12]}.tmp')
    try:
        with open(tmp_path, 'wb') as f:
            f.write(data)
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def write_published_checkpoint(path: str, layout: str, depth: int = 50,
                               reduced_channels: int = 256, num_classes: int = 1000,
                               seed: int = 0) -> Dict[str, Any]:
    """Write a random-weight checkpoint in a published layout (see the module docstring).

    Args:
        path (str): The file to write (atomically: a temporary file renamed into place). A
            ``{sha256}`` in it becomes the first 8 hex digits of the file's sha256, torchvision's
            naming (``resnet50-{sha256}.pth``), which ``torch.hub``'s hash check accepts.
        layout (str): ``'fast-mpncov'``, ``'cvpr20'``, ``'dropcov'`` or ``'torchvision'``.
        depth (int): ResNet depth (18, 34, 50, 101). Defaults to 50.
        reduced_channels (int): Width ``d`` of the GCP / DropCov reduction. Defaults to 256.
        num_classes (int): Classifier outputs. Defaults to 1000.
        seed (int): Seed; the same arguments write the same bytes. Defaults to 0.

    Returns:
        dict: ``path`` (absolute, as written), ``layout``, ``variant`` (``'gap'``, ``'gcp'`` or
        ``'dropcov'``: the paper preset's variant), ``source_format`` (the converter's
        ``--format``; ``auto`` detects it), ``sha256`` and ``size`` (bytes).
    """
    model = published_model(layout, depth, reduced_channels, num_classes, seed)
    data = _serialize(published_checkpoint(model, layout, depth))
    sha256 = hashlib.sha256(data).hexdigest()
    path = osp.abspath(path.replace('{sha256}', sha256[:8]))
    _write_bytes_atomic(data, path)
    spec = PUBLISHED_LAYOUTS[layout]
    return dict(path=path, layout=layout, variant=spec['variant'],
                source_format=spec['source_format'], sha256=sha256, size=len(data))


def write_published_checkpoints(out_dir: str, depth: int = 50, reduced_channels: int = 256,
                                num_classes: int = 1000, seed: int = 0,
                                layouts: Sequence[str] = tuple(PUBLISHED_LAYOUTS)
                                ) -> Dict[str, Dict[str, Any]]:
    """Write one checkpoint per layout into ``out_dir``, named as the projects release them.

    Files: ``mpncovresnet50/model_best.pth.tar`` (fast-MPN-COV), ``iSQRT-COV-R50.pth.tar``
    (CVPR'20 GCP), ``DropCov-R50.pth.tar`` and ``resnet50-<sha256[:8]>.pth`` (torchvision).

    Args:
        out_dir (str): Folder to write into.
        depth (int): ResNet depth. Defaults to 50.
        reduced_channels (int): Width of the GCP / DropCov reduction. Defaults to 256.
        num_classes (int): Classifier outputs. Defaults to 1000.
        seed (int): Seed. Defaults to 0.
        layouts (Sequence[str]): Which layouts. Defaults to all of :data:`PUBLISHED_LAYOUTS`.

    Returns:
        dict: Layout -> what :func:`write_published_checkpoint` returns for its file.
    """
    for layout in layouts:  # every argument checked before the first file is written
        check_published_arguments(depth, reduced_channels, num_classes, seed, [layout])
    return OrderedDict(
        (layout, write_published_checkpoint(
            osp.join(out_dir, PUBLISHED_LAYOUTS[layout]['file_name'].replace(
                '{depth}', str(depth))), layout, depth, reduced_channels, num_classes, seed))
        for layout in layouts)
