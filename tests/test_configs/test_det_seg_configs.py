# Copyright (c) mmgcp contributors. All rights reserved.
"""Every detection / segmentation transfer config builds through mmdet / mmseg and trains a step
(weights not loaded); trunk variants (-s1, -d2, R-101) differ from their base only where they
should (GCP / DropCov vs GAP twins: test_gap_twins.py); the stride-1 models train at full size;
pretrained trunks and GCP reductions arrive in the downstream models; a missing checkpoint stops
with a how-to."""
import copy
import functools
import glob
import json
import os.path as osp

import mmdet  # noqa: F401  a dependency of mmgcp
import mmseg  # noqa: F401  a dependency of mmgcp
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DET_DIRS = ('configs/mask_rcnn', 'configs/faster_rcnn', 'configs/toy/det')
SEG_DIRS = ('configs/upernet', 'configs/toy/seg')
CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT) for d in DET_DIRS + SEG_DIRS
    for p in glob.glob(osp.join(REPO_ROOT, d, '*.py')))
# R-101 configs are their R-50 config with depth 101 (checked below): the GCP ones build, and the
# R-50 ones run the forward/backward pass, which keeps this file within a few minutes on 2 cores.
TRAIN_STEP_CONFIGS = [c for c in CONFIGS if '_r101-' not in c]


@functools.lru_cache(maxsize=None)
def _load(path: str) -> Config:
    return Config.fromfile(osp.join(REPO_ROOT, path))


def _cfg(path: str) -> Config:
    """The config (parsed once per session; a copy, so tests may edit it)."""
    return copy.deepcopy(_load(path))


def _ids(paths):
    return [osp.basename(p)[:-3] for p in paths]


def _necks(model_cfg) -> list:
    neck = model_cfg.get('neck')
    return list(neck) if isinstance(neck, (list, tuple)) else [neck] if neck else []


def _reduction_init_cfgs(model_cfg) -> list:
    parts = _necks(model_cfg) + [model_cfg.get('decode_head')]
    return [p['reduction_init_cfg'] for p in parts if p and p.get('reduction_init_cfg')]


def _no_weights(cfg: Config) -> Config:
    """The config with nothing loaded from disk: no init_cfg of the trunk, no reduction_init_cfg."""
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    for part in _necks(cfg.model) + [cfg.model.get('decode_head')]:
        if part:
            part.pop('reduction_init_cfg', None)
    return cfg


def _build(cfg: Config):
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    # SyncBN needs a process group; the Runner does the same when not distributed.
    return revert_sync_batchnorm(model)


def _strip_checkpoints(cfg: Config) -> dict:
    """The config as a dict without the checkpoint paths and their pretraining configs."""
    data = copy.deepcopy(cfg.to_dict())
    data.pop('pretrained', None)
    for init in [data['model']['backbone'].get('init_cfg')] + _reduction_init_cfgs(
            data['model']):
        if init:
            init.pop('checkpoint', None)
            init.pop('pretrain_config', None)
    return data


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Small inputs: per-op overhead dominates, and a second thread only competes for 2 cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- what every config states ------------------------------------------------------------------

def test_expected_configs_exist():
    names = {osp.basename(p) for p in CONFIGS}
    for det in ('mask-rcnn', 'faster-rcnn'):
        for depth in (50, 101):
            for variant in ('gap', 'gcp', 'dropcov'):
                for trunk in ('', '-s1', '-d2'):
                    assert f'{det}_r{depth}-{variant}{trunk}_fpn_1x_coco.py' in names
        assert f'{det}_r50-gcp_cov-fpn_1x_coco.py' in names
        assert f'{det}_r50-gap_cov-fpn_1x_coco.py' in names
    for depth in (50, 101):
        for variant in ('gap', 'gcp', 'dropcov'):
            for trunk in ('', '-s1'):
                assert f'upernet_r{depth}-{variant}{trunk}_4xb4-160k_ade20k-512x512.py' in names
    for variant in ('gap', 'gcp', 'dropcov'):
        assert f'mask-rcnn_r50-{variant}_cov-fpn_1x_coco.py' in names
        assert f'upernet-cov_r50-{variant}_4xb4-160k_ade20k-512x512.py' in names
    for variant in ('gap', 'dropcov'):
        assert f'upernet_deit-s16-{variant}_8xb2-160k_ade20k-512x512.py' in names
    for variant in ('gap', 'gcp', 'dropcov'):
        assert f'mask-rcnn_r18-w16-{variant}_fpn_1xb4_toy.py' in names
        assert f'upernet_r18-w16-{variant}_1xb4_toy-128x128.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=_ids(CONFIGS))
