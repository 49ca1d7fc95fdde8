# Copyright (c) mmgcp contributors. All rights reserved.
"""Experiment configs of the cross-task transfer benchmark and the runs they expand to."""
import os.path as osp
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional

from mmengine.config import Config

from mmgcp.utils.tasks import TASK_KINDS

from .stats import check_statistics

#: Keys an experiment config may set, with what they mean (used in error messages).
EXPERIMENT_KEYS = {
    'preset': "name shown in the report ('toy', 'paper', ...)",
    'variants': 'dict: pretraining name -> dict(pretrain_config=..., checkpoint=...), or '
                "dict(from_scratch=True, arch='gap') for the control fine-tuned from random init; "
                'each may add cfg_options=dict(<task>=dict(...)): --cfg-options of that '
                "variant's runs of the task, after the experiment's",
    'tasks': 'dict: task name -> dict(config=..., metrics=[...], ...)',
    'toy_data': "dict(out_dir=..., size=...) to generate the toy sets first, or None",
    'data_root': "folder that '{data_root}' in data_options stands for (default 'data')",
    'pretrain': 'bool: train the variants\' pretrain_config first (else use checkpoint)',
    'cfg_options': 'dict: task name -> extra --cfg-options for every run of that task',
    'data_options': 'dict: task name -> --cfg-options that point the task at its data',
    'device': "'cuda' (default: GPU recipes) or 'cpu' (recipes sized for CPU cores, the toy "
              'preset)',
    'robustness': 'optional stage: dict(corruptions=[...], severities=[...], seed=0, '
                  "baseline='gap') or None",
    'statistics': 'optional: how comparisons are tested, e.g. dict(alpha=0.05, power=0.8, '
                  "family='report') (docs/statistics.md)",
}
VARIANT_KEYS = ('pretrain_config', 'checkpoint', 'from_scratch', 'arch', 'cfg_options')
TASK_KEYS = ('config', 'metrics', 'checkpoint_option', 'kind')
#: What a run's result varies with when its seed changes (canonical order).
SEED_SOURCES = ('pretrain_seed', 'finetune_seed')


@dataclass
class Recipe:
    """How a run is launched: its recipe's world size and batch, and what it gets here.

    Args:
        gpus (int): Processes (GPUs, or CPU processes for CPU recipes) the run trains on here.
        recipe_gpus (int): The world size its config was published with.
        recipe_source (str): Where ``recipe_gpus`` comes from (the config name, or a default).
        nodes (int): Nodes it spans (Slurm).
        gpus_per_node (int): GPUs per node it asks for (0 for CPU recipes).
        samples_per_gpu (int): ``train_dataloader.batch_size``.
        total_batch_size (int): ``gpus * samples_per_gpu``.
        recipe_total_batch_size (int): ``recipe_gpus * samples_per_gpu``.
        base_lr (float, optional): The config's lr.
        lr (float, optional): The lr it trains with (scaled when ``auto_scale_lr``).
        auto_scale_lr (bool): Trained on fewer processes than its recipe, lr scaled linearly.
        extra_cfg_options (list[str]): ``--cfg-options`` that scaling adds.
    """
    gpus: int
    recipe_gpus: int
    recipe_source: str
    nodes: int
    gpus_per_node: int
    samples_per_gpu: int
    total_batch_size: int
    recipe_total_batch_size: int
    base_lr: Optional[float]
    lr: Optional[float]
    auto_scale_lr: bool = False
    extra_cfg_options: List[str] = field(default_factory=list)


@dataclass
class Run:
    """One unit of work, planned: a variant's pretraining, or its fine-tuning (or evaluation) on
    one task, for one seed. The same object is expanded, planned (:attr:`recipe`), checked,
    executed by a launcher and reported.

    Args:
        variant (str): Pretraining name (``'gap'``, ``'gcp'``, ...).
        task (str): Task name; ``'pretrain'`` for the classification pretraining itself.
        seed (int, optional): Random seed of the run; None for the evaluation of a fixed
            checkpoint, whose result cannot change with a seed (planned once per variant).
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
        varies (list[str]): What the result varies with when the seed changes, a subset of
            :data:`SEED_SOURCES`; ``[]`` for a fixed checkpoint's evaluation.
        pretrained (str, optional): The weights it starts from: the trunk for fine-tuning, the
            whole classifier for an evaluation; None for pretraining and from-scratch runs.
        depends_on (list[str]): Names of the runs that must be done first (its pretraining).
        recipe (Recipe, optional): Its launch recipe, set by :func:`mmgcp.benchmark.plan.plan_runs`.
        robustness (dict, optional): The experiment's robustness stage, evaluated after the run.
    """
    variant: str
    task: str
    seed: Optional[int]
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
    pretrained: Optional[str] = None
    depends_on: List[str] = field(default_factory=list)
    recipe: Optional[Recipe] = None
    robustness: Optional[Dict[str, object]] = None

    @property
    def name(self) -> str:
        if self.seed is None:
            return f'{self.variant}/{self.task}'
        return f'{self.variant}/{self.task}/seed{self.seed}'

    def to_dict(self) -> dict:
        """The run as JSON values (``plan.json``), with its name."""
        return dict(name=self.name, **asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> 'Run':
        """The inverse of :meth:`to_dict` (other keys, such as a plan entry's commands, are
        left out)."""
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        if data.get('recipe') is not None:
            data['recipe'] = Recipe(**data['recipe'])
        return cls(**data)


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
    try:
        check_statistics(exp.get('statistics'))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f'{path}: statistics: {err}') from None
    if not isinstance(exp.get('data_root', 'data'), str):
        raise TypeError(f"{path}: data_root must be a folder path, got {exp.get('data_root')!r}.")
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


