import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny_cfg():
    from asr.model import ModelConfig

    return ModelConfig(
        vocab_size=16, d_model=32, heads=4, enc_layers=2, dec_layers=2, ffn=64, dropout=0.0,
        subsampling=4, subsampling_channels=8, conv_module=True, conv_kernel=5,
    )


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    """(model file, held-out [(wav, text)]): a tiny digit model trained once per session (tests/trained_model.py)."""
    from trained_model import session_model

    return session_model(tmp_path_factory.mktemp("digits_model"))
