from __future__ import annotations

from pathlib import Path

import pytest

import tfbert  # noqa: F401

from tfbert import encoders
from tfbert.errors import TfbertError


def test_tokenizer_assets_come_from_the_hub_layer(tiny_encoder):
    layer = encoders.load_encoder(tiny_encoder, trainable=False)
    vocab_file, do_lower_case = encoders.tokenizer_assets(layer)
    assert Path(vocab_file).is_file() and Path(vocab_file).name == "vocab.txt"
    assert do_lower_case is True
    assert layer.trainable is False


def test_resolve_handle_passes_online_handles_through():
    for handle in ("https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
                   "https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-l-12-h-768-a-12/4"):
        assert encoders.resolve_handle(handle) == handle


def test_resolve_handle_accepts_a_local_saved_model(tiny_encoder):
    assert encoders.resolve_handle(tiny_encoder) == str(Path(tiny_encoder).resolve())


def test_resolve_handle_writes_tiny_into_the_cache_once(tfbert_cache):
    path = Path(encoders.resolve_handle("tiny"))
    assert path == tfbert_cache / "encoders" / "tiny"
    assert (path / "saved_model.pb").is_file()
    stamp = (path / "saved_model.pb").stat().st_mtime_ns
    assert encoders.resolve_handle("tiny") == str(path)
    assert (path / "saved_model.pb").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("spec, message", [
    ("", "'encoder' is required"),
    ("no/such/encoder", "neither a TF Hub handle"),
])
def test_resolve_handle_errors(spec, message):
    with pytest.raises(TfbertError, match=message):
        encoders.resolve_handle(spec)


def test_resolve_handle_rejects_a_folder_without_saved_model(tmp_path):
    with pytest.raises(TfbertError, match="no saved_model.pb"):
        encoders.resolve_handle(str(tmp_path))


@pytest.mark.slow
def test_command_line_writes_an_encoder(tmp_path, capsys):
    assert encoders.main(["tiny", str(tmp_path / "cli"), "--seed", "1", "--num-layers", "1"]) == 0
    assert (tmp_path / "cli" / "saved_model.pb").is_file()
    assert str(tmp_path / "cli") in capsys.readouterr().out


@pytest.mark.slow
def test_resolve_hf_checkpoint_converts_once_into_the_cache(tmp_path, hf_checkpoint, capsys, monkeypatch):
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path / "cache"))  # its own: other tests convert the same checkpoint
    hf_checkpoint(tmp_path / "hf")
    path = Path(encoders.resolve_handle(f"hf:{tmp_path / 'hf'}"))
    assert path.parent == tmp_path / "cache" / "encoders" and path.name.startswith("hf-")
    assert "converting" in capsys.readouterr().err
    stamp = (path / "saved_model.pb").stat().st_mtime_ns
    assert encoders.resolve_handle(f"hf:{tmp_path / 'hf'}") == str(path)
    assert (path / "saved_model.pb").stat().st_mtime_ns == stamp
    assert "converting" not in capsys.readouterr().err
    layer = encoders.load_encoder(f"hf:{tmp_path / 'hf'}")
    assert encoders.tokenizer_assets(layer)[1] is False  # the checkpoint's tokenizer_config says cased


@pytest.mark.slow
def test_resolve_named_pretrained_encoder_fetches_then_converts(tmp_path, hf_checkpoint, monkeypatch):
    hf_checkpoint(tmp_path / "fetched")
    fetched = []
    monkeypatch.setattr(encoders.assets, "fetch", lambda name: fetched.append(name) or tmp_path / "fetched")
    path = encoders.resolve_handle("all-minilm-l6-v2")
    assert fetched == ["all-minilm-l6-v2"]
    assert path == encoders.resolve_handle(f"hf:{tmp_path / 'fetched'}")


def test_resolve_hf_errors_name_what_is_missing(tmp_path):
    with pytest.raises(TfbertError, match="checkpoint directory not found"):
        encoders.resolve_handle(f"hf:{tmp_path / 'nope'}")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(TfbertError, match="missing vocab.txt, model.safetensors"):
        encoders.resolve_handle(f"hf:{tmp_path / 'half'}")
