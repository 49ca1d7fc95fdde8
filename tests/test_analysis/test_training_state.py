# Copyright (c) mmgcp contributors. All rights reserved.
import random

import numpy as np
import torch
import torch.nn as nn

from mmgcp.analysis import preserved_training_state


def draw():
    return torch.rand(3).tolist(), random.random(), float(np.random.rand())


def test_random_streams_and_buffers_are_restored():
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Dropout(0.5)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with preserved_training_state(model):
        model(torch.randn(2, 3, 5, 5))
        draw()
        assert not torch.equal(model[1].running_mean, before['1.running_mean'])
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    with_block = draw()

    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))  # same draws as building the model
    assert draw() == with_block


def test_plain_module_attributes_are_restored():
    model = nn.Sequential(nn.Linear(2, 2))
    model[0].num_skipped = 3
    model[0].last_rate = 0.5
    with preserved_training_state(model):
        model[0].num_skipped += 2
        model[0].last_rate = 0.9
        model.eval()
    assert model[0].num_skipped == 3 and model[0].last_rate == 0.5 and model.training