def variant_dir(work_dir: str, variant: str, seed: Optional[int]) -> str:
    """Folder of a variant's runs: ``runs/seed<S>/<variant>``, or ``runs/fixed/<variant>`` for
    the runs of a fixed checkpoint that no seed changes."""
    return osp.join(work_dir, 'runs', 'fixed' if seed is None else f'seed{seed}', variant)


def published_dir(work_dir: str, variant: str) -> str:
    """Where a variant's given checkpoint is converted to, once: ``pretrained/<variant>``
    (``classifier.pth``, ``trunk.pth``)."""
    return osp.join(work_dir, 'pretrained', variant)


#: Files a pretraining run leaves for the runs that start from it, in its work dir.
TRUNK_FILE = 'trunk.pth'
CLASSIFIER_FILE = 'classifier.pth'


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

    Without pretraining (``pretrain=False``), a variant's checkpoint is given: its evaluation
    (``kind='cls'`` tasks) cannot change with a seed and is planned once (``seed=None``,
    ``varies=[]``); its fine-tuning runs vary with the fine-tuning seed only. With pretraining,
    every run of a seed starts from that seed's pretraining and varies with both.

    Returns:
        list[Run]: The runs.
    """
    runs = []
    cfg_options: Dict[str, dict] = exp.get('cfg_options') or {}
    data_options: Dict[str, dict] = exp.get('data_options') or {}
    toy_root = (exp.get('toy_data') or {}).get('out_dir', 'data/toy')
    data_root = exp.get('data_root') or 'data'
    toy_data = exp.get('toy_data')
    toy_data = toy_data.to_dict() if hasattr(toy_data, 'to_dict') else toy_data
    robustness = exp.get('robustness')
    robustness = robustness.to_dict() if hasattr(robustness, 'to_dict') else robustness
    pretrain = bool(exp.get('pretrain', False))

    def options(task: str, seed: Optional[int], variant: str) -> List[str]:
        merged = flatten(data_options.get(task, {}))
        merged.update(flatten(cfg_options.get(task, {})))
        merged.update(flatten((exp.variants[variant].get('cfg_options') or {}).get(task, {})))
        if seed is not None:
            merged['randomness.seed'] = seed
        return [f'{k}={v}'.replace('{toy_root}', toy_root).replace('{data_root}', data_root)
                for k, v in merged.items()]

    def new_run(variant, task, seed, config, metrics, kind, opts, **kwargs) -> Run:
        return Run(variant, task, seed, config, osp.join(variant_dir(work_dir, variant, seed),
                                                         task),
                   list(metrics), kind, opts, robustness=robustness, **kwargs)

    fixed = set()  # (variant, task) of fixed-checkpoint evaluations already planned
    for seed in seeds:
        for variant, spec in exp.variants.items():
            if spec.get('from_scratch'):
                for task, tspec in exp.tasks.items():
                    if tspec.kind == 'cls':
                        continue
                    option = tspec.get('checkpoint_option', 'model.backbone.init_cfg.checkpoint')
                    init_key = option.rsplit('.', 1)[0]
                    runs.append(new_run(
                        variant, task, seed, tspec.config.format(variant=spec.get('arch', 'gap')),
                        tspec.metrics, tspec.kind,
                        options(task, seed, variant) + [f'{init_key}=None'],
                        from_scratch=True, inputs=dict(toy_data=toy_data),
                        varies=['finetune_seed']))
                continue
            inputs = dict(toy_data=toy_data, pretrain_config=spec.get('pretrain_config'),
                          checkpoint=spec.get('checkpoint'))
            if pretrain:
                pretrain_run = new_run(variant, 'pretrain', seed, spec.pretrain_config,
                                       ['accuracy/top1'], 'cls',
                                       options('pretrain', seed, variant), inputs=inputs,
                                       varies=['pretrain_seed'])
                runs.append(pretrain_run)
                trunk = osp.join(pretrain_run.work_dir, TRUNK_FILE)
                classifier = osp.join(pretrain_run.work_dir, CLASSIFIER_FILE)
                after = [pretrain_run.name]
            else:
                trunk = osp.join(published_dir(work_dir, variant), TRUNK_FILE)
                classifier = osp.join(published_dir(work_dir, variant), CLASSIFIER_FILE)
                after = []
            for task, tspec in exp.tasks.items():
                if tspec.kind == 'cls':  # evaluate the pretrained classifier itself
                    if not pretrain and (variant, task) in fixed:
                        continue
                    fixed.add((variant, task))
                    run_seed = seed if pretrain else None
                    runs.append(new_run(variant, task, run_seed, spec.pretrain_config,
                                        tspec.metrics, 'cls',
                                        options(task, run_seed, variant), evaluate_only=True,
                                        inputs=inputs, pretrained=classifier,
                                        depends_on=list(after),
                                        varies=['pretrain_seed'] if pretrain else []))
                    continue
                runs.append(new_run(variant, task, seed, tspec.config.format(variant=variant),
                                    tspec.metrics, tspec.kind, options(task, seed, variant),
                                    checkpoint_option=tspec.get(
                                        'checkpoint_option',
                                        'model.backbone.init_cfg.checkpoint'),
                                    inputs=inputs, pretrained=trunk, depends_on=list(after),
                                    varies=list(SEED_SOURCES) if pretrain else ['finetune_seed']))
    return runs
