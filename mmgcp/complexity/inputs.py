# Copyright (c) mmgcp contributors. All rights reserved.
"""Build the model of an mmpretrain, mmdet or mmseg config and a synthetic batch for it.

FLOP counting and the speed benchmark need no data set: a batch of random images goes through the
config's own ``data_preprocessor`` (normalisation, padding), with the meta information each
library's ``mode='tensor'`` forward reads, and, for a training step, random ground truth.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.utils import import_modules_from_strings

#: The libraries whose configs are supported, by ``default_scope``.
SCOPES = ('mmpretrain', 'mmdet', 'mmseg')
#: Input size (H, W) per library when neither the caller nor the config's test pipeline gives
#: one: ImageNet crops, mmdet's 1333 x 800 test scale and mmseg's ADE20K crop.
DEFAULT_SHAPES = {'mmpretrain': (224, 224), 'mmdet': (800, 1333), 'mmseg': (512, 512)}


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Read a config (path or Config), apply ``cfg_options`` and import its ``custom_imports``.

    Args:
        config (str | Config): Config file path or object.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` gives them.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    return cfg


def config_scope(cfg: Config) -> str:
    """The library of a config (its ``default_scope``), checked against :data:`SCOPES`."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f"The config's default_scope is {scope!r}; expected one of {SCOPES} "
                         "(a config of mmpretrain, mmdet or mmseg, such as those in configs/).")
    return scope


def input_shape(cfg: Config, shape: Optional[Sequence[int]] = None) -> Tuple[int, int]:
    """The (H, W) to use: ``shape`` (one value = square), else the config's test size.

    The test size is mmseg's ``crop_size``, mmpretrain's ``CenterCrop`` or mmdet's ``Resize``
    scale in the test pipeline, else :data:`DEFAULT_SHAPES`.

    Args:
        cfg (Config): The config.
        shape (Sequence[int], optional): ``(H,)`` or ``(H, W)``.

    Returns:
        tuple[int, int]: Height and width.
    """
    if shape:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (1, 2) or min(shape) < 1:
            raise ValueError(f'shape must be H or H W with positive values, got {shape}.')
        return (shape[0], shape[0]) if len(shape) == 1 else shape
    scope = config_scope(cfg)
    if scope == 'mmseg' and cfg.get('crop_size'):
        return tuple(cfg.crop_size)
    pipeline = (cfg.get('test_dataloader') or {}).get('dataset', {}).get('pipeline') or []
    for step in pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        if scope == 'mmpretrain' and kind == 'CenterCrop':
            size = step.get('crop_size')
            return (size, size) if isinstance(size, int) else (size[1], size[0])
        if scope == 'mmdet' and kind == 'Resize' and step.get('scale'):
            width, height = step['scale']  # mmdet's scale is (w, h)
            return (height, width)
    return DEFAULT_SHAPES[scope]


def _revert_sync_batchnorm(model: nn.Module) -> nn.Module:
    """SyncBN needs a process group; without one, use plain BN (same parameters)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return model
    from mmengine.model import revert_sync_batchnorm
    return revert_sync_batchnorm(model)


def build_model(cfg: Config, device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """Build ``cfg.model`` in the config's scope, without loading any checkpoint.

    ``init_weights`` is not called, so ``init_cfg`` checkpoints (pretrained trunks) need not
    exist: the cost of a model does not depend on its weights.

    Args:
        cfg (Config): An mmpretrain, mmdet or mmseg config.
        device (str | torch.device): Where to put the model. Defaults to ``'cpu'``.

    Returns:
        nn.Module: The model, in eval mode.
    """
    init_default_scope(config_scope(cfg))
    model = _revert_sync_batchnorm(MODELS.build(cfg.model))
    return model.to(device).eval()


def _det_sample(height: int, width: int, num_classes: int, with_mask: bool,
                generator: torch.Generator):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData

    sample = DetDataSample(metainfo=dict(
        img_shape=(height, width), ori_shape=(height, width), scale_factor=(1.0, 1.0)))
    num_boxes = 3
    xy = torch.rand(num_boxes, 2, generator=generator) * torch.tensor([width, height]) * 0.5
    wh = (torch.rand(num_boxes, 2, generator=generator) * 0.4 + 0.1) * torch.tensor(
        [width, height])
    boxes = torch.cat([xy, xy + wh], dim=1)
    instances = InstanceData(
        bboxes=boxes, labels=torch.randint(0, num_classes, (num_boxes, ), generator=generator))
    if with_mask:
        masks = torch.zeros(num_boxes, height, width, dtype=torch.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        instances.masks = BitmapMasks(masks.numpy(), height, width)
    sample.gt_instances = instances
    return sample


def _num_classes(model: nn.Module, default: int) -> int:
    for module in model.modules():
        value = getattr(module, 'num_classes', None)
        if isinstance(value, int) and value > 0:
            return value
    return default


def synthetic_batch(model: nn.Module,
                    cfg: Config,
                    shape: Tuple[int, int],
                    batch_size: int = 1,
                    with_labels: bool = False,
                    seed: int = 0) -> Dict[str, Union[torch.Tensor, List]]:
    """A batch of random images (and labels) through the model's data preprocessor.

    Args:
        model (nn.Module): The built model (its ``data_preprocessor`` is used).
        cfg (Config): Its config (for the library).
        shape (tuple[int, int]): Image (H, W).
        batch_size (int): Images in the batch. Defaults to 1.
        with_labels (bool): Add random ground truth, for a training step. Defaults to False.
        seed (int): Seed of the images and labels. Defaults to 0.

    Returns:
        dict: ``inputs`` (B x 3 x H' x W', normalised and padded as the config does) and
        ``data_samples`` (a list, or None for mmpretrain without labels).
    """
    scope = config_scope(cfg)
    height, width = shape
    generator = torch.Generator().manual_seed(seed)
    images = [
        torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
        for _ in range(batch_size)
    ]
    num_classes = _num_classes(model, 2)
    samples = None
    if scope == 'mmpretrain':
        if with_labels:
            from mmpretrain.structures import DataSample
            samples = [
                DataSample().set_gt_label(int(torch.randint(num_classes, (1, ),
                                                            generator=generator)))
                for _ in range(batch_size)
            ]
    elif scope == 'mmdet':
        with_mask = bool(getattr(getattr(model, 'roi_head', None), 'with_mask', False))
        samples = [
            _det_sample(height, width, num_classes, with_mask, generator)
            for _ in range(batch_size)
        ]
    else:
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(batch_size):
            sample = SegDataSample(metainfo=dict(
                img_shape=(height, width), ori_shape=(height, width), scale_factor=(1.0, 1.0)))
            if with_labels:
                sample.gt_sem_seg = PixelData(data=torch.randint(
                    0, num_classes, (1, height, width), generator=generator))
            samples.append(sample)
    data = dict(inputs=images)
    if samples is not None:
        data['data_samples'] = samples
    return model.data_preprocessor(data, training=with_labels)