def test_pretrained_is_one_named_checked_setting(path):
    cfg = _cfg(path)
    assert 'mmgcp.models' in cfg.custom_imports['imports']
    assert cfg.default_scope == ('mmdet' if path.startswith(DET_DIRS) else 'mmseg')
    init = cfg.model.backbone.init_cfg
    assert init.type == 'mmgcp.PretrainedChecked'
    assert init.checkpoint == cfg.pretrained and init.prefix == 'backbone.'
    assert osp.isfile(osp.join(REPO_ROOT, init.pretrain_config)), init.pretrain_config
    variant = osp.basename(path).split('_')[1]  # r50-gcp-d2, r18-w16-gap, deit-s16-dropcov
    for name in ('gap', 'gcp', 'dropcov'):
        if f'-{name}' in variant:
            assert f'-{name}_' in init.pretrain_config and f'-{name}_' in cfg.pretrained
    if cfg.default_scope == 'mmseg':
        assert cfg.model.get('pretrained') is None  # mmseg's model-level pretrained is off
    for reduction_init in _reduction_init_cfgs(cfg.model):
        assert reduction_init.type == 'mmgcp.PretrainedChecked' and reduction_init.strict
        assert reduction_init.checkpoint == cfg.pretrained
        assert reduction_init.prefix == 'neck.reduction.'


UPERNET_RESNETS = [c for c in CONFIGS if 'upernet' in c and 'deit' not in c and 'vit' not in c]


@pytest.mark.parametrize('path', UPERNET_RESNETS, ids=_ids(UPERNET_RESNETS))
def test_upernet_resnets_are_plain_resnet_v1b(path):
    backbone = _cfg(path).model.backbone
    assert backbone.type == 'ResNet' and not backbone.deep_stem
    assert not backbone.get('avg_down', False)


# --- trunk variants differ from their base only where they should --------------------------

def _pairs(pattern_a, pattern_b):
    """Every config whose name has ``pattern_a``, with the config named with ``pattern_b``
    instead; a missing one is an error."""
    pairs = []
    for path in CONFIGS:
        if pattern_a in osp.basename(path):
            twin = osp.join(osp.dirname(path), osp.basename(path).replace(pattern_a, pattern_b))
            pairs.append((path, twin))
    return pairs


def _roi_extractors(model_cfg) -> list:
    return [k for k in ('bbox_roi_extractor', 'mask_roi_extractor')
            if k in model_cfg.get('roi_head', {})]


S1 = _pairs('-s1_', '_')  # not 'deit-s16'


@pytest.mark.parametrize('path, twin', S1, ids=_ids([p for p, _ in S1]))
def test_s1_variant_is_the_trunk_as_trained_with_heads_at_its_strides(path, twin, config_diff):
    # the papers' code trains layer4 at stride 1 with dilation 1: C5 at stride 16
    a, b = _cfg(path), _cfg(twin)
    assert a.model.backbone.strides == (1, 2, 2, 1)
    assert a.model.backbone.dilations == (1, 1, 1, 1)
    diff = set(config_diff(a.to_dict(), b.to_dict()))
    if a.default_scope == 'mmseg':
        # UPerHead resizes each level to the next finer one: only the trunk changes (mmseg's
        # UperNet states dilation 1 already)
        assert diff == {'model.backbone.strides'}
        return
    assert a.model.rpn_head.anchor_generator.strides == [4, 8, 16, 16, 32]
    # the same anchor sizes as the stride-2 twin's (32..512 px)
    assert a.model.rpn_head.anchor_generator.base_sizes == [4, 8, 16, 32, 64]
    extractors = _roi_extractors(a.model)
    for key in extractors:
        assert a.model.roi_head[key].featmap_strides == [4, 8, 16, 16]
    expected = {'model.backbone.strides', 'model.backbone.dilations',
                'model.rpn_head.anchor_generator.strides',
                'model.rpn_head.anchor_generator.base_sizes'}
    expected |= {f'model.roi_head.{k}.featmap_strides' for k in extractors}
    assert diff == expected


