# Copyright (c) mmgcp contributors. All rights reserved.
"""The plan of a benchmark: every run with its recipe (world size, batch, lr), its dependencies,
its commands, and every input it needs, checked before anything starts.

A run keeps the recipe its config was published with: the number of GPUs comes from the
OpenMMLab name (``..._8xb32_...`` = 8 GPUs x 32 images, ``..._4xb4-160k_...`` = 4 x 4) or, for
mmdet's schedule names without it (``..._1x_coco``), mmdet's convention of 8 GPUs; the images per
GPU from ``train_dataloader.batch_size`` (after every option of the run). The total batch is never
changed silently: a run that needs more GPUs than it gets is an error unless ``auto_scale_lr`` is
asked for, which then scales the lr linearly (mmengine's ``auto_scale_lr``) and says so.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import re
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config, DictAction

from .experiment import Run, expand_runs

PLAN_FILE = 'plan.json'
#: ``_8xb32_`` in an OpenMMLab config name: GPUs x images per GPU.
RECIPE_NAME = re.compile(r'[_-](\d+)xb(\d+)(?=[_.-])')
#: World size of configs whose name has no ``NxbM`` (mmdet's ``1x``/``2x`` schedules are for 8 GPUs
#: x 2 images, see mmdet's config README).
LIBRARY_DEFAULT_GPUS = {'det': 8}
LAUNCHERS = ('none', 'pytorch', 'slurm')
DEVICES = ('cuda', 'cpu')

#: How to get a missing data set, by dataset type (``{path}`` is the missing path).
HOW_TO_GET = {
    'CocoDataset': 'COCO 2017 (train2017/, val2017/, annotations/instances_*2017.json) from '
                   'https://cocodataset.org/#download, unpacked so that {path} exists '
                   '(mmdet docs, "Dataset Prepare")',
    'ADE20KDataset': 'ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu, unpacked '
                     'so that {path} exists (mmseg docs, "Dataset Preparing")',
    'ImageNet': 'ILSVRC2012 train/ and val/ (class folders) and meta/{{train,val}}.txt from '
                'https://image-net.org, so that {path} exists (mmpretrain docs, '
                '"Prepare Dataset")',
}


@dataclass
class LaunchSettings:
    """How the runs of a benchmark are launched.

    Args:
        launcher (str): ``'none'`` (one process per run), ``'pytorch'`` (``tools/dist_train.sh``
            with the recipe's world size) or ``'slurm'`` (one ``sbatch`` job per run, ``srun``
            inside). Defaults to ``'none'``.
        gpus (int, optional): GPUs per node (``slurm``) or on this machine (``none``/``pytorch``).
            None: the GPUs torch sees here (``slurm`` needs it given).
        device (str): What the experiment's recipes are sized for: ``'cuda'`` or ``'cpu'`` (the
            toy preset; then each GPU of the recipe is one CPU process). Defaults to ``'cuda'``.
        auto_scale_lr (bool): When a run gets fewer GPUs than its recipe, scale its lr linearly
            instead of stopping. Defaults to False.
        partition (str, optional): Slurm partition (default: the cluster's default partition).
        cpus_per_task (int): CPUs per process. Defaults to 1 on CPU recipes, 5 on GPU ones.
        sbatch_args (list[str]): Extra ``sbatch`` arguments.
        srun_args (list[str]): Extra ``srun`` arguments.
    """
    launcher: str = 'none'
    gpus: Optional[int] = None
    device: str = 'cuda'
    auto_scale_lr: bool = False
    partition: Optional[str] = None
    cpus_per_task: Optional[int] = None
    sbatch_args: List[str] = field(default_factory=list)
    srun_args: List[str] = field(default_factory=list)

    def __post_init__(self):
        if self.launcher not in LAUNCHERS:
            raise ValueError(f'unknown launcher {self.launcher!r}; use one of {LAUNCHERS}.')
        if self.device not in DEVICES:
            raise ValueError(f'device must be one of {DEVICES}, got {self.device!r}.')
        if self.gpus is not None and self.gpus < 0:
            raise ValueError(f'--gpus must be >= 0, got {self.gpus}.')
        if self.launcher != 'slurm':
            given = [name for name, value in (('--slurm-partition', self.partition),
                                              ('--sbatch-args', self.sbatch_args),
                                              ('--srun-args', self.srun_args)) if value]
            if given:
                raise ValueError(f'{", ".join(given)} only apply to --launcher slurm (got '
                                 f'--launcher {self.launcher}).')
        if self.cpus_per_task is None:
            self.cpus_per_task = 1 if self.device == 'cpu' else 5

    def gpus_here(self) -> int:
        """GPUs available to one run (per node for Slurm)."""
        if self.gpus is not None:
            return self.gpus
        if self.launcher == 'slurm' and self.device == 'cuda':
            raise ValueError('--launcher slurm needs --gpus N: the GPUs per node of the '
                             'partition (e.g. --gpus 8).')
        import torch
        return torch.cuda.device_count()


def parse_cfg_options(options: List[str]) -> dict:
    """``['a.b=1', ...]`` -> ``{'a.b': 1}``, parsed exactly as ``tools/train.py`` parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *options]).cfg_options if options else {}


