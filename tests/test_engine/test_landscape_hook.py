# Copyright (c) mmgcp contributors. All rights reserved.
import copy
import json
import os.path as osp
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmgcp.analysis.training_state
from mmgcp.engine import LossLandscapeHook
from mmgcp.registry import HOOKS

NUM_CLASSES = 3


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny models run fastest on one thread, and far faster on a busy machine."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


def tiny_classifier_cfg(neck: str = 'gap') -> dict:
    """A ResNet-18 with 4 base channels; the head's dropout (and DropCov) draw random numbers."""
    if neck == 'gap':
        neck_cfg, head_in = dict(type='GlobalAveragePooling'), 32
    elif neck == 'gcp':
        neck_cfg = dict(type='mmgcp.GCPNeck', in_channels=32, reduced_channels=8)
        head_in = 8 * 9 // 2
    else:
        # 64 channels over 4 x 4 positions: a drop rate between 0 and 1 at initialisation.
        neck_cfg = dict(type='mmgcp.DropCovNeck', in_channels=32, reduced_channels=64)
        head_in = 64 * 65 // 2
    return dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            num_classes=NUM_CLASSES, mean=[120.0] * 3, std=[60.0] * 3, to_rgb=True),
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=4,
            base_channels=4,
            strides=(1, 2, 1, 1),
            out_indices=(3, )),
        neck=neck_cfg,
        head=dict(
            type='StackedLinearClsHead',
            num_classes=NUM_CLASSES,
            in_channels=head_in,
            mid_channels=[8],
            dropout_rate=0.5,
            loss=dict(type='CrossEntropyLoss')))


class NoisyTinySet(torch.utils.data.Dataset):
    """In-memory images; every read adds noise from the global torch generator."""

    def __init__(self, num_samples: int = 12, size: int = 32):
        gen = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 250, (num_samples, 3, size, size), generator=gen,
                                    dtype=torch.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        noise = torch.randint(0, 6, self.images[idx].shape, dtype=torch.uint8)
        return dict(
            inputs=self.images[idx] + noise,
            data_samples=DataSample().set_gt_label(idx % NUM_CLASSES))


def make_batch(num_samples: int = 4) -> dict:
    dataset = NoisyTinySet(num_samples)
    items = [dataset[i] for i in range(num_samples)]
    return dict(inputs=[i['inputs'] for i in items],
                data_samples=[i['data_samples'] for i in items])


def direct_probe(model, data_batch, etas, seed):
    """The paper's quantities computed by hand: stem, rest of the network, explicit loop."""
    model = copy.deepcopy(model)
    data = model.data_preprocessor(copy.deepcopy(data_batch), True)
    backbone = model.backbone
    stem_out = backbone.maxpool(backbone.relu(backbone.norm1(backbone.conv1(data['inputs']))))

    def loss_and_grad(y):
        torch.manual_seed(seed)
        y = y.detach().requires_grad_(True)
        x, outs = y, []
        for i, name in enumerate(backbone.res_layers):
            x = getattr(backbone, name)(x)
            if i in backbone.out_indices:
                outs.append(x)
        loss = model.head.loss(model.neck(tuple(outs)), data['data_samples'])['loss']
        grad, = torch.autograd.grad(loss, y)
        return float(loss), grad

    loss, grad = loss_and_grad(stem_out)
    losses, diffs = [], []
    for eta in etas:
        step_loss, step_grad = loss_and_grad(stem_out + eta * grad)
        losses.append(step_loss)
        diffs.append(float((step_grad - grad).norm()))
    return dict(loss=loss, grad_norm=float(grad.norm()), losses=losses, grad_diffs=diffs)


def build_model(neck: str = 'gap'):
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    return MODELS.build(tiny_classifier_cfg(neck)).train()


def fake_runner(model, iteration: int):
    return SimpleNamespace(model=model, iter=iteration, visualizer=mock.MagicMock(),
                           logger=MMLogger.get_instance('test_landscape_hook'))


def test_hook_is_registered_in_mmgcp():
    assert HOOKS.get('LossLandscapeHook') is LossLandscapeHook
    hook = HOOKS.build(dict(type='mmgcp.LossLandscapeHook', interval=3))
    assert hook.interval == 3 and len(hook.etas) == 50
    assert hook.etas[0] == pytest.approx(0.1) and hook.etas[-1] == pytest.approx(75.0)


