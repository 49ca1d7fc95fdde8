# Copyright (c) mmgcp contributors. All rights reserved.
"""The libraries' inference APIs on mmgcp configs and checkpoints (toy models, random weights).

Each checkpoint is a freshly built toy model saved the way the Runner saves one; the inferencer
must give back that model's own output, which shows that it built mmgcp's modules from the config
and loaded the checkpoint. Another random model (another seed, never saved) must give something
else: an inferencer that ignored the checkpoint would fail the comparison.
"""
import numpy as np
import torch
from PIL import Image

import mmgcp  # noqa: F401

CLS_CFG = 'configs/toy/resnet18-w16-gcp_1xb32_toy.py'
DET_CFG = 'configs/toy/det/mask-rcnn_r18-w16-gcp_cov-fpn_1xb4_toy.py'
SEG_CFG = 'configs/toy/seg/upernet-cov_r18-w16-gcp_1xb4_toy-128x128.py'


def _image(tmp_path, size, seed=0):
    rng = np.random.default_rng(seed)
    path = tmp_path / 'image.png'
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return str(path)


def _save(model, path, classes, palette=None):
    meta = dict(dataset_meta=dict(classes=classes))
    if palette is not None:
        meta['dataset_meta']['palette'] = palette
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return str(path)


def _randomise_bn(model, seed=0):
    """Non-trivial BN statistics, so that a model that did not load the checkpoint differs."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5, generator=gen)
            module.running_var.uniform_(0.5, 2.0, generator=gen)


def test_get_model_and_image_classification_inferencer(repo_root, tmp_path):
    from mmpretrain import ImageClassificationInferencer, get_model

    torch.manual_seed(0)
    model = get_model(f'{repo_root}/{CLS_CFG}').eval()
    _randomise_bn(model)
    ckpt = _save(model, tmp_path / 'cls.pth', classes=['a', 'b', 'c', 'd'])
    image = _image(tmp_path, 48)

    loaded = get_model(f'{repo_root}/{CLS_CFG}', pretrained=ckpt).eval()
    assert type(loaded.neck).__name__ == 'GCPNeck'
    inferencer = ImageClassificationInferencer(f'{repo_root}/{CLS_CFG}', pretrained=ckpt,
                                               device='cpu')
    (result, ) = inferencer(image)
    # the saved model's own scores on the same image
    pixels = torch.from_numpy(np.array(Image.open(image).convert('RGB'))[..., ::-1].copy())
    data = model.data_preprocessor(dict(inputs=[pixels.permute(2, 0, 1)]), training=False)
    with torch.no_grad():
        expected = model(data['inputs'], mode='tensor').softmax(dim=1)[0]
    assert np.allclose(result['pred_scores'], expected.numpy(), atol=1e-5)
    assert result['pred_class'] == 'abcd'[int(expected.argmax())]
    # a model that did not load the checkpoint scores the image otherwise
    torch.manual_seed(1)
    other = get_model(f'{repo_root}/{CLS_CFG}').eval()
    _randomise_bn(other, seed=1)
    with torch.no_grad():
        other_scores = other(data['inputs'], mode='tensor').softmax(dim=1)[0]
    assert not np.allclose(result['pred_scores'], other_scores.numpy(), atol=1e-3)


def test_det_inferencer(repo_root, tmp_path):
    from mmdet.apis import DetInferencer, inference_detector, init_detector

    # every box kept (random weights give low scores), so there is something to compare
    cfg = tmp_path / 'det_cfg.py'
    cfg.write_text(f"_base_ = '{repo_root}/{DET_CFG}'\n"
                   'model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))\n')
    torch.manual_seed(0)
    model = init_detector(str(cfg), device='cpu')
    _randomise_bn(model)
    ckpt = _save(model, tmp_path / 'det.pth', classes=('x', 'y', 'z'))
    inferencer = DetInferencer(str(cfg), weights=ckpt, device='cpu')
    assert type(inferencer.model.neck[0]).__name__ == 'CovAttentionNeck'
    image = _image(tmp_path, 128)
    out = inferencer(image, return_datasamples=False)
    (pred, ) = out['predictions']
    assert 0 < len(pred['bboxes']) == len(pred['scores']) == len(pred['labels']) <= 50
    assert all(label in (0, 1, 2) for label in pred['labels'])
    # the saved model's own detections on the same image
    expected = inference_detector(model, image).pred_instances
    assert np.allclose(pred['scores'], expected.scores.numpy(), atol=1e-5)
    assert np.allclose(pred['bboxes'], expected.bboxes.numpy(), atol=1e-3)
    # a model that did not load the checkpoint detects other boxes or scores
    torch.manual_seed(1)
    other = init_detector(str(cfg), device='cpu')
    _randomise_bn(other, seed=1)
    other_pred = inference_detector(other, image).pred_instances
    assert (len(other_pred.scores) != len(pred['scores'])
            or not np.allclose(pred['scores'], other_pred.scores.numpy(), atol=1e-3))


def test_mmseg_inferencer(repo_root, tmp_path):
    from mmseg.apis import MMSegInferencer, inference_model, init_model

    torch.manual_seed(0)
    model = init_model(f'{repo_root}/{SEG_CFG}', device='cpu')
    _randomise_bn(model)
    classes = ('w', 'x', 'y', 'z')
    ckpt = _save(model, tmp_path / 'seg.pth', classes=classes,
                 palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]])
    inferencer = MMSegInferencer(f'{repo_root}/{SEG_CFG}', weights=ckpt, device='cpu')
    assert type(inferencer.model.decode_head).__name__ == 'CovUPerHead'
    image = _image(tmp_path, 128)
    labels = inferencer(image)['predictions']
    assert labels.shape == (128, 128) and labels.max() < len(classes)
    # the saved model's own prediction on the same image
    expected = inference_model(model, image).pred_sem_seg.data[0].numpy()
    assert np.array_equal(expected, labels)
    # not one class everywhere (a comparison of constant maps would show little) ...
    assert len(np.unique(labels)) >= 2
    # ... and a model that did not load the checkpoint labels the pixels otherwise
    torch.manual_seed(1)
    other = init_model(f'{repo_root}/{SEG_CFG}', device='cpu')
    _randomise_bn(other, seed=1)
    other_labels = inference_model(other, image).pred_sem_seg.data[0].numpy()
    assert (other_labels != labels).mean() > 0.1
