# Copyright (c) mmgcp contributors. All rights reserved.
import pytest
import torch

from mmgcp.models import DropoutLinearClsHead


def test_dropout_only_in_training():
    torch.manual_seed(0)
    head = DropoutLinearClsHead(num_classes=3, in_channels=10, dropout_rate=0.5)
    x = torch.randn(4, 10)
    head.eval()
    torch.testing.assert_close(head((x, )), head.fc(x))
    head.train()
    assert not torch.allclose(head((x, )), head.fc(x))
    with pytest.raises(ValueError, match='dropout_rate'):
        DropoutLinearClsHead(num_classes=3, in_channels=10, dropout_rate=1.5)
