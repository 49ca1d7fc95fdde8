# Copyright (c) mmgcp contributors. All rights reserved.
"""Experiment configs of the cross-task transfer benchmark and the runs they expand to."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from mmengine.config import Config

from mmgcp.utils.tasks import TASK_KINDS

#: Keys an experiment config may set, with what they mean (used in error messages).
EXPERIMENT_KEYS = {
    'preset': "name shown in the report ('toy', 'paper', ...)",
    'variants': 'dict: pretraining name -> dict(pretrain_config=..., checkpoint=...), or '
                "dict(from_scratch=True, arch='gap') for the control fine-tuned from random init; "
                'each may add cfg_options=dict(<task>=dict(...)): --cfg-options of that '
                "variant's runs of the task, after the experiment's",
    'tasks': 'dict: task name -> dict(config=..., metrics=[...], ...)',
    'toy_data': "dict(out_dir=..., size=...) to generate the toy sets first, or None",
    'pretrain': 'bool: train the variants\' pretrain_config first (else use checkpoint)',
    'cfg_options': 'dict: task name -> extra --cfg-options for every run of that task',
    'data_options': 'dict: task name -> --cfg-options that point the task at its data',
    'device': "'cuda' (default: GPU recipes) or 'cpu' (recipes sized for CPU cores, the toy "
              'preset)',
    'robustness': 'optional stage: dict(corruptions=[...], severities=[...], seed=0, '
                  "baseline='gap') or None",
}
VARIANT_KEYS = ('pretrain_config', 'checkpoint', 'from_scratch', 'arch', 'cfg_options')
TASK_KEYS = ('config', 'metrics', 'checkpoint_option', 'kind')


@dataclass
class Run:
    """One unit of work: a variant's pretraining, or its fine-tuning on one task, for one seed.

    Args:
        variant (str): Pretraining name (``'gap'``, ``'gcp'``, ...).
        task (str): Task name; ``'pretrain'`` for the classification pretraining itself.
        seed (int): Random seed of the run.
        config (str): The mmengine config the run trains.
        work_dir (str): Where the run writes everything.
        metrics (list[str]): Metric keys reported for the run.
        kind (str): ``'cls'``, ``'det'`` or ``'seg'``.
        cfg_options (list[str]): ``key=value`` overrides passed to ``tools/train.py``.
        checkpoint_option (str, optional): Config key that receives the pretrained trunk path.
        evaluate_only (bool): Only evaluate the pretrained classifier (``kind='cls'`` tasks).
        from_scratch (bool): Fine-tune from random initialisation: no checkpoint is loaded (the
            trunk's ``init_cfg`` is set to None in ``cfg_options``).
        inputs (dict): What else the run's result depends on: the experiment's toy data
            settings and the variant's pretraining config or checkpoint.
        settings (dict, optional): Everything the result depends on, as recorded in the run's
            status file (:func:`mmgcp.benchmark.settings.attach_settings`).
    """
    variant: str
    task: str
    seed: int
    config: str
    work_dir: str
    metrics: List[str]
    kind: str
    cfg_options: List[str] = field(default_factory=list)
    checkpoint_option: Optional[str] = None
    evaluate_only: bool = False
    from_scratch: bool = False
    inputs: Dict[str, object] = field(default_factory=dict)
    settings: Optional[Dict[str, object]] = None
    varies: List[str] = field(default_factory=lambda: ['finetune_seed'])

    @property
    def name(self) -> str:
        return f'{self.variant}/{self.task}/seed{self.seed}'


def _check_keys(where: str, given: dict, allowed, file: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise KeyError(f'{file}: unknown key(s) {unknown} in {where}; allowed keys are '
                       f'{sorted(allowed)}. Fix the spelling or remove them.')


def flatten(options: dict, prefix: str = '') -> Dict[str, object]:
    """``{'a': {'b': 1}}`` -> ``{'a.b': 1}``: nested option dicts as ``--cfg-options`` keys."""
    flat: Dict[str, object] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def load_experiment(path: str, overrides: Optional[dict] = None) -> Config:
    """Load and validate an experiment config.

    Args:
        path (str): The experiment config file (e.g. ``configs/benchmark/toy.py``).
        overrides (dict, optional): ``key=value`` overrides merged into the config.

    Returns:
        Config: The validated experiment config.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'experiment config {path} does not exist; see configs/benchmark/ '
                                'for the presets (toy.py, paper.py).')
    exp = Config.fromfile(path)
    if overrides:
        exp.merge_from_dict(overrides)
    given = {k: v for k, v in exp.items() if not k.startswith('_')}
    _check_keys('the experiment config', given, EXPERIMENT_KEYS, path)
    for key in ('variants', 'tasks'):
        if not exp.get(key):
            raise KeyError(f'{path}: `{key}` is missing or empty ({EXPERIMENT_KEYS[key]}).')
    known = set(exp.tasks) | ({'pretrain'} if exp.get('pretrain') else set())
    for name, variant in exp.variants.items():
        _check_keys(f'variants.{name}', variant, VARIANT_KEYS, path)
        for task, opts in (variant.get('cfg_options') or {}).items():
            if task not in known:
                raise KeyError(f'{path}: variants.{name}.cfg_options.{task}: no task {task!r}; '
                               f'the tasks are {sorted(known)}.')
            if not isinstance(opts, dict):
                raise TypeError(f'{path}: variants.{name}.cfg_options.{task} must be a dict of '
                                f'config keys, e.g. dict(model=dict(...)), got {opts!r}.')
        if variant.get('from_scratch'):
            arch = variant.get('arch', 'gap')
            if arch == name or arch not in exp.variants:
                raise KeyError(f"{path}: variants.{name}.arch={arch!r} must name another variant "
                               f'({sorted(set(exp.variants) - {name})}) whose task configs give '
                               'the architecture fine-tuned from random initialisation.')
            continue
        if exp.get('pretrain', False) and not variant.get('pretrain_config'):
            raise KeyError(f'{path}: variants.{name} needs `pretrain_config` when pretrain=True.')
        if not exp.get('pretrain', False) and not variant.get('checkpoint'):
            raise KeyError(f'{path}: variants.{name} needs `checkpoint` (a pretrained '
                           'classification checkpoint) when pretrain=False.')
    for name, task in exp.tasks.items():
        _check_keys(f'tasks.{name}', task, TASK_KEYS, path)
        if task.get('kind') not in TASK_KINDS:
            raise ValueError(f"{path}: tasks.{name}.kind must be one of {TASK_KINDS}, got "
                             f"{task.get('kind')!r}.")
        if task['kind'] != 'cls' and '{variant}' not in task.get('config', ''):
            raise ValueError(f"{path}: tasks.{name}.config must contain '{{variant}}', e.g. "
                             "'configs/toy/det/mask-rcnn_r18-w16-{variant}_fpn_toy.py'.")
    return exp