def recipe_gpus(config: str, kind: str) -> Tuple[int, str]:
    """The world size a config was published with and where it comes from."""
    match = RECIPE_NAME.search(osp.basename(config))
    if match:
        return int(match.group(1)), f'name {match.group(0).strip("_-.")}'
    if kind in LIBRARY_DEFAULT_GPUS:
        return LIBRARY_DEFAULT_GPUS[kind], 'mmdet default (8 GPUs)'
    raise ValueError(f'{config}: the name says nothing about the GPU count of its recipe; name it '
                     'the OpenMMLab way (e.g. ..._8xb32_...) so the benchmark can keep the recipe.')


def _datasets(dataset: dict):
    """A dataloader's dataset and the datasets inside wrappers (Concat/Repeat/ClassBalanced)."""
    if not isinstance(dataset, dict):
        return
    if 'dataset' in dataset:
        yield from _datasets(dataset['dataset'])
    elif 'datasets' in dataset:
        for inner in dataset['datasets']:
            yield from _datasets(inner)
    else:
        yield dataset


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or path.startswith(root) else osp.join(root, path)


def required_inputs(cfg: Config, splits=('train', 'val', 'test')) -> List[dict]:
    """Every data folder and annotation file a config reads: ``[{path, kind, dataset}]``."""
    needed = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        for ds in _datasets((loader or {}).get('dataset')):
            root = ds.get('data_root') or ''
            dtype = str(ds.get('type', 'dataset')).split('.')[-1]
            if root:
                needed.append(dict(path=root, kind='dir', dataset=dtype))
            if ds.get('ann_file'):
                needed.append(dict(path=_join(root, ds['ann_file']), kind='file', dataset=dtype))
            prefix = ds.get('data_prefix')
            prefixes = list(prefix.values()) if isinstance(prefix, dict) else [prefix]
            prefixes = [p for p in prefixes if isinstance(p, str) and p]
            for p in prefixes:
                needed.append(dict(path=_join(root, p), kind='dir', dataset=dtype))
            if not prefixes and ds.get('split') and root:  # mmpretrain's ImageNet(split=...)
                needed.append(dict(path=osp.join(root, ds['split']), kind='dir', dataset=dtype))
        evaluators = cfg.get(f'{split}_evaluator') if split != 'train' else None
        for ev in evaluators if isinstance(evaluators, list) else [evaluators]:
            if isinstance(ev, dict) and ev.get('ann_file'):
                needed.append(dict(path=ev['ann_file'], kind='file',
                                   dataset=str(ev.get('type', 'evaluator')).split('.')[-1]))
    unique = {}
    for item in needed:
        unique.setdefault(osp.normpath(item['path']), item)
    return list(unique.values())


_PARSED: Dict[tuple, Config] = {}


def _parsed_config(path: str) -> Config:
    """A config parsed once per process (and file version); no module it names is imported."""
    key = (osp.abspath(path), os.stat(path).st_mtime_ns)
    if key not in _PARSED:
        _PARSED[key] = Config.fromfile(path, import_custom_modules=False)
    return _PARSED[key]


def run_config(run: Run, repo_root: str = '') -> Config:
    """The run's config with its ``cfg_options`` merged, as the tools will see it (each file is
    parsed once per process; the modules it names are not imported).

    Args:
        run (Run): The run.
        repo_root (str): What a relative ``run.config`` is relative to. Defaults to the current
            directory.
    """
    cfg = copy.deepcopy(_parsed_config(osp.join(repo_root, run.config)))
    cfg.merge_from_dict(parse_cfg_options(run.cfg_options))
    return cfg