D2 = _pairs('-d2_', '-s1_')


@pytest.mark.parametrize('path, twin', D2, ids=_ids([p for p, _ in D2]))
def test_d2_variant_is_s1_with_dilation_two(path, twin, config_diff):
    a, b = _cfg(path), _cfg(twin)
    assert a.model.backbone.dilations == (1, 1, 1, 2)
    assert config_diff(a.to_dict(), b.to_dict()) == ['model.backbone.dilations']


S1_CONFIGS = [p for p, _ in S1]
C5_AT_16 = [4, 8, 16, 16]  # C2..C5 strides of a trunk with layer4 at stride 1


def _strides(size: int, feats) -> list:
    """Input size over each feature map's width: the stride of each level."""
    return [size // f.shape[-1] for f in feats]


@pytest.mark.parametrize('path', S1_CONFIGS, ids=_ids(S1_CONFIGS))
def test_s1_config_builds_at_full_size_and_its_heads_read_the_real_strides(path):
    cfg = _no_weights(_cfg(path))
    model = _build(cfg).eval()  # full size: R-50/101, 256-channel FPN, 512-channel UperNet
    size = 64
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, size, size))
        assert _strides(size, feats) == C5_AT_16
        if cfg.default_scope == 'mmseg':
            # the decode head fuses every level at 1/4
            assert _strides(size, [model.decode_head(list(feats))]) == [4]
            return
        levels = model.neck(feats)
    strides = _strides(size, levels)
    assert strides == C5_AT_16 + [32]
    assert [s for s, _ in model.rpn_head.prior_generator.strides] == strides
    for key in _roi_extractors(cfg.model):
        assert getattr(model.roi_head, key).featmap_strides == C5_AT_16


R101 = _pairs('_r101-', '_r50-')


@pytest.mark.parametrize('path, twin', R101, ids=_ids([p for p, _ in R101]))
def test_r101_is_r50_with_depth_101_and_its_checkpoint(path, twin, config_diff):
    a, b = _cfg(path), _cfg(twin)
    assert a.model.backbone.depth == 101 and 'resnet101-' in a.pretrained
    diff = config_diff(_strip_checkpoints(a), _strip_checkpoints(b))
    assert diff == ['model.backbone.depth']
    if '-gcp' in path:  # the other R-101 models are these (checked by the twin test)
        model = _build(_no_weights(a))
        assert [len(getattr(model.backbone, f'layer{i}')) for i in range(1, 5)] == [3, 4, 23, 3]


def test_upernet_twin_is_mmseg_upernet_with_plain_resnet(config_diff):
    ours = _cfg('configs/upernet/upernet_r50-gap_4xb4-160k_ade20k-512x512.py')
    theirs = Config.fromfile(
        osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'upernet',
                 'upernet_r50_4xb4-160k_ade20k-512x512.py'))
    diff = config_diff(ours.to_dict(), theirs.to_dict())
    assert set(diff) == {
        'custom_imports', 'pretrained', 'model.pretrained', 'model.backbone.type',
        'model.backbone.deep_stem', 'model.backbone.avg_down', 'model.backbone.init_cfg'
    }


# --- build and one training step on small input ------------------------------------------------

def _det_inputs(cfg):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(batch_size=1, image_shapes=[(3, 128, 160)], num_items=[2],
                          num_classes=cfg.model.roi_head.bbox_head.num_classes, with_mask=True)


