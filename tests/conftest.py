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


@pytest.fixture(scope="session")
def streaming_digits_model(tmp_path_factory):
    """(model file, held-out [(wav, text)]): the digit model trained with WeNet's U2 recipe (causal conv module,
    dynamic chunks), so it decodes chunk by chunk; ASR_TEST_STREAMING_MODEL=path reuses one."""
    from pathlib import Path

    from trained_model import read_heldout, train_digits_model

    reuse = os.environ.get("ASR_TEST_STREAMING_MODEL")
    if reuse:
        return Path(reuse), read_heldout(Path(reuse).parent)
    out = tmp_path_factory.mktemp("streaming_digits_model")
    return train_digits_model(out, streaming=True), read_heldout(out)
