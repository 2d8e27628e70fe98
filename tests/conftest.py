"""Shared fixtures: an offline tiny encoder and a cache that lives in the test's temp dir."""

from __future__ import annotations

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import encoders


@pytest.fixture(scope="session", autouse=True)
def tfbert_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep `encoder: tiny` and any other cached asset out of the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("tfbert-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBERT_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small random TF Hub-format BERT encoder, written once per test session."""
    return str(encoders.write_tiny_encoder(tmp_path_factory.mktemp("encoders") / "tiny", seed=0))