def _seg_inputs(cfg):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    size = 64  # UperNet's 512-channel decoder at 1/4 resolution dominates the cost
    num_classes = cfg.model.decode_head.num_classes
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 255, (3, size, size), dtype=torch.uint8))
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, size, size)))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                                 pad_shape=(size, size)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _same_model_groups(paths):
    """Configs grouped by their model once no weights are loaded (GAP / GCP / DropCov twins
    often are the very same model): a training step costs about as much as the model has
    parameters, so each group takes one step, under an id naming every config it stands for."""
    groups = {}
    for path in paths:
        key = json.dumps(_no_weights(_cfg(path)).model.to_dict(), sort_keys=True, default=str)
        groups.setdefault(key, []).append(path)
    return list(groups.values())


STEP_GROUPS = _same_model_groups(TRAIN_STEP_CONFIGS)


@pytest.mark.parametrize('paths', STEP_GROUPS,
                         ids=['+'.join(_ids(group)) for group in STEP_GROUPS])
def test_config_builds_and_trains_one_step(paths):
    path = paths[0]  # the others build the identical model (grouped by their model config)
    cfg = _no_weights(_cfg(path))
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (64, 64)  # instead of padding to 512
    if cfg.default_scope == 'mmdet':  # fewer proposals and RoIs: a cheaper step, same code path
        cfg.model.train_cfg.rpn_proposal.max_per_img = 64
        cfg.model.train_cfg.rcnn.sampler.num = 32
    model = _build(cfg)
    model.train()
    torch.manual_seed(0)
    data = (_det_inputs if cfg.default_scope == 'mmdet' else _seg_inputs)(cfg)
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k and isinstance(v, torch.Tensor))
    total = total + sum(sum(x.sum() for x in v) for k, v in losses.items()
                        if 'loss' in k and isinstance(v, (list, tuple)))
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    cov_modules = [m for m in model.modules() if hasattr(m, 'reduced_channels')]
    for module in cov_modules:
        # the covariance branch is part of the graph
        assert module.reduction.conv.weight.grad is not None


def _record_inputs(module, store: list):
    """Keep the feature maps ``module`` receives (its first argument) in ``store``."""
    return module.register_forward_pre_hook(lambda _, args: store.append(list(args[0])))


def _loss_backward(model, data: dict) -> None:
    data = model.data_preprocessor(data, True)
    losses = model(**data, mode='loss')
    total = model.parse_losses(losses)[0]
    assert torch.isfinite(total), losses
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    return data


@pytest.mark.slow
def test_s1_mask_rcnn_trains_a_step_at_1333x800():
    from mmdet.testing import demo_mm_inputs
    cfg = _no_weights(_cfg('configs/mask_rcnn/mask-rcnn_r50-gcp-s1_fpn_1x_coco.py'))
    model = _build(cfg).train()
    rpn_in, bbox_in, mask_in = [], [], []
    _record_inputs(model.rpn_head, rpn_in)
    _record_inputs(model.roi_head.bbox_roi_extractor, bbox_in)
    _record_inputs(model.roi_head.mask_roi_extractor, mask_in)
    torch.manual_seed(0)
    data = demo_mm_inputs(batch_size=1, image_shapes=[(3, 800, 1333)], num_items=[3],
                          num_classes=80, with_mask=True)
    data = _loss_backward(model, data)
    height, width = data['inputs'].shape[-2:]  # padded to a multiple of 32
    assert (height, width) == (800, 1344)
    # what the heads see: C5 (P5) at 1/16 of the input, P6 at 1/32
    assert [(f.shape[-2], f.shape[-1]) for f in rpn_in[0]] == [
        (height // s, width // s) for s in C5_AT_16 + [32]]
    assert [s for s, _ in model.rpn_head.prior_generator.strides] == C5_AT_16 + [32]
    for seen, extractor in ((bbox_in, model.roi_head.bbox_roi_extractor),
                            (mask_in, model.roi_head.mask_roi_extractor)):
        assert _strides(width, seen[0]) == extractor.featmap_strides == C5_AT_16


@pytest.mark.slow
def test_s1_upernet_trains_a_step_at_512x512():
    cfg = _no_weights(_cfg('configs/upernet/upernet_r50-gcp-s1_4xb4-160k_ade20k-512x512.py'))
    model = _build(cfg).train()
    # the modules that read the trunk's levels: UPerHead's lateral convs (C2..C4) and pyramid
    # pooling (C5), the auxiliary FCN head's convs (C4)
    head = model.decode_head
    readers = list(head.lateral_convs) + [head.psp_modules, model.auxiliary_head.convs]
    seen = []
    for reader in readers:
        reader.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    torch.manual_seed(0)
    size = 512
    # two images: the pyramid pooling's 1x1 bin has one value per channel and image, and BN in
    # training needs more than one (the recipe has 4 per GPU)
    inputs, samples = [], []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, size, size)))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                                 pad_shape=(size, size)))
        inputs.append(torch.randint(0, 255, (3, size, size), dtype=torch.uint8))
        samples.append(sample)
    data = _loss_backward(model, dict(inputs=inputs, data_samples=samples))
    assert data['inputs'].shape[-2:] == (size, size)
    assert _strides(size, seen) == C5_AT_16 + [16]


