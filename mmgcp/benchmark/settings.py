# Copyright (c) mmgcp contributors. All rights reserved.
"""What a run's result depends on, recorded in its status file, and the check that refuses to
take a run made with other settings for one of this experiment's.

A benchmark skips finished runs and resumes interrupted ones. Without this check, running it
again in the same work dir after the experiment changed (another budget, another toy set, an
edited config or one of its ``_base_`` files) would report the old numbers under the new
settings, or continue an old checkpoint with the new recipe, and say nothing.
"""
import hashlib
import json
import os.path as osp
from collections import defaultdict
from functools import lru_cache
from typing import Dict, List

from .experiment import Run, flatten
from .plan import run_config
from .status import read_status


class StaleRunsError(FileExistsError):
    """Runs in the work dir were made with other settings than the experiment's."""


@lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 (first 16 hex digits) of a file; cached per path, size and modification time."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()[:16]


def checkpoint_digest(path: str) -> str:
    """The digest of a given checkpoint's content, or '' when the file does not exist (yet)."""
    if not path or not osp.isfile(path):
        return ''
    stat = osp.getsize(path), int(osp.getmtime(path) * 1e9)
    return _file_digest(osp.abspath(path), *stat)


def attach_settings(runs: List[Run], repo_root: str = '') -> None:
    """Set ``run.settings`` of every run: its config and options, what it starts from (toy data
    settings, pretraining config, or checkpoint with a digest of its content, so a file replaced
    under the same name is noticed) and a digest of the config the tools will see (every
    ``_base_`` file resolved, the options merged), as JSON values."""
    for run in runs:
        resolved = json.dumps(run_config(run, repo_root).to_dict(), sort_keys=True, default=repr)
        inputs = dict(run.inputs)
        if inputs.get('checkpoint'):
            inputs['checkpoint_sha256'] = checkpoint_digest(
                inputs['checkpoint'] if osp.isabs(inputs['checkpoint'])
                else osp.join(repo_root, inputs['checkpoint']))
        settings = dict(config=run.config, cfg_options=sorted(run.cfg_options),
                        evaluate_only=run.evaluate_only, from_scratch=run.from_scratch,
                        **inputs,
                        resolved_config=hashlib.sha256(resolved.encode()).hexdigest()[:16])
        run.settings = json.loads(json.dumps(settings, sort_keys=True))


def _differences(old: dict, new: dict) -> str:
    """What changed between two recorded settings, briefly."""
    changes = []
    old_opts, new_opts = set(old.get('cfg_options') or []), set(new.get('cfg_options') or [])
    changes += [f'-{o}' for o in sorted(old_opts - new_opts)]
    changes += [f'+{o}' for o in sorted(new_opts - old_opts)]
    rest = ('cfg_options', 'resolved_config')
    old_flat = flatten({k: v for k, v in old.items() if k not in rest})
    new_flat = flatten({k: v for k, v in new.items() if k not in rest})
    for key in sorted(set(old_flat) | set(new_flat)):
        if old_flat.get(key) != new_flat.get(key):
            changes.append(f'{key}: {old_flat.get(key)!r} -> {new_flat.get(key)!r}')
    if not changes:
        changes.append(f"{new.get('config')} or a file it inherits from has changed")
    return '; '.join(changes)


def _names(names: List[str], shown: int = 4) -> str:
    """Run names, the first few of a long list."""
    if len(names) <= shown + 1:
        return ', '.join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def check_settings(runs: List[Run], work_dir: str) -> None:
    """Refuse, before anything starts, runs of ``work_dir`` whose status file records other
    settings than the run has now (``run.settings``, see :func:`attach_settings`), or none (a
    status written by an older mmgcp). Nothing is changed or deleted.

    Raises:
        StaleRunsError: Listing the runs, grouped by what changed, and how to go on.
    """
    stale: Dict[str, List[str]] = defaultdict(list)
    for run in runs:
        status = read_status(run)
        if not status:
            continue
        recorded = status.get('settings')
        if recorded is None:
            why = 'its status records no settings (written by an older mmgcp)'
        elif recorded != run.settings:
            why = _differences(recorded, run.settings or {})
        else:
            continue
        stale[why].append(f"{run.name} ({status.get('state', '?')})")
    if not stale:
        return
    lines = [f'  {_names(names)}: {why}' for why, names in stale.items()]
    count = sum(len(names) for names in stale.values())
    raise StaleRunsError(
        f'{count} run(s) in {work_dir} were made with other settings than this experiment '
        'asks for:\n' + '\n'.join(lines) + '\n'
        'Their numbers (and checkpoints, which a resume would continue) belong to those '
        'settings, so they are not reused. Run the experiment in a new folder (--work-dir DIR), '
        f'or move the old one away (mv {work_dir} {work_dir}.old) and run again; to redo only '
        f'these runs, move their folders (under {work_dir}/runs/) away. No run was started or '
        'changed.')
