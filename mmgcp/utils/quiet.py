# Copyright (c) mmgcp contributors. All rights reserved.
"""Known deprecation warnings of the pinned stack that say nothing to an mmgcp user.

Each comes back on every config parse or every run (a module reloaded, a warning registry reset),
so one command line printed the same lines a dozen times before anything useful. Only these
exact messages are filtered, each with where it comes from; every other warning, mmgcp's own
included, is shown as Python shows it.
"""
import warnings

#: (message regex, category, where it comes from).
KNOWN_WARNINGS = (
    (r'pkg_resources is deprecated as an API', UserWarning,
     'setuptools < 81, which mmengine.utils.package_utils.is_installed imports and *reloads* '
     "at every 'mmdet::' / 'mmseg::' / 'mmpretrain::' config lookup"),
    (r'``build_loss`` would be deprecated soon', UserWarning,
     "mmseg.models.builder.build_loss, which mmseg's own decode heads (UPerHead, FCNHead) call "
     'to build their losses'),
    (r'`reduce_zero_label` will be deprecated', UserWarning,
     "mmseg.datasets.transforms.LoadAnnotations, given reduce_zero_label by mmseg's own ADE20K "
     'pipelines'),
)


def filter_known_warnings() -> None:
    """Ignore the messages of :data:`KNOWN_WARNINGS` (idempotent)."""
    for message, category, _ in KNOWN_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)
