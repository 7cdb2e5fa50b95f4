"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    # On a shared, busy machine two OpenMP threads of tiny ops wait on each other for far longer
    # than the work takes; one thread keeps the tiny preset at seconds.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