@pytest.mark.parametrize('neck', ['gap', 'dropcov'])
def test_hook_numbers_equal_direct_computation(neck):
    model = build_model(neck)
    batch = make_batch()
    hook = LossLandscapeHook(interval=5, num_steps=8)
    runner = fake_runner(model, iteration=10)
    hook.before_train(runner)
    state_before = {k: v.clone() for k, v in model.state_dict().items()}

    torch.manual_seed(123)
    hook.before_train_iter(runner, 0, batch)
    after_probe = torch.rand(5)
    torch.manual_seed(123)
    assert torch.equal(after_probe, torch.rand(5)), 'the probe shifted the random stream'
    assert all(torch.equal(v, state_before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert model.training

    expected = direct_probe(model, batch, hook.etas, seed=123)
    runner.visualizer.add_scalars.assert_called_once()
    scalars = runner.visualizer.add_scalars.call_args.args[0]
    assert runner.visualizer.add_scalars.call_args.kwargs['step'] == 10
    curve = [scalars[f'landscape_loss_curve/{i:02d}'] for i in range(len(hook.etas))]
    diffs = [scalars[f'landscape_grad_diff_curve/{i:02d}'] for i in range(len(hook.etas))]
    assert curve == pytest.approx(expected['losses'], rel=1e-5)
    assert diffs == pytest.approx(expected['grad_diffs'], rel=1e-4, abs=1e-9)
    assert scalars['landscape/loss'] == pytest.approx(expected['loss'], rel=1e-6)
    assert scalars['landscape/grad_norm'] == pytest.approx(expected['grad_norm'], rel=1e-5)
    assert scalars['landscape/loss_min'] == pytest.approx(min(expected['losses']), rel=1e-5)
    assert scalars['landscape/loss_max'] == pytest.approx(max(expected['losses']), rel=1e-5)
    assert scalars['landscape/grad_diff_max'] == pytest.approx(max(expected['grad_diffs']),
                                                               rel=1e-4)
    # The curves are not flat: the probe measured something.
    assert max(curve) > min(curve) and max(diffs) > 0
    if neck == 'dropcov':
        assert model.neck.last_drop_rate == 0.0  # module counters are restored too
        probe_copy = copy.deepcopy(model)
        probe_copy(**probe_copy.data_preprocessor(copy.deepcopy(batch), True), mode='loss')
        assert 0 < probe_copy.neck.last_drop_rate < 1  # the dropout really drew masks


def test_hook_probes_only_every_interval():
    model = build_model()
    hook = LossLandscapeHook(interval=4, num_steps=2, log_curves=False)
    runner = fake_runner(model, iteration=6)
    hook.before_train_iter(runner, 0, make_batch())
    runner.visualizer.add_scalars.assert_not_called()
    runner.iter = 8
    hook.before_train_iter(runner, 0, make_batch())
    scalars = runner.visualizer.add_scalars.call_args.args[0]
    assert set(scalars) == {
        'landscape/loss', 'landscape/grad_norm', 'landscape/loss_min', 'landscape/loss_max',
        'landscape/grad_diff_min', 'landscape/grad_diff_max', 'landscape/num_nonfinite'
    }


def test_overflowing_steps_are_recorded_not_raised():
    model = build_model('gcp')
    hook = LossLandscapeHook(interval=1, eta_range=(0.1, 1e45), num_steps=2)
    runner = fake_runner(model, iteration=0)
    hook.before_train_iter(runner, 0, make_batch())  # y + 1e45 g overflows float32
    scalars = runner.visualizer.add_scalars.call_args.args[0]
    assert scalars['landscape/num_nonfinite'] == 1
    assert scalars['landscape/loss_min'] == scalars['landscape_loss_curve/00']
    assert scalars['landscape_loss_curve/01'] != scalars['landscape_loss_curve/01']  # NaN


def test_bad_settings_are_reported():
    model = build_model()
    with pytest.raises(ValueError, match='no module'):
        LossLandscapeHook(split_module='backbone.stem').before_train(fake_runner(model, 0))
    with pytest.raises(ValueError, match='interval'):
        LossLandscapeHook(interval=0)
    with pytest.raises(ValueError, match='eta_range'):
        LossLandscapeHook(eta_range=(0.0, 1.0))


def train_tiny(work_dir: str, name: str, with_hook: bool):
    custom_hooks = [dict(type='mmgcp.LossLandscapeHook', interval=2, num_steps=4)
                    ] if with_hook else []
    runner = Runner(
        model=tiny_classifier_cfg('gap'),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=dict(
            dataset=NoisyTinySet(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=custom_hooks,
        randomness=dict(seed=0),
        default_scope='mmpretrain',
        log_level='WARNING')
    runner.train()
    model = {k: v.clone() for k, v in runner.model.state_dict().items()}
    momentum = [s['momentum_buffer'].clone()
                for s in runner.optim_wrapper.optimizer.state_dict()['state'].values()]
    return model, momentum, runner.log_dir


def same(first, second) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first, second)) and len(first) == len(second)


@pytest.mark.slow
def test_training_with_the_hook_gives_bit_identical_weights(tmp_path):
    name = f'landscape_{tmp_path.name}'
    weights, momentum, _ = train_tiny(str(tmp_path / 'plain'), name + '_plain', False)
    hooked_weights, hooked_momentum, log_dir = train_tiny(
        str(tmp_path / 'hooked'), name + '_hooked', True)
    assert same(list(weights.values()), list(hooked_weights.values()))
    assert same(momentum, hooked_momentum)
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        probes = [json.loads(line) for line in f if 'landscape/loss_min' in line]
    assert [p['step'] for p in probes] == [0, 2, 4]  # 3 iterations per epoch, 2 epochs

    # The check has teeth: without restoring the random streams the weights differ.
    with mock.patch.object(mmgcp.analysis.training_state, 'restore_rng_state'):
        broken_weights, _, _ = train_tiny(str(tmp_path / 'broken'), name + '_broken', True)
    assert not same(list(weights.values()), list(broken_weights.values()))
