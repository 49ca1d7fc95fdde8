# Copyright (c) mmgcp contributors. All rights reserved.
"""Fixtures of the op tests."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    """The op tests' matrices are small: one thread is faster, and immune to a busy machine."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)
