# Copyright (c) mmgcp contributors. All rights reserved.
"""Shared by the config tests: the resolved configs (parsed once per session: on a loaded 2-core
machine a parse costs about half a second) and where two of them differ."""
import copy
import functools
import os.path as osp
from typing import Any, Callable, List

import pytest
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@functools.lru_cache(maxsize=None)
def _parse(path: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, path))


@pytest.fixture(scope='session')
def resolved_config() -> Callable[[str], Config]:
    """``path`` (relative to the repository) -> its Config, every ``_base_`` merged; a copy, so
    a test may change it."""
    return lambda path: copy.deepcopy(_parse(path))


def diff_configs(a: Any, b: Any, path: str = '') -> List[str]:
    """Paths (``model.neck.0.norm_eval``) where two resolved configs, as dicts, differ.

    Dicts are compared key by key (a key in one only is a difference at that key), lists of
    dicts (lists of necks, hooks, pipelines) item by item when they have the same length, every
    other value as a whole. mmengine's ``_scope_`` marks (set on the parts of ``mmseg::``-style
    bases) are not settings and are skipped.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted((set(a) | set(b)) - {'_scope_'}, key=str):
            out += diff_configs(a.get(key), b.get(key), f'{path}.{key}' if path else str(key))
        return out
    if (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
            and any(isinstance(x, dict) for x in a)):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff_configs(x, y, f'{path}.{i}')
        return out
    return [] if a == b else [path]


@pytest.fixture(scope='session')
def config_diff():
    """:func:`diff_configs`."""
    return diff_configs
