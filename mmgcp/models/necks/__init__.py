# Copyright (c) mmgcp contributors. All rights reserved.
from .gcp_neck import DropCovNeck, GCPNeck

__all__ = ['GCPNeck', 'DropCovNeck']
