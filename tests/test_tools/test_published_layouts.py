# Copyright (c) mmgcp contributors. All rights reserved.
"""mmgcp/converters/published_layouts.py and tools/dataset_converters/make_paper_rehearsal.py.

Checkpoints written in each published layout must be read by the real converter
(tools/model_converters/gcp2mmpretrain.py, auto-detected and with its --format), fit the paper's
pretrain configs strictly, and the converted ``backbone.*`` / ``neck.*`` / ``head.*`` tensors
must be the written ones under the documented key mapping (docs/checkpoints.md), written out here.
"""
import hashlib
import os
import os.path as osp

import pytest
import torch

from mmgcp.converters import convert_checkpoint
from mmgcp.converters.published_layouts import (
    write_published_checkpoint,
    write_published_checkpoints,
)

NUM_CLASSES = 10  # small classifiers keep the files small; the trunk is the paper's ResNet-50

# layout -> (variant, --format, top-level keys of the file, {written key: converted key}).
LAYOUTS = {
    'fast-mpncov': ('gcp', 'fast-mpncov', {'epoch', 'arch', 'state_dict', 'best_prec1',
                                           'optimizer'}, {
        'features.module.0.weight': 'backbone.conv1.weight',
        'features.module.1.running_var': 'backbone.bn1.running_var',
        'features.module.5.0.downsample.0.weight': 'backbone.layer2.0.downsample.0.weight',
        'features.module.7.2.bn3.weight': 'backbone.layer4.2.bn3.weight',
        'representation.conv_dr_block.0.weight': 'neck.reduction.conv.weight',
        'representation.conv_dr_block.1.running_mean': 'neck.reduction.bn.running_mean',
        'classifier.weight': 'head.fc.weight',
        'classifier.bias': 'head.fc.bias',
    }),
    'cvpr20': ('gcp', 'cvpr20', {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer'}, {
        'module.conv1.weight': 'backbone.conv1.weight',
        'module.layer3.5.conv2.weight': 'backbone.layer3.5.conv2.weight',
        'module.layer1.0.bn1.num_batches_tracked': 'backbone.layer1.0.bn1.num_batches_tracked',
        'module.layer_reduce.weight': 'neck.reduction.conv.weight',
        'module.layer_reduce_bn.weight': 'neck.reduction.bn.weight',
        'module.fc.weight': 'head.fc.weight',
    }),
    'dropcov': ('dropcov', 'cvpr20', {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer'}, {
        'module.layer4.0.downsample.1.running_var': 'backbone.layer4.0.downsample.1.running_var',
        'module.layer_reduce_bn.bias': 'neck.reduction.bn.bias',
        'module.eca_layer.conv.weight': 'neck.attention.conv.weight',
        'module.fc.bias': 'head.fc.bias',
    }),
    'torchvision': ('gap', 'torchvision', None, {
        'conv1.weight': 'backbone.conv1.weight',
        'layer1.0.bn1.running_mean': 'backbone.layer1.0.bn1.running_mean',
        'layer4.2.conv3.weight': 'backbone.layer4.2.conv3.weight',
        'fc.weight': 'head.fc.weight',
    }),
}
# The shapes the published ResNet-50s have (docs/checkpoints.md).
FC_SHAPES = {'gcp': (NUM_CLASSES, 32896), 'dropcov': (NUM_CLASSES, 32896),
             'gap': (NUM_CLASSES, 2048)}


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def published(tmp_path_factory):
    """One ResNet-50 checkpoint per layout (10 classes)."""
    folder = tmp_path_factory.mktemp('published')
    return {layout: write_published_checkpoint(str(folder / f'{layout}.pth'), layout,
                                                num_classes=NUM_CLASSES)
            for layout in LAYOUTS}


