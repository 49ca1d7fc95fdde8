# Copyright (c) mmgcp contributors. All rights reserved.
"""mmdet detectors that tell their covariance necks where each image lies in a padded batch.

mmdet's ``DetDataPreprocessor`` pads every batch to a common size (a multiple of 32), a single
test image included, and its necks only receive features (``extract_feat(batch_inputs)``). These
detectors are mmdet's, with one more step: their ``forward`` (every mode: ``loss`` in training,
``predict`` in ``tools/test.py``, ``DetInferencer`` and ``val_step``, ``tensor``) runs inside
:func:`~mmgcp.models.utils.padding_scope` with the data samples' ``img_shape`` and the input's
size, so that :class:`~mmgcp.CovAttentionNeck` takes the covariance over each image's own
positions (:mod:`mmgcp.models.utils.batch_padding`). Without a covariance neck they behave as
mmdet's, with the same state-dict keys: use them in a GCP config and its GAP twin alike.

Why the detector and not a hook or the data preprocessor: the forward is the one call that has
both the data samples and the whole feature extraction inside it, in training, testing and
inference, and the scope closes when it returns; a data preprocessor runs before the forward
and could only leave the shapes behind for whatever runs next.
"""
from typing import Optional

from mmdet.models.detectors import FasterRCNN, MaskRCNN
from torch import Tensor

from mmgcp.models.utils import padding_from_metas, padding_scope
from mmgcp.registry import MODELS


class PaddingAwareMixin:
    """Runs a detector's ``forward`` inside the padding scope of its batch.

    Mix it in before an mmdet detector: ``class D(PaddingAwareMixin, MaskRCNN)``.
    """

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """mmdet's forward, with the batch's padding known to the covariance necks.

        Args:
            inputs (Tensor): The padded batch, ``B x 3 x H x W``.
            data_samples (list[DetDataSample], optional): Their ``img_shape`` is each image's
                region (top-left) of the input. Defaults to None (no mask).
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``. Defaults to ``'tensor'``.

        Returns:
            What mmdet's detector returns for ``mode``.
        """
        padding = None
        if data_samples is not None and isinstance(inputs, Tensor):
            padding = padding_from_metas([sample.metainfo for sample in data_samples],
                                         tuple(inputs.shape[-2:]))
        with padding_scope(padding):
            return super().forward(inputs, data_samples, mode)


@MODELS.register_module()
class PaddingAwareMaskRCNN(PaddingAwareMixin, MaskRCNN):
    """mmdet's Mask R-CNN whose covariance necks see each image's own positions only."""


@MODELS.register_module()
class PaddingAwareFasterRCNN(PaddingAwareMixin, FasterRCNN):
    """mmdet's Faster R-CNN whose covariance necks see each image's own positions only."""
