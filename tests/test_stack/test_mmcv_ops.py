# Copyright (c) mmgcp contributors. All rights reserved.
"""mmcv is installed with its compiled ops, and they compute the right thing on CPU."""
import torch


def test_nms_suppresses_overlapping_box():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    # boxes 0 and 1 overlap with IoU 81/119 > 0.5: the lower-scored one goes.
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))


def test_roi_align_matches_bilinear_average_of_a_linear_ramp():
    from mmcv.ops import RoIAlign
    # On f(y, x) = x, bilinear RoIAlign returns the mean x of each bin's sample points.
    feat = torch.arange(16, dtype=torch.float32).repeat(16, 1)[None, None]  # 1x1x16x16
    feat.requires_grad_(True)
    rois = torch.tensor([[0., 2., 2., 10., 10.]])
    layer = RoIAlign(output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    out = layer(feat, rois)
    assert out.shape == (1, 1, 2, 2)
    # aligned=True shifts by -0.5 px: the RoI spans x in [1.5, 9.5], bins centred at 3.5 and 7.5.
    expected = torch.tensor([[3.5, 7.5], [3.5, 7.5]])
    assert torch.allclose(out[0, 0], expected, atol=1e-5)
    out.sum().backward()
    assert feat.grad is not None and feat.grad.sum().item() > 0