@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_written_in_the_published_layout(published, layout):
    variant, _, top_level, _ = LAYOUTS[layout]
    checkpoint = load(published[layout]['path'])  # plain tensors and numbers only
    if top_level is None:  # torch.save(model.state_dict())
        state_dict = checkpoint
        assert all(isinstance(v, torch.Tensor) for v in checkpoint.values())
        assert 'conv1.weight' in state_dict and not any('module' in k for k in state_dict)
        fc = state_dict['fc.weight']
    else:
        assert set(checkpoint) == top_level
        state_dict = checkpoint['state_dict']
        assert checkpoint['optimizer']['param_groups'][0]['momentum'] == 0.9
        assert isinstance(checkpoint['epoch'], int) and isinstance(checkpoint['arch'], str)
        fc = state_dict['classifier.weight' if layout == 'fast-mpncov' else 'module.fc.weight']
    assert tuple(fc.shape) == FC_SHAPES[variant]
    assert published[layout]['variant'] == variant


@pytest.mark.parametrize('layout', list(LAYOUTS))
def test_converts_with_the_real_converter(repo_root, published, layout, tmp_path):
    variant, source_format, _, mapping = LAYOUTS[layout]
    src = published[layout]['path']
    config = osp.join(repo_root, f'configs/pretrain/resnet50-{variant}_8xb32_in1k.py')
    dst = str(tmp_path / 'converted.pth')
    # auto-detected, and loading strictly into the paper's pretrain config (10 classes here)
    meta = convert_checkpoint(src, dst, config=config,
                              cfg_options={'model.head.num_classes': NUM_CLASSES})
    assert meta['source_format'] == source_format
    assert (meta['depth'], meta['neck']) == (50, variant)
    assert meta['added_num_batches_tracked'] == 0
    # the explicit --format gives the same
    assert convert_checkpoint(src, str(tmp_path / 'explicit.pth'),
                              fmt=source_format)['source_format'] == source_format

    written = load(src)
    written = written.get('state_dict', written)
    converted = load(dst)['state_dict']
    assert len(converted) == len(written)  # nothing dropped, nothing made up
    for source_key, converted_key in mapping.items():
        assert torch.equal(converted[converted_key], written[source_key]), source_key
    prefixes = {k.split('.')[0] for k in converted}
    assert prefixes == ({'backbone', 'head'} if variant == 'gap' else
                        {'backbone', 'neck', 'head'})


def test_trunk_only_fits_the_detection_config(repo_root, published, tmp_path):
    """The README's trunk-only step for Mask R-CNN, from the fast-MPN-COV file with --format."""
    meta = convert_checkpoint(
        published['fast-mpncov']['path'], str(tmp_path / 'trunk.pth'), fmt='fast-mpncov',
        backbone_only=True,
        config=osp.join(repo_root, 'configs/mask_rcnn/mask-rcnn_r50-gcp_fpn_1x_coco.py'))
    assert meta['backbone_only']
    assert all(k.startswith('backbone.') for k in load(str(tmp_path / 'trunk.pth'))['state_dict'])


def test_random_weights_are_distinct_and_reproducible(published, tmp_path):
    trunks = {layout: load(info['path']) for layout, info in published.items()}
    conv1 = [
        trunks['fast-mpncov']['state_dict']['features.module.0.weight'],
        trunks['cvpr20']['state_dict']['module.conv1.weight'],
        trunks['dropcov']['state_dict']['module.conv1.weight'],
        trunks['torchvision']['conv1.weight'],
    ]
    # Every variant gets its own trunk, so a run that loads the wrong one would show.
    for i in range(len(conv1)):
        for j in range(i):
            assert not torch.equal(conv1[i], conv1[j])
    again = write_published_checkpoint(str(tmp_path / 'again.pth'), 'cvpr20',
                                       num_classes=NUM_CLASSES)
    assert again['sha256'] == published['cvpr20']['sha256']  # the same bytes
    other = write_published_checkpoint(str(tmp_path / 'other.pth'), 'cvpr20',
                                       num_classes=NUM_CLASSES, seed=1)
    assert other['sha256'] != published['cvpr20']['sha256']
    # BN statistics measured on data (not the 0 / 1 of a fresh layer), counters of a trained run.
    bn = trunks['cvpr20']['state_dict']
    assert not torch.allclose(bn['module.layer2.1.bn2.running_var'], torch.ones(128))
    assert int(bn['module.layer2.1.bn2.num_batches_tracked']) > 0


