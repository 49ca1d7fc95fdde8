# Copyright (c) mmgcp contributors. All rights reserved.
"""Every pretraining config builds through mmpretrain, trains a step, and has the papers' size."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', 'pretrain', '*.py')))
# torchvision ResNet trunks without fc (the published models' trunks).
TRUNK_PARAMS = {18: 11_176_512, 34: 21_284_672, 50: 23_508_032, 101: 42_500_160}
TRUNK_CHANNELS = {18: 512, 34: 512, 50: 2048, 101: 2048}


def _build(path):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(path)
    # The Runner gives the model the config's top-level data_preprocessor; do the same.
    if cfg.get('data_preprocessor') and 'data_preprocessor' not in cfg.model:
        cfg.model.data_preprocessor = dict(type='ClsDataPreprocessor', **cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return cfg, MODELS.build(cfg.model)


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_all_expected_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    for depth in TRUNK_PARAMS:
        for variant in ('gap', 'gcp', 'dropcov'):
            assert f'resnet{depth}-{variant}_8xb32_in1k.py' in names
    for name in ('resnet50-gcp_8xb32-lradju_in1k.py', 'resnet50-gcp_8xb32-lrfast_in1k.py',
                 'mobilenet-v2-gcp_8xb32_in1k.py', 'deit-small-dropcov_8xb128_in1k.py'):
        assert name in names


@pytest.mark.parametrize('depth', [18, 34, 50, 101])
@pytest.mark.parametrize('variant', ['gap', 'gcp', 'dropcov'])
def test_resnet_parameter_counts_match_the_papers(depth, variant):
    _, model = _build(osp.join(REPO_ROOT, 'configs', 'pretrain',
                               f'resnet{depth}-{variant}_8xb32_in1k.py'))
    c = TRUNK_CHANNELS[depth]
    assert _num_params(model.backbone) == TRUNK_PARAMS[depth]
    if variant == 'gap':
        expected = TRUNK_PARAMS[depth] + c * 1000 + 1000
    else:
        # 1x1 reduction C -> 256 (no bias) + BN(256) + fc 32896 -> 1000 (+3 for DropCov's ECA).
        expected = TRUNK_PARAMS[depth] + c * 256 + 2 * 256 + 32896 * 1000 + 1000
        expected += 3 if variant == 'dropcov' else 0
        assert model.backbone.strides[-1] == 1
    assert _num_params(model) == expected
    if (depth, variant) == (50, 'gcp'):
        assert expected == 56_929_832  # iSQRT-COV ResNet-50: 56.9M


def test_deit_small_dropcov_size():
    _, model = _build(
        osp.join(REPO_ROOT, 'configs', 'pretrain', 'deit-small-dropcov_8xb128_in1k.py'))
    _, gap = _build(osp.join(REPO_ROOT, 'configs', 'pretrain', 'deit-small-gap_8xb128_in1k.py'))
    trunk = _num_params(model.backbone)
    assert trunk == _num_params(gap.backbone)
    # qk projection 384 -> 2*6*24, fc_visual 3456 -> 1000, fc_cls 384 -> 1000.
    assert _num_params(model.head) == 384 * 288 + 3456 * 1000 + 1000 + 384 * 1000 + 1000


@pytest.mark.parametrize('size,width,heads,channels', [('tiny', 240, 6, 14), ('small', 384, 6, 24),
                                                        ('base', 768, 12, 24)])
def test_published_dropcov_vit_sizes(size, width, heads, channels):
    _, model = _build(osp.join(REPO_ROOT, 'configs', 'pretrain',
                               f'densetok-vit-{size}-dropcov_8xb128_in1k.py'))
    _, twin = _build(osp.join(REPO_ROOT, 'configs', 'pretrain',
                              f'densetok-vit-{size}-gap_8xb128_in1k.py'))
    assert model.backbone.embed_dims == width and len(model.backbone.layers) == 12
    assert _num_params(model.backbone) == _num_params(twin.backbone)
    # Linear(width, 3 x heads x c) without bias, heads x c x c -> 1000, width -> 1000
    assert _num_params(model.head) == (width * 3 * heads * channels + heads * channels**2 * 1000
                                       + 1000 + width * 1000 + 1000)
    assert _num_params(twin.head) == width * 1000 + 1000


DROPCOV_VIT_RECIPE = ['densetok-vit-small-dropcov', 'densetok-vit-small-gap', 'deit-small-dropcov',
                      'deit-small-gap']


@pytest.mark.parametrize('name', DROPCOV_VIT_RECIPE)
def test_published_dropcov_vit_recipe(name):
    """train_Deit_drop_Small.sh with main.py's defaults (docs/dropcov_vit.md), for the published
    DropCov ViT, mmgcp's DeiT-S DropCov and both GAP twins."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', f'{name}_8xb128_in1k.py'))
    assert cfg.train_dataloader.batch_size == 128 and cfg.auto_scale_lr.base_batch_size == 1024
    optim = cfg.optim_wrapper
    # no gradient clipping: mmpretrain's DeiT config clips at max_norm 5, the recipe does not
    assert optim.type == 'AmpOptimWrapper' and optim.clip_grad is None
    assert optim.optimizer.type == 'AdamW' and optim.optimizer.lr == 1e-3
    assert optim.optimizer.weight_decay == 0.03
    if name.startswith('densetok'):  # timm's rule on the published model
        assert optim.paramwise_cfg.custom_keys['.cls_token'].decay_mult == 1.0
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and warmup.end == 5 and warmup.start_factor == 1e-3
    assert cosine.type == 'CosineAnnealingLR' and (cosine.begin, cosine.end) == (5, 300)
    assert cosine.eta_min == 1e-5 and cfg.train_cfg.max_epochs == 310
    ema = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert ema == [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert [a.type for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']


def _resizes(pipeline) -> list:
    return [t for t in pipeline if 'Resize' in t['type']]


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_imagenet_pipelines_resize_with_pil_as_the_published_models(path):
    cfg = Config.fromfile(path)
    for split in ('train', 'val', 'test'):
        resizes = _resizes(cfg[f'{split}_dataloader'].dataset.pipeline)
        assert resizes, split
        assert all(t.get('backend') == 'pillow' for t in resizes), (split, resizes)


def test_mobilenet_v2_configs_use_mmpretrains_recipe():
    """The papers' MobileNetV2 recipe is not published: mmpretrain's, stated in the headers."""
    for variant in ('gap', 'gcp'):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain',
                                       f'mobilenet-v2-{variant}_8xb32_in1k.py'))
        assert cfg.train_cfg.max_epochs == 300 and cfg.optim_wrapper.optimizer.lr == 0.045
        assert cfg.param_scheduler.type == 'StepLR' and cfg.param_scheduler.gamma == 0.98


