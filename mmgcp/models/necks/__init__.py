# Copyright (c) mmgcp contributors. All rights reserved.
from .cov_attention_neck import CovAttentionNeck
from .gcp_neck import DropCovNeck, GCPNeck

__all__ = ['GCPNeck', 'DropCovNeck', 'CovAttentionNeck']
