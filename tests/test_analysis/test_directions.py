# Copyright (c) mmgcp contributors. All rights reserved.
import torch
import torch.nn as nn

from mmgcp.analysis import filter_normalized_direction


def test_filters_take_the_norm_of_the_weight_filters():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.Flatten(), nn.Linear(20, 4))
    params = list(model.parameters())
    direction = filter_normalized_direction(params, torch.Generator().manual_seed(1))
    for weight, d in zip(params, direction):
        assert d.shape == weight.shape and d.dtype == weight.dtype
        if weight.dim() > 1:
            assert torch.allclose(d.flatten(1).norm(dim=1), weight.flatten(1).norm(dim=1))
            assert not torch.allclose(d, weight)
        else:
            assert torch.count_nonzero(d) == 0


def test_1d_tensors_copy_the_weights_when_not_ignored():
    bias = torch.randn(7)
    direction = filter_normalized_direction([bias], ignore_1d=False)
    assert torch.equal(direction[0], bias)


def test_generator_makes_directions_reproducible():
    weight = torch.randn(4, 6)
    first = filter_normalized_direction([weight], torch.Generator().manual_seed(3))
    second = filter_normalized_direction([weight], torch.Generator().manual_seed(3))
    assert torch.equal(first[0], second[0])
