# Copyright (c) mmgcp contributors. All rights reserved.
"""Placeholder of the safe checkpoint loader (replaced by the safe-checkpoints branch)."""
from typing import Any, Optional

import torch

TRUST_ENV = 'MMGCP_TRUST_CHECKPOINT'


def load_checkpoint_file(filename: str, map_location: Optional[Any] = None, *,
                         trust: Optional[bool] = None) -> Any:
    return torch.load(filename, map_location=map_location, weights_only=False)