def _world_size(run_name: str, gpus: int, settings: LaunchSettings) -> dict:
    """Processes, nodes and lr scaling of a run whose recipe asks for ``gpus`` GPUs."""
    if settings.device == 'cpu':  # CPU recipes: one process per recipe GPU
        if settings.launcher == 'none' and gpus > 1:
            if settings.auto_scale_lr:
                return dict(world_size=1, nodes=1, scaled=True)
            return dict(error=f'{run_name}: its recipe has {gpus} processes, --launcher none runs '
                        'one; use --launcher pytorch or slurm, or --auto-scale-lr.')
        return dict(world_size=gpus, nodes=1, scaled=False)
    here = settings.gpus_here() if settings.launcher != 'none' else min(
        1, settings.gpus_here())
    if here == 0:
        return dict(error=f'{run_name}: its recipe is for {gpus} GPU(s) but '
                    f'{"--gpus 0 says" if settings.gpus == 0 else "torch sees"} no GPU here; '
                    'run it where GPUs are (e.g. --launcher slurm --gpus 8).')
    if settings.launcher == 'slurm':  # spans nodes when the recipe needs more than one has
        nodes = math.ceil(gpus / here)
        return dict(world_size=gpus, nodes=nodes, gpus_per_node=min(gpus, here), scaled=False)
    if gpus <= here:
        return dict(world_size=gpus, nodes=1, gpus_per_node=gpus, scaled=False)
    if settings.auto_scale_lr:
        return dict(world_size=here, nodes=1, gpus_per_node=here, scaled=True)
    return dict(error=f'{run_name}: its recipe is for {gpus} GPUs, {here} '
                f'{"is" if here == 1 else "are"} available to --launcher {settings.launcher}; '
                'use --launcher slurm (spans nodes), more GPUs (--launcher pytorch --gpus N), or '
                '--auto-scale-lr to train on fewer with a linearly scaled lr.')


def _lr(cfg: Config) -> Optional[float]:
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or cfg.get('optimizer') or {}
    lr = optimizer.get('lr')
    return float(lr) if lr is not None else None


def run_paths(run: Run, work_dir: str) -> Dict[str, str]:
    """Where a run's pretrained weights come from (the benchmark writes them there)."""
    variant_dir = osp.join(work_dir, 'runs', f'seed{run.seed}', run.variant)
    return dict(classifier=osp.join(variant_dir, 'pretrained_mmpretrain.pth'),
                trunk=osp.join(variant_dir, 'pretrained_backbone.pth'))


def train_args(run: Run, pretrained: Optional[str]) -> List[str]:
    """``tools/train.py`` arguments of a fresh run, as ``execute_run`` passes them."""
    options = list(run.cfg_options)
    if pretrained is not None and run.checkpoint_option and not run.evaluate_only:
        options.append(f'{run.checkpoint_option}={pretrained}')
    return ['--cfg-options', *options]


