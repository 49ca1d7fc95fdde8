# Copyright (c) mmgcp contributors. All rights reserved.
"""TensorBoard next to mmengine's local scalars: ``tools/train.py --tensorboard`` or
``tensorboard = True`` in a config.

mmengine's ``TensorboardVisBackend`` is added to the config's visualizer beside its
``LocalVisBackend``, so every scalar the runner logs also goes to an event file in the same
``<work_dir>/<timestamp>/vis_data/`` folder (``tensorboard --logdir <work_dir>``).
"""
import importlib.util

from mmengine.config import Config

#: The backend added to ``visualizer.vis_backends``.
TENSORBOARD_BACKEND = dict(type='TensorboardVisBackend')


def enable_tensorboard(cfg: Config) -> Config:
    """Add ``TensorboardVisBackend`` to ``cfg.visualizer.vis_backends`` (once).

    Args:
        cfg (Config): A runnable config with a ``visualizer``.

    Returns:
        Config: The same config, changed in place.
    """
    if importlib.util.find_spec('tensorboard') is None:
        raise ImportError('TensorBoard logging needs the `tensorboard` package: pip install '
                          'tensorboard (it is in requirements/runtime.txt, which '
                          'tools/setup_env.sh installs).')
    visualizer = cfg.get('visualizer')
    if visualizer is None:
        raise KeyError('The config has no `visualizer`; TensorBoard logging needs one, e.g. '
                       "visualizer = dict(type='Visualizer', vis_backends=[dict(type="
                       "'LocalVisBackend')]) (the libraries' default_runtime.py define it).")
    backends = list(visualizer.get('vis_backends') or [])
    if not any(str(b.get('type', '')).split('.')[-1] == 'TensorboardVisBackend'
               for b in backends):
        backends.append(dict(TENSORBOARD_BACKEND))
    visualizer['vis_backends'] = backends
    cfg.pop('tensorboard', None)  # consumed: the Runner does not know this key
    return cfg


def apply_tensorboard_key(cfg: Config, force: bool = False) -> Config:
    """Enable TensorBoard when ``force`` or when the config sets ``tensorboard = True``.

    Args:
        cfg (Config): The config.
        force (bool): Enable regardless of the key (``--tensorboard``). Defaults to False.

    Returns:
        Config: The config.
    """
    if force or cfg.get('tensorboard', False):
        return enable_tensorboard(cfg)
    return cfg


def enable_benchmark_tensorboard(exp: Config) -> Config:
    """Turn TensorBoard on for every run of a transfer-benchmark experiment.

    Sets ``tensorboard=True`` in the experiment's ``cfg_options`` of the pretraining and of
    every task, so each run's config gets the key (see :func:`apply_tensorboard_key`).

    Args:
        exp (Config): An experiment config (``configs/benchmark/*.py``).

    Returns:
        Config: The same experiment, changed in place.
    """
    options = dict(exp.get('cfg_options') or {})
    for task in ['pretrain', *exp.get('tasks', {}).keys()]:
        options[task] = dict(options.get(task) or {}, tensorboard=True)
    exp['cfg_options'] = options
    return exp
