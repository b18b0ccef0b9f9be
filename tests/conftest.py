import os

import pytest
import torch

os.environ.setdefault("TOYLAB_THREADS", "1")
torch.set_num_threads(int(os.environ["TOYLAB_THREADS"]))


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)
