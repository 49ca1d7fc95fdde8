# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp's registries.

Each one is a child of mmengine's root registry with scope ``mmgcp``, so configs of mmpretrain,
mmdet and mmsegmentation can build mmgcp modules as ``type='mmgcp.GCPNeck'``: the parent
registry finds the ``mmgcp`` child, and ``locations`` imports the modules lazily on first use.
There is no dataset registry: the toy sets are written in the formats of the libraries' own
dataset classes (``CustomDataset``, ``CocoDataset``, ``BaseSegDataset``), by the generators in
:mod:`mmgcp.datasets.toy`.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

#: Neural network modules: the published DropCov ViT backbone (DenseTokenViT), necks (GCPNeck,
#: DropCovNeck, CovAttentionNeck), classification heads (MultiHeadCovClsHead,
#: ElementDropCovClsHead, DropoutLinearClsHead), a decode head (CovUPerHead) and mmdet's
#: detectors that tell a covariance neck the batch's padding (PaddingAwareMaskRCNN,
#: PaddingAwareFasterRCNN). Other configs use the libraries' ResNet, MobileNetV2 and ViT.
MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mmgcp', locations=['mmgcp.models'])
#: Training hooks (e.g. the loss-landscape probe).
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mmgcp', locations=['mmgcp.engine'])
#: Data transforms (``mmgcp.Corrupt``).
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mmgcp', locations=['mmgcp.robustness'])
#: Optimizer wrappers (e.g. bf16 autocast on CPU for ``--amp``).
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmgcp', locations=['mmgcp.engine'])
#: Weight initializers (``mmgcp.PretrainedChecked``: Pretrained with a helpful missing-file error).
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope='mmgcp',
    locations=['mmgcp.models'])

# Every mmgcp module imports this file: make mmengine load the Runner's local checkpoints again
# under torch >= 2.6, still weights-only with an allowlist (see mmgcp.utils.checkpoint_compat).
from mmgcp.utils.checkpoint_compat import patch_local_checkpoint_loader  # noqa: E402

patch_local_checkpoint_loader()
# ... and resolve ``_base_ = 'mmgcp::...'`` to the configs shipped in mmgcp/.mim.
from mmgcp.utils.mim import register_config_package  # noqa: E402

register_config_package()

# Known third-party deprecation warnings that repeat on every config parse (mmgcp/utils/quiet.py).
from mmgcp.utils.quiet import filter_known_warnings  # noqa: E402

filter_known_warnings()
