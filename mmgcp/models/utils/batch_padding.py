# Copyright (c) mmgcp contributors. All rights reserved.
"""Where each image lies in a padded batch, for the covariance necks and heads.

mmdet and mmseg pad a batch to a common size (bottom and right), so a covariance over all
positions of a feature map also averages the padding: training (padded batches) and a test image
alone would see different statistics of the same image. The covariance modules therefore take
the covariance over each image's valid positions (:mod:`mmgcp.ops.padding`), which needs the
image shapes. A neck in mmdet only gets the features (``extract_feat(batch_inputs)``), so the
shapes travel beside them, in a context that lasts one forward pass:

- ``mmgcp.PaddingAwareMaskRCNN`` / ``mmgcp.PaddingAwareFasterRCNN`` (mmdet's detectors with one
  more step) open :func:`padding_scope` around their ``forward`` (``loss``, ``predict`` and
  ``tensor`` modes: training, ``tools/test.py`` and the inferencers all pass through it) with
  the data samples' ``img_shape`` and the input's size;
- :class:`~mmgcp.CovUPerHead` opens it in its own ``loss`` and ``predict``, which mmseg calls
  with the data samples' metainfo;
- :class:`~mmgcp.CovAttentionNeck` and ``CovUPerHead`` ask :func:`current_padding` for the mask
  of their feature map. Outside a scope (classification, where mmpretrain crops every image to
  one size, or a direct call) there is no mask and every position counts, as before.

The context is a :class:`contextvars.ContextVar`, set and reset by a ``with`` block, so nothing
outlives the forward pass that set it.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import torch

from mmgcp.ops import valid_position_mask


@dataclass(frozen=True)
class BatchPadding:
    """The image shapes of a padded batch and the size of the padded input.

    Attributes:
        image_shapes (tuple[tuple[int, int]]): ``(h, w)`` of each image (``img_shape``), placed
            top-left in the input.
        input_shape (tuple[int, int]): ``(H, W)`` of the padded input.
    """
    image_shapes: Tuple[Tuple[int, int], ...]
    input_shape: Tuple[int, int]

    def valid_mask(self, features: torch.Tensor) -> Optional[torch.Tensor]:
        """Mask of the valid positions of a feature map of this batch (see
        :func:`mmgcp.ops.valid_position_mask`).

        Args:
            features (torch.Tensor): ``B x C x H_f x W_f``, computed from the padded input.

        Returns:
            torch.Tensor | None: ``B x H_f x W_f`` booleans on the features' device, or None when
            no position of this map is padding.
        """
        if features.shape[0] != len(self.image_shapes):
            raise ValueError(
                f'the padding of this forward pass describes {len(self.image_shapes)} images, '
                f'but the feature map holds {features.shape[0]} ({tuple(features.shape)}); a '
                'covariance module ran on other inputs inside the forward of a padded batch. '
                'Call it outside the forward, or inside mmgcp.models.utils.padding_scope(None).')
        return valid_position_mask(self.image_shapes, self.input_shape,
                                   tuple(features.shape[-2:]), features.device)


_CURRENT_PADDING: ContextVar[Optional[BatchPadding]] = ContextVar('mmgcp_batch_padding',
                                                                   default=None)


def current_padding() -> Optional[BatchPadding]:
    """The padding of the batch whose forward pass is running, or None (no mask)."""
    return _CURRENT_PADDING.get()


def current_valid_mask(features: torch.Tensor) -> Optional[torch.Tensor]:
    """Mask of the valid positions of ``features`` in the running forward pass, if padded.

    Args:
        features (torch.Tensor): ``B x C x H_f x W_f``, computed from the padded input.

    Returns:
        torch.Tensor | None: ``B x H_f x W_f`` booleans, or None outside a padded forward pass
        or when no position of this map is padding.
    """
    padding = _CURRENT_PADDING.get()
    return None if padding is None else padding.valid_mask(features)


@contextmanager
def padding_scope(padding: Optional[BatchPadding]) -> Iterator[None]:
    """Make ``padding`` the one the covariance modules see in the block (None: no mask)."""
    token = _CURRENT_PADDING.set(padding)
    try:
        yield
    finally:
        _CURRENT_PADDING.reset(token)


def _shape2d(shape, key: str) -> Tuple[int, int]:
    if shape is None or len(shape) < 2:
        raise ValueError(f"metainfo '{key}' must be (h, w, ...), got {shape!r}.")
    return int(shape[0]), int(shape[1])


def padding_from_metas(batch_img_metas: Sequence[dict],
                       input_shape: Optional[Sequence[int]] = None) -> Optional[BatchPadding]:
    """The padding of a batch from its data samples' metainfo.

    The valid region of each image is its ``img_shape`` (set by the resize/crop transforms). The
    padded input is ``input_shape`` when the caller knows it (a detector sees its inputs), else
    the first of ``batch_input_shape`` (mmdet's data preprocessor), ``pad_shape`` (mmseg's
    ``stack_batch``) and ``img_shape`` that a sample has, the largest over the batch.

    Args:
        batch_img_metas (Sequence[dict]): One metainfo dict per image.
        input_shape (Sequence[int], optional): ``(H, W)`` of the padded input. Defaults to None.

    Returns:
        BatchPadding | None: None when no image is padded or the metainfo has no ``img_shape``.
    """
    if not batch_img_metas or any('img_shape' not in meta for meta in batch_img_metas):
        return None
    image_shapes = tuple(_shape2d(meta['img_shape'], 'img_shape') for meta in batch_img_metas)
    if input_shape is None:
        inputs = []
        for meta in batch_img_metas:
            key = next(key for key in ('batch_input_shape', 'pad_shape', 'img_shape')
                       if meta.get(key) is not None)
            inputs.append(_shape2d(meta[key], key))
        input_shape = (max(h for h, _ in inputs), max(w for _, w in inputs))
    input_shape = _shape2d(input_shape, 'input_shape')
    if all(h >= input_shape[0] and w >= input_shape[1] for h, w in image_shapes):
        return None
    return BatchPadding(image_shapes, input_shape)