def build_plan(exp: Config, work_dir: str, seeds: List[int], settings: LaunchSettings,
               repo_root: str = '.', python: str = 'python') -> dict:
    """Expand the experiment into its plan and check every input, without reading any weights
    or images.

    Args:
        exp (Config): Experiment from :func:`load_experiment`.
        work_dir (str): The benchmark's work dir.
        seeds (list[int]): Seeds.
        settings (LaunchSettings): How runs are launched.
        repo_root (str): Repository root (relative paths of the configs start there).
        python (str): Interpreter in the commands.

    Returns:
        dict: ``{'runs': [...], 'missing': [...], 'errors': [...], 'settings': {...}}``; each run
        has name, variant, task, seed, config, gpus, samples_per_gpu, total_batch_size, lr,
        depends_on, train_command, test_command and more.
    """
    from .launchers import test_command, train_command
    runs = expand_runs(exp, work_dir, seeds)
    toy_root = (exp.get('toy_data') or {}).get('out_dir') if exp.get('toy_data') else None
    missing: Dict[str, dict] = {}
    errors: List[str] = []

    def need(path: str, kind: str, run: Run, how: str) -> None:
        full = path if osp.isabs(path) else osp.join(repo_root, path)
        if (osp.isdir(full) if kind == 'dir' else osp.isfile(full)):
            return
        if toy_root and osp.abspath(full).startswith(osp.abspath(osp.join(repo_root, toy_root))):
            return  # written by the toy_data step before any run starts
        entry = missing.setdefault(path, dict(path=path, kind=kind, how=how, needed_by=[]))
        entry['needed_by'].append(run.name)

    plan_runs = []
    for run in runs:
        entry = dict(name=run.name, variant=run.variant, task=run.task, seed=run.seed,
                     config=run.config, kind=run.kind, work_dir=run.work_dir,
                     evaluate_only=run.evaluate_only, depends_on=[])
        if run.from_scratch:  # random initialisation: nothing to wait for or to load
            pass
        elif exp.get('pretrain', False) and run.task != 'pretrain':
            entry['depends_on'] = [f'{run.variant}/pretrain/seed{run.seed}']
        elif not exp.get('pretrain', False):
            ckpt = exp.variants[run.variant].checkpoint
            need(ckpt, 'file', run, f'the pretrained {run.variant} classifier: convert a '
                 'published checkpoint with tools/model_converters/gcp2mmpretrain.py (or train '
                 f'{exp.variants[run.variant].get("pretrain_config", "its pretrain config")}) '
                 f'and set variants.{run.variant}.checkpoint (README, "Converting published '
                 'checkpoints")')
        config_path = osp.join(repo_root, run.config) if not osp.isabs(run.config) else run.config
        if not osp.isfile(config_path):
            errors.append(f'{run.name}: config {run.config} does not exist (check the experiment '
                          'config\'s pretrain_config / tasks.*.config).')
            plan_runs.append(entry)
            continue
        cfg = run_config(run, repo_root)
        for item in required_inputs(cfg, ('test', ) if run.evaluate_only else
                                    ('train', 'val', 'test')):
            how = HOW_TO_GET.get(item['dataset'], 'the {dataset} data set; see its library\'s '
                                 'dataset preparation docs').format(path=item['path'],
                                                                    dataset=item['dataset'])
            need(item['path'], item['kind'], run, how)
        try:
            gpus, source = recipe_gpus(run.config, run.kind)
        except ValueError as err:
            errors.append(str(err))
            plan_runs.append(entry)
            continue
        per_gpu = int(cfg.train_dataloader.batch_size)
        base_lr = _lr(cfg)
        launch = _world_size(run.name, gpus, settings)
        if 'error' in launch:
            errors.append(launch['error'])
            launch = dict(world_size=gpus, nodes=1, scaled=False)
        world = launch['world_size']
        recipe_total = gpus * per_gpu
        total = world * per_gpu
        lr = base_lr * total / recipe_total if launch['scaled'] and base_lr else base_lr
        extra = []
        if launch['scaled'] and not run.evaluate_only:
            # mmengine scales lr by world_size * batch_size / base_batch_size.
            extra = [f'auto_scale_lr.base_batch_size={recipe_total}', 'auto_scale_lr.enable=True']
        paths = run_paths(run, work_dir)
        pretrained = None if run.task == 'pretrain' or run.from_scratch else (
            paths['classifier'] if run.evaluate_only else paths['trunk'])
        entry.update(
            gpus=world, recipe_gpus=gpus, recipe_source=source, nodes=launch['nodes'],
            gpus_per_node=launch.get('gpus_per_node', 0 if settings.device == 'cpu' else world),
            samples_per_gpu=per_gpu, total_batch_size=total, recipe_total_batch_size=recipe_total,
            base_lr=base_lr, lr=lr, auto_scale_lr=bool(launch['scaled']), extra_cfg_options=extra,
            pretrained=pretrained)
        args = train_args(run, pretrained) + extra
        entry['train_command'] = [] if run.evaluate_only else train_command(
            entry, run.config, run.work_dir, args, settings, python)
        checkpoint = pretrained if run.evaluate_only else '<last checkpoint of the run>'
        entry['test_command'] = test_command(
            entry, run.config, checkpoint, run.work_dir,
            ['--out', osp.join(run.work_dir, 'test_metrics.json'), *train_args(run, pretrained)],
            settings, python)
        plan_runs.append(entry)
    return dict(runs=plan_runs, missing=list(missing.values()), errors=errors,
                settings=asdict(settings), seeds=list(seeds), work_dir=work_dir)


