# Copyright (c) mmgcp contributors. All rights reserved.
"""The toy data sets of an experiment: checked before anything is planned, made once before any
run starts (``mmgcp.datasets.toy``; a complete set made with the same settings is reused)."""
import json
import os.path as osp
from typing import Optional

from mmgcp.datasets.toy.writer import GENERATORS, make_toy_set, other_settings, toy_set_record


def check_toy_data(toy_data: Optional[dict], repo_root: str = '') -> None:
    """Refuse, before anything is generated or trained, toy sets under ``toy_data['out_dir']``
    that were made with other settings than the experiment's (e.g. by an older mmgcp): the
    benchmark would otherwise train on them or stop half-way.

    Raises:
        FileExistsError: Naming each such set, what it has and how to go on.
    """
    if not toy_data:
        return
    root = osp.join(repo_root, toy_data.get('out_dir', 'data/toy'))
    stale = {}
    for name in GENERATORS:
        record = toy_set_record(name, dict(toy_data.get(name) or {}))
        reason = other_settings(osp.join(root, name), record)
        if reason is not None:
            stale[osp.join(root, name)] = (f"{reason}; this experiment's: "
                                           f"{json.dumps(record['params'])}")
    if stale:
        raise FileExistsError(
            'toy sets made with other settings than this experiment asks for:\n' +
            ''.join(f'  {path} {why}\n' for path, why in stale.items()) +
            f"They are generated data: delete them (rm -rf {' '.join(stale)}) and run again, or "
            'keep them and let the experiment write its own sets elsewhere (--options '
            'toy_data.out_dir=DIR).')


def prepare_toy_data(toy_data: dict, repo_root: str = '') -> None:
    """Generate the experiment's toy sets (each skipped when it is complete with the same
    settings); a relative ``out_dir`` is relative to ``repo_root``, as the runs see it."""
    root = osp.join(repo_root, toy_data.get('out_dir', 'data/toy'))
    for name in GENERATORS:
        make_toy_set(name, root, dict(toy_data.get(name) or {}))
