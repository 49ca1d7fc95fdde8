# Copyright (c) mmgcp contributors. All rights reserved.
"""Add a hook to a config's ``custom_hooks`` once (what ``tools/train.py`` does for mmgcp's
hooks)."""
from mmengine.config import Config


def add_hook_once(cfg: Config, hook_type: str, **kwargs) -> Config:
    """Append ``dict(type=hook_type, **kwargs)`` to ``cfg.custom_hooks`` unless a hook of that
    type is there already (with or without its ``mmgcp.`` scope).

    Args:
        cfg (Config): The config, changed in place.
        hook_type (str): Scoped type name, e.g. ``'mmgcp.NonFiniteCheckHook'``.
        **kwargs: The hook's arguments.

    Returns:
        Config: The same config.
    """
    hooks = list(cfg.get('custom_hooks') or [])
    names = {hook_type, hook_type.split('.')[-1]}
    if not any(isinstance(h, dict) and h.get('type') in names for h in hooks):
        hooks.append(dict(type=hook_type, **kwargs))
    cfg.custom_hooks = hooks
    return cfg