def test_converted_model_gives_finite_logits(repo_root, published, tmp_path):
    """The random GCP trunk keeps its activations in range (a fine-tuning from it can start)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS

    dst = str(tmp_path / 'gcp.pth')
    convert_checkpoint(published['cvpr20']['path'], dst)
    cfg = Config.fromfile(osp.join(repo_root, 'configs/pretrain/resnet50-gcp_8xb32_in1k.py'))
    cfg.model.head.num_classes = NUM_CLASSES
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    with torch.no_grad():
        logits = model.eval()(torch.randn(1, 3, 224, 224, generator=torch.Generator()
                                          .manual_seed(0)), mode='tensor')
    assert torch.isfinite(logits).all() and 0 < logits.std() < 1e4


def test_release_file_names(tmp_path):
    written = write_published_checkpoints(str(tmp_path), depth=18, num_classes=NUM_CLASSES)
    names = {layout: osp.relpath(info['path'], tmp_path) for layout, info in written.items()}
    with open(written['torchvision']['path'], 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    # torchvision's name carries the first 8 hex digits of the file's sha256 (torch.hub checks it)
    assert names == {'fast-mpncov': 'mpncovresnet18/model_best.pth.tar',
                     'cvpr20': 'iSQRT-COV-R18.pth.tar', 'dropcov': 'DropCov-R18.pth.tar',
                     'torchvision': f'resnet18-{digest[:8]}.pth'}
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.tmp')]


def test_bad_arguments_fail_before_writing(tmp_path):
    with pytest.raises(ValueError, match="unknown layout.*'cvpr21'.*fast-mpncov"):
        write_published_checkpoint(str(tmp_path / 'a.pth'), 'cvpr21')
    with pytest.raises(ValueError, match='depth must be one of .*got 42'):
        write_published_checkpoints(str(tmp_path), depth=42)
    with pytest.raises(ValueError, match='num_classes must be an integer >= 1, got 0'):
        write_published_checkpoints(str(tmp_path), num_classes=0)
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_make_paper_rehearsal_tool(tool_runner, tmp_path):
    root = tmp_path / 'rehearsal'
    args = ['tools/dataset_converters/make_paper_rehearsal.py', str(root), '--depth', '18',
            '--num-classes', str(NUM_CLASSES), '--num-imagenet-val', '1', '--num-coco-train', '1',
            '--num-coco-val', '1', '--num-ade-train', '1', '--num-ade-val', '1']
    out = tool_runner(args).stdout
    assert 'ImageNet (written): 1 val images' in out
    assert f"data_root {root / 'data' / 'ade' / 'ADEChallengeData2016'}" in out
    for name in ('iSQRT-COV-R18.pth.tar', 'DropCov-R18.pth.tar',
                 'mpncovresnet18/model_best.pth.tar'):
        assert str(root / 'published' / name) in out and (root / 'published' / name).is_file()
    assert sorted(os.listdir(root / 'data')) == ['ade', 'coco', 'imagenet']
    assert (root / 'data' / 'coco' / 'annotations' / 'instances_val2017.json').is_file()
    assert (root / 'data' / 'imagenet' / 'meta' / 'val.txt').is_file()
    # A second run keeps what is there.
    assert tool_runner(args).stdout.count('(skipped)') == 4

    # A real data set where the rehearsal would write: refused, untouched, and said so.
    foreign = tmp_path / 'other'
    (foreign / 'data' / 'imagenet' / 'train').mkdir(parents=True)
    proc = tool_runner([args[0], str(foreign)], check=False)
    assert proc.returncode != 0
    assert 'not written by the rehearsal' in proc.stderr and 'data/imagenet' in proc.stderr
    assert os.listdir(foreign / 'data' / 'imagenet') == ['train']