# One training step for each distinct model (deeper ResNets and schedule variants build the same
# modules and are covered by the parameter-count test, which builds every one of them).
# DenseTokenViT Tiny and Base build the modules of Small at other widths (built below).
STEP_CONFIGS = [p for p in CONFIGS if not osp.basename(p).startswith(
    ('resnet34', 'resnet101', 'densetok-vit-tiny', 'densetok-vit-base'))
                and '-lr' not in osp.basename(p)]


@pytest.mark.parametrize('path', STEP_CONFIGS, ids=[osp.basename(p) for p in STEP_CONFIGS])
def test_config_trains_one_step(path):
    from mmpretrain.structures import DataSample
    cfg, model = _build(path)
    model.train()
    torch.manual_seed(0)
    size = 224 if 'deit' in path else 64  # ViT's position embedding fixes the input size
    batch = 2
    data = dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8)
                        for _ in range(batch)],
                data_samples=[DataSample().set_gt_label(i) for i in range(batch)])
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    head_grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)


@pytest.mark.parametrize('name,epochs,span,power', [('lradju', 50, 49, 2), ('lrfast', 30, 52, 11)])
def test_lr_schedules_follow_the_papers_formulas(name, epochs, span, power):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain',
                                   f'resnet50-gcp_8xb32-{name}_in1k.py'))
    from mmengine.optim import PolyLR
    assert cfg.train_cfg.max_epochs == epochs
    sched_cfg = dict(cfg.param_scheduler)
    sched_cfg.pop('type')
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr)
    sched = PolyLR(opt, **sched_cfg)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]['lr'])
        sched.step()
    for e in range(1, epochs + 1):  # lr = 0.1 (1 - (e - 1) / span) ** power at epoch e
        assert lrs[e - 1] == pytest.approx(0.1 * (1 - (e - 1) / span) ** power, rel=1e-6, abs=1e-9)
