# Copyright (c) mmgcp contributors. All rights reserved.
from .landscape_hook import LossLandscapeHook, probe_model_landscape

__all__ = ['LossLandscapeHook', 'probe_model_landscape']