def expand_runs(exp: Config, work_dir: str, seeds: List[int]) -> List[Run]:
    """List every run of the experiment in execution order (pretraining before fine-tuning).

    Args:
        exp (Config): A config from :func:`load_experiment`.
        work_dir (str): The benchmark's work dir; run ``r`` writes to
            ``work_dir/runs/seed<s>/<variant>/<task>``.
        seeds (list[int]): The seeds. Runs of every variant with the same seed share that seed
            (``randomness.seed``), so variants are compared seed by seed.

    A ``from_scratch`` variant has no pretraining and no classification rows; its fine-tuning
    runs use the task configs of its ``arch`` variant with the trunk's ``init_cfg`` set to None
    (the parent key of the task's ``checkpoint_option``), i.e. the library's random init.

    Returns:
        list[Run]: The runs.
    """
    runs = []
    cfg_options: Dict[str, dict] = exp.get('cfg_options') or {}
    data_options: Dict[str, dict] = exp.get('data_options') or {}
    toy_root = (exp.get('toy_data') or {}).get('out_dir', 'data/toy')
    toy_data = exp.get('toy_data')
    toy_data = toy_data.to_dict() if hasattr(toy_data, 'to_dict') else toy_data

    def options(task: str, seed: int, variant: str) -> List[str]:
        merged = flatten(data_options.get(task, {}))
        merged.update(flatten(cfg_options.get(task, {})))
        merged.update(flatten((exp.variants[variant].get('cfg_options') or {}).get(task, {})))
        merged['randomness.seed'] = seed
        return [f'{k}={v}'.replace('{toy_root}', toy_root) for k, v in merged.items()]

    for seed in seeds:
        for variant, spec in exp.variants.items():
            base = osp.join(work_dir, 'runs', f'seed{seed}', variant)
            if spec.get('from_scratch'):
                for task, tspec in exp.tasks.items():
                    if tspec.kind == 'cls':
                        continue
                    option = tspec.get('checkpoint_option', 'model.backbone.init_cfg.checkpoint')
                    init_key = option.rsplit('.', 1)[0]
                    runs.append(Run(variant, task, seed,
                                    tspec.config.format(variant=spec.get('arch', 'gap')),
                                    osp.join(base, task), list(tspec.metrics), tspec.kind,
                                    options(task, seed, variant) + [f'{init_key}=None'],
                                    from_scratch=True, inputs=dict(toy_data=toy_data)))
                continue
            inputs = dict(toy_data=toy_data, pretrain_config=spec.get('pretrain_config'),
                          checkpoint=spec.get('checkpoint'))
            if exp.get('pretrain', False):
                runs.append(Run(variant, 'pretrain', seed, spec.pretrain_config,
                                osp.join(base, 'pretrain'), ['accuracy/top1'], 'cls',
                                options('pretrain', seed, variant), inputs=inputs))
            for task, tspec in exp.tasks.items():
                if tspec.kind == 'cls':  # evaluate the pretrained classifier itself
                    runs.append(Run(variant, task, seed, spec.pretrain_config,
                                    osp.join(base, task), list(tspec.metrics), 'cls',
                                    options(task, seed, variant), evaluate_only=True,
                                    inputs=inputs))
                    continue
                runs.append(Run(variant, task, seed, tspec.config.format(variant=variant),
                                osp.join(base, task), list(tspec.metrics), tspec.kind,
                                options(task, seed, variant),
                                tspec.get('checkpoint_option',
                                          'model.backbone.init_cfg.checkpoint'),
                                inputs=inputs))
    return runs
