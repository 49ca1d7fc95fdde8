# Copyright (c) mmgcp contributors. All rights reserved.
"""Covariance over the valid positions of padded feature maps.

A detection or segmentation batch is padded to a common size (bottom and right, mmdet's
``DetDataPreprocessor`` and mmseg's ``SegDataPreProcessor``), so a feature map of image ``i``
holds ``M_i`` positions of the image and ``M - M_i`` positions of padding. The covariance of
image ``i`` is taken over its own positions only (docs/math.md, section 8)::

    mu_i = (1 / M_i) sum_valid x_m,   Sigma_i = (1 / M_i) sum_valid (x_m - mu_i)(x_m - mu_i)^T

and is computed by the unmasked operators, unchanged: every padded position is replaced by
``mu_i`` (:func:`fill_padding_with_mean`), which leaves the mean at ``mu_i`` and adds zero
columns to the centred features, so the plain covariance of the filled map is
``(M_i / M) Sigma_i``. The operators multiply it back by ``M / M_i`` (iSQRT, which is
homogeneous of degree 1/2 through its trace normalisation, by ``sqrt(M / M_i)``). The
gradient reaches the valid positions through the fill (the mean depends on them) and is zero on
the padding. Which positions are valid at a stride is :func:`valid_feature_size`.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from ._utils import autocast_disabled, to_compute_dtype


def feature_stride(input_size: int, feature_size: int) -> int:
    """The stride of a feature map along one axis, from the input's and the map's sizes.

    Convolutional downsampling by 2 (ResNet's stem, max pool and strided convolutions, with
    padding ``k // 2``) maps ``n`` positions to ``ceil(n / 2)``, so a map at stride ``s = 2^k``
    has ``ceil(input_size / s)`` positions: the stride is the power of two that gives
    ``feature_size``. A stride that is no power of two is ``input_size / feature_size`` when that
    divides.

    Args:
        input_size (int): Size of the network's input along the axis (padded).
        feature_size (int): Size of the feature map along the axis.

    Returns:
        int: The stride ``s``.
    """
    if feature_size < 1 or input_size < feature_size:
        raise ValueError(f'a feature map of size {feature_size} cannot come from an input of '
                         f'size {input_size} by downsampling.')
    stride = 1
    while -(-input_size // stride) > feature_size:
        stride *= 2
    if -(-input_size // stride) == feature_size:
        return stride
    if input_size % feature_size == 0:
        return input_size // feature_size
    raise ValueError(
        f'cannot tell the stride of a feature map of size {feature_size} on an input of size '
        f'{input_size}: it is neither ceil(input / 2^k) nor a divisor of the input. Pad the '
        'batch to a multiple of the largest stride (pad_size_divisor=32 in mmdet, '
        'size_divisor=32 in mmseg).')


def valid_feature_size(image_size: int, input_size: int, feature_size: int) -> int:
    """Feature positions whose receptive-field centre lies in the image, along one axis.

    The image fills the first ``image_size`` of ``input_size`` input positions (top-left, the
    rest is padding). At stride ``s`` (:func:`feature_stride`), position ``j`` of a ResNet
    feature map is centred on input pixel ``s * j`` (each stride-2 convolution or pooling with
    padding ``k // 2`` centres output ``j`` on input ``2j``), so the valid positions are those
    with ``s * j <= image_size - 1``: ``ceil(image_size / s)`` of them. This is also what
    nearest-neighbour resizing of the pixel mask gives (mmdet's DETR masks) when ``s`` divides
    ``input_size``.

    Args:
        image_size (int): Size of the image (``img_shape``) along the axis.
        input_size (int): Size of the padded input along the axis.
        feature_size (int): Size of the feature map along the axis.

    Returns:
        int: The number of valid positions, between 1 and ``feature_size``.
    """
    if image_size < 1:
        raise ValueError(f'an image of size {image_size} along an axis has no pixels; expected '
                         'img_shape entries >= 1.')
    if image_size >= input_size:
        return feature_size
    stride = feature_stride(input_size, feature_size)
    return min(feature_size, -(-image_size // stride))


def valid_position_mask(image_shapes: Sequence[Tuple[int, int]],
                        input_shape: Tuple[int, int],
                        feature_shape: Tuple[int, int],
                        device: Optional[torch.device] = None) -> Optional[Tensor]:
    """Mask of the positions of a padded batch's feature map that belong to each image.

    Built from Python integers by slice assignments (one fill per image): no value is read back
    from the device.

    Args:
        image_shapes (Sequence[tuple[int, int]]): ``(h, w)`` of each image in the batch, placed
            top-left in the input.
        input_shape (tuple[int, int]): ``(H, W)`` of the padded input.
        feature_shape (tuple[int, int]): ``(H_f, W_f)`` of the feature map.
        device (torch.device, optional): Device of the mask. Defaults to None (CPU).

    Returns:
        Tensor | None: ``B x H_f x W_f`` booleans (True on the image), or None when every
        position of every image is valid (nothing to mask).
    """
    feature_h, feature_w = feature_shape
    sizes = [(valid_feature_size(h, input_shape[0], feature_h),
              valid_feature_size(w, input_shape[1], feature_w)) for h, w in image_shapes]
    if all(size == (feature_h, feature_w) for size in sizes):
        return None
    mask = torch.zeros(len(sizes), feature_h, feature_w, dtype=torch.bool, device=device)
    for index, (valid_h, valid_w) in enumerate(sizes):
        mask[index, :valid_h, :valid_w] = True
    return mask


def check_valid_mask(valid_mask: Tensor, features: Tensor, op: str) -> Tensor:
    """Check a mask of valid positions against ``B x C x M`` features; return it as ``B x M``.

    Args:
        valid_mask (Tensor): ``B x H x W`` (or ``B x M``) booleans or 0/1 values.
        features (Tensor): ``B x C x M`` features (the flattened map).
        op (str): Operator name, for the message.

    Returns:
        Tensor: ``B x M`` booleans on the device of ``features``.
    """
    if not isinstance(valid_mask, Tensor):
        raise TypeError(f'{op} expects valid_mask to be a tensor, got '
                        f'{type(valid_mask).__name__}.')
    batch, _, num_positions = features.shape
    if valid_mask.dim() < 2 or valid_mask.shape[0] != batch \
            or valid_mask[0].numel() != num_positions:
        raise ValueError(f'{op} expects valid_mask of shape B x H x W (or B x M) matching the '
                         f'features, B = {batch} and M = {num_positions} positions; got '
                         f'{tuple(valid_mask.shape)}. Build it for this feature map with '
                         'mmgcp.ops.valid_position_mask.')
    return valid_mask.reshape(batch, num_positions).to(device=features.device, dtype=torch.bool)


def fill_padding_with_mean(features: Tensor, valid: Tensor) -> Tuple[Tensor, Tensor]:
    """Replace the padded positions of each sample by the mean of its valid positions.

    The covariance of the result over all ``M`` positions is ``(M_i / M)`` times the covariance
    over the ``M_i`` valid ones (module docstring). NaN or Inf on the padding does not reach the
    result, and the padding receives no gradient.

    Args:
        features (Tensor): ``B x C x M`` features.
        valid (Tensor): ``B x M`` booleans, True on the valid positions
            (:func:`check_valid_mask`).

    Returns:
        tuple[Tensor, Tensor]: The filled ``B x C x M`` features, and ``M / M_i`` (``B``, the
        dtype of ``features``) that scales their covariance back. A sample without any valid
        position counts as one (its features become zeros).
    """
    keep = valid[:, None, :]
    count = valid.sum(dim=-1).clamp_min(1).to(features.dtype)
    zero = torch.zeros((), dtype=features.dtype, device=features.device)
    mean = torch.where(keep, features, zero).sum(dim=-1, keepdim=True) / count[:, None, None]
    filled = torch.where(keep, features, mean)
    return filled, features.shape[-1] / count


def fill_padding(features: Tensor, valid_mask: Tensor, op: str) -> Tuple[Tensor, Tensor]:
    """The input step of the masked operators: check the mask, promote, fill the padding.

    Args:
        features (Tensor): ``B x C x M`` features.
        valid_mask (Tensor): ``B x H x W`` (or ``B x M``) booleans (:func:`check_valid_mask`).
        op (str): Operator name, for the messages.

    Returns:
        tuple[Tensor, Tensor]: :func:`fill_padding_with_mean` of ``features`` in the dtype the
        GCP math runs in (float32 under autocast, float64 stays).
    """
    valid = check_valid_mask(valid_mask, features, op)
    with autocast_disabled(features.device.type):
        return fill_padding_with_mean(to_compute_dtype(features, op), valid)