# --- pretrained weights arrive, missing ones are explained -------------------------------------

def _classifier_checkpoint(config: str, path: str) -> dict:
    """A randomly filled mmpretrain classifier of ``config`` saved in mmpretrain's format:
    ``state_dict`` with ``backbone.*`` and ``neck.*`` (the head is not needed downstream)."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    state = {}
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for part in ('backbone', 'neck'):
            if cfg.model.get(part):
                module = MODELS.build(cfg.model[part])
                state.update({f'{part}.{k}': v for k, v in module.state_dict().items()})
    with torch.no_grad():
        for name, tensor in state.items():
            if tensor.is_floating_point():
                tensor.normal_(std=0.1)
                if 'running_var' in name:
                    tensor.abs_().add_(0.5)
    torch.save({'state_dict': state, 'meta': {'config': config}}, path)
    return state


def _build_part(cfg: Config, part: str):
    """One part of the model (``backbone``, ``decode_head``, ...) built alone: cheaper."""
    part_cfg = copy.deepcopy(cfg)
    part_cfg.model = cfg.model[part]
    return _build(part_cfg)


def _assert_loaded(module, state: dict, prefix: str):
    own = module.state_dict()
    loaded = [k for k in state if k.startswith(prefix)]
    assert loaded
    for key in loaded:
        name = key[len(prefix):]
        assert name in own, f'{key} has no place in {type(module).__name__}'
        torch.testing.assert_close(own[name], state[key], msg=f'{key} did not arrive')


@pytest.fixture(scope='module')
def r50_gcp_checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'resnet50-gcp_8xb32_in1k.pth')
    return path, _classifier_checkpoint('configs/pretrain/resnet50-gcp_8xb32_in1k.py', path)


def test_gcp_classifier_loads_into_detector_with_gcp_neck(r50_gcp_checkpoint):
    path, state = r50_gcp_checkpoint
    cfg = _cfg('configs/mask_rcnn/mask-rcnn_r50-gcp_cov-fpn_1x_coco.py')
    cfg.model.backbone.init_cfg.checkpoint = path
    cfg.model.neck[0].reduction_init_cfg.checkpoint = path
    model = _build(cfg)
    model.init_weights()  # the whole detector, through mmengine's init order
    _assert_loaded(model.backbone, state, 'backbone.')
    _assert_loaded(model.neck[0].reduction, state, 'neck.reduction.')
    assert type(model.neck[1]).__name__ == 'FPN'


@pytest.mark.parametrize('config', [
    'configs/mask_rcnn/mask-rcnn_r50-gcp-d2_fpn_1x_coco.py',
    'configs/upernet/upernet_r50-gcp_4xb4-160k_ade20k-512x512.py',
])
def test_gcp_classifier_trunk_loads_into_mmdet_and_mmseg_resnet(config, r50_gcp_checkpoint):
    path, state = r50_gcp_checkpoint
    cfg = _cfg(config)
    cfg.model.backbone.init_cfg.checkpoint = path
    backbone = _build_part(cfg, 'backbone')
    backbone.init_weights()
    _assert_loaded(backbone, state, 'backbone.')


def test_deit_small_loads_into_mmseg_vit(tmp_path):
    # the GAP and DropCov DeiT-S classifiers have the same trunk (and configs, checked above)
    variant = 'dropcov'
    from mmgcp.models.utils import resize_pos_embed
    path = str(tmp_path / 'deit.pth')
    state = _classifier_checkpoint(f'configs/pretrain/deit-small-{variant}_8xb128_in1k.py', path)
    cfg = _cfg(f'configs/upernet/upernet_deit-s16-{variant}_8xb2-160k_ade20k-512x512.py')
    cfg.model.backbone.init_cfg.checkpoint = path
    backbone = _build_part(cfg, 'backbone')
    backbone.init_weights()
    vit = backbone.state_dict()
    renamed = {}
    for key, value in state.items():
        if key.startswith('backbone.'):
            key = key[len('backbone.'):].replace('.attn.qkv.', '.attn.attn.in_proj_')
            renamed[key.replace('.attn.proj.', '.attn.attn.out_proj.')] = value
    # every trunk tensor of mmseg's ViT comes from the checkpoint
    assert set(vit) <= set(renamed), set(vit) - set(renamed)
    for key in vit:
        expected = renamed[key]
        if key == 'pos_embed':
            assert expected.shape == (1, 197, 384) and vit[key].shape == (1, 1025, 384)
            expected = resize_pos_embed(expected, 1024)
        torch.testing.assert_close(vit[key], expected, msg=key)


@pytest.mark.parametrize('config', [
    'configs/mask_rcnn/mask-rcnn_r50-gcp_fpn_1x_coco.py',
    'configs/upernet/upernet_r101-dropcov_4xb4-160k_ade20k-512x512.py',
    'configs/upernet/upernet_deit-s16-dropcov_8xb2-160k_ade20k-512x512.py',
])
def test_missing_checkpoint_stops_with_how_to(config, tmp_path):
    cfg = _cfg(config)
    cfg.model.backbone.init_cfg.checkpoint = str(tmp_path / 'not-here.pth')
    # the whole detector (mmengine's init order), the trunk alone for the others (cheaper)
    model = _build(cfg) if 'mask_rcnn' in config else _build_part(cfg, 'backbone')
    with pytest.raises(FileNotFoundError) as info:
        model.init_weights()
    message = str(info.value)
    assert 'not-here.pth' in message and "'backbone.*'" in message
    assert f'python tools/train.py {cfg.model.backbone.init_cfg.pretrain_config}' in message
    assert 'tools/model_converters' in message
    assert '--cfg-options model.backbone.init_cfg.checkpoint=PATH' in message


def test_pretrained_checked_names_a_prefix_that_matches_nothing(tmp_path):
    from mmengine.model.weight_init import initialize

    import mmgcp.models  # noqa: F401  registers mmgcp.PretrainedChecked, as custom_imports does
    path = str(tmp_path / 'trunk.pth')
    torch.save({'state_dict': {'backbone.conv1.weight': torch.zeros(2, 3, 1, 1)}}, path)
    module = torch.nn.Conv2d(3, 2, 1)
    with pytest.raises(KeyError, match="no keys starting with 'neck.reduction.'"):
        initialize(module, dict(type='mmgcp.PretrainedChecked', checkpoint=path,
                                prefix='neck.reduction.'))
    initialize(module, dict(type='mmgcp.PretrainedChecked', checkpoint=path, prefix='backbone',
                            revise_keys=[(r'^conv1\.', '')]))
    assert module.weight.abs().sum() == 0


def test_pretrained_checked_leaves_urls_to_mmengine():
    from mmgcp.models.utils import check_checkpoint_exists
    check_checkpoint_exists('torchvision://resnet50')
    check_checkpoint_exists('https://download.openmmlab.com/x.pth')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_checkpoint_exists('checkpoints/surely-missing.pth')