def write_plan(plan: dict, work_dir: str) -> str:
    """Write ``<work_dir>/plan.json`` atomically; returns its path."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, PLAN_FILE)
    with open(path + '.tmp', 'w') as f:
        json.dump(plan, f, indent=2)
    os.replace(path + '.tmp', path)
    return path


def read_plan(work_dir: str) -> dict:
    """The plan written by :func:`write_plan`."""
    with open(osp.join(work_dir, PLAN_FILE)) as f:
        return json.load(f)


def _fmt_lr(lr: Optional[float]) -> str:
    return '-' if lr is None else f'{lr:g}'


def plan_table(plan: dict) -> str:
    """The plan as a Markdown table (one row per run)."""
    lines = ['| run | config | GPUs (nodes) | batch/GPU | total batch | lr | after |',
             '|---|---|---|---|---|---|---|']
    for r in plan['runs']:
        if 'gpus' not in r:
            lines.append(f"| {r['name']} | {r['config']} | ? | ? | ? | ? | - |")
            continue
        what = 'eval only' if r['evaluate_only'] else str(r['total_batch_size'])
        lr = _fmt_lr(r['lr']) + (f" (scaled from {_fmt_lr(r['base_lr'])})"
                                 if r['auto_scale_lr'] else '')
        lines.append(f"| {r['name']} | {osp.basename(r['config'])} | {r['gpus']} ({r['nodes']}) "
                     f"| {r['samples_per_gpu']} | {what} | {lr} | "
                     f"{', '.join(r['depends_on']) or '-'} |")
    return '\n'.join(lines)


def problems_text(plan: dict) -> str:
    """Every missing input (with how to get it) and every error of a plan, or ''."""
    lines = []
    if plan['missing']:
        lines.append(f"{len(plan['missing'])} input(s) missing:")
        for item in plan['missing']:
            users = item['needed_by']
            shown = ', '.join(users[:3]) + (f' and {len(users) - 3} more' if len(users) > 3 else '')
            lines.append(f"  - {item['path']} ({item['kind']}, needed by {shown})\n"
                         f"      get it: {item['how']}")
    if plan['errors']:
        lines.append(f"{len(plan['errors'])} problem(s):")
        lines += [f'  - {e}' for e in plan['errors']]
    return '\n'.join(lines)


def plan_benchmark(exp: Config, work_dir: str, seeds: List[int], settings: LaunchSettings,
                   repo_root: str, python: str = 'python', stream=None) -> Tuple[dict, bool]:
    """Build, write and print the plan; ``ok`` is False while an input is missing or a run
    cannot keep its recipe (then nothing may start).

    Returns:
        tuple[dict, bool]: The plan and ``ok``.
    """
    import sys
    stream = stream or sys.stdout
    plan = build_plan(exp, work_dir, seeds, settings, repo_root, python)
    path = write_plan(plan, work_dir)
    stream.write(f"Plan ({len(plan['runs'])} runs, launcher {settings.launcher}): {path}\n\n"
                 f'{plan_table(plan)}\n')
    problems = problems_text(plan)
    if problems:
        stream.write(f'\n{problems}\n')
    stream.flush()
    return plan, not problems


def annotate_results(work_dir: str, plan: dict) -> Optional[str]:
    """Record every run's recipe (GPUs, total batch, lr, whether the lr was auto-scaled) in
    ``results.json`` (``meta.recipes``) and note auto-scaled runs under ``results.md``."""
    path = osp.join(work_dir, 'results.json')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        results = json.load(f)
    keys = ('gpus', 'recipe_gpus', 'samples_per_gpu', 'total_batch_size',
            'recipe_total_batch_size', 'base_lr', 'lr', 'auto_scale_lr')
    results.setdefault('meta', {})['recipes'] = {
        r['name']: {k: r[k] for k in keys if k in r} for r in plan['runs']}
    with open(path + '.tmp', 'w') as f:
        json.dump(results, f, indent=2)
    os.replace(path + '.tmp', path)
    scaled = [r for r in plan['runs'] if r.get('auto_scale_lr')]
    md = osp.join(work_dir, 'results.md')
    if scaled and osp.isfile(md):
        with open(md, 'a') as f:
            f.write('\nTrained on fewer GPUs than their recipe, lr scaled linearly '
                    '(--auto-scale-lr): ' + '; '.join(
                        f"{r['name']} {r['gpus']}x{r['samples_per_gpu']} (recipe "
                        f"{r['recipe_gpus']}x{r['samples_per_gpu']}), lr {r['lr']:g} "
                        f"(recipe {r['base_lr']:g})" for r in scaled) + '\n')
    return path
