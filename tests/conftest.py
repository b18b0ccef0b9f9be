import pytest
import torch

from toylab import runtime

runtime.configure()  # as the toylab command does: TOYLAB_THREADS (default 1), glibc keeps freed memory


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
