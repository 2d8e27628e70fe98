"""Encoder SavedModels loaded once per process, and lent again to the next job.

A notebook's loop and a sweep agent call `tfbert.train` again and again in one process,
and every call loads the same encoder SavedModels: the copy it trains and the float32
copy its final evaluation scores. Loading one again costs about half a second, and the
training step then has to differentiate its restored function again (about a second
for all-MiniLM-L6-v2). `lend` keeps the two most recently loaded and lends one again,
with its variables read back from its own checkpoint: it computes bit for bit as a
fresh load does. A SavedModel is lent again only when no layer built on it lives on, so
a model an earlier call returned keeps its weights (that call's encoder is then loaded
afresh). Under a distribution strategy, whose variables live on several devices, it is
always loaded afresh.

>>> import tensorflow_hub as hub
>>> from tfbert import encoders, loaded_encoders
>>> path = str(encoders.tiny_encoder())
>>> first = loaded_encoders.lend(path, hub.KerasLayer)
>>> again = loaded_encoders.lend(path, hub.KerasLayer)  # `first` lives on: loaded afresh
>>> first.resolved_object is again.resolved_object
False
>>> saved = again.resolved_object
>>> del first, again
>>> loaded_encoders.lend(path, hub.KerasLayer).resolved_object is saved  # lent again, its variables read back
True
"""

from __future__ import annotations

import dataclasses
import gc
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, TypeVar

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub

KEPT = 2  # a job's training copy and its float32 copy

User = TypeVar("User")


@dataclasses.dataclass
class _Loaded:
    saved: Any  # what hub.load returned
    identity: tuple[int, ...]  # its saved_model.pb's (see _checkpoint)
    user: weakref.ref | None = None  # the last layer built on it


_LOADED: OrderedDict[str, _Loaded] = OrderedDict()
_LOCK = threading.Lock()


def _checkpoint(path: str) -> tuple[str, tuple[int, ...]] | None:
    """The prefix of the SavedModel's variables checkpoint, and what identifies the SavedModel
    file (a folder written again holds another); None for a SavedModel with no variables or
    not in a local folder (a TF Hub URL is loaded as hub.load loads it, each time)."""
    prefix, graph = Path(path) / "variables" / "variables", Path(path) / "saved_model.pb"
    if not (Path(f"{prefix}.index").is_file() and graph.is_file()):
        return None
    stat = graph.stat()
    return str(prefix), (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _free(loaded: _Loaded) -> bool:
    """Whether no layer built on `loaded` lives on (a Keras model holds itself in reference
    cycles, so a dropped one may need a collection to go)."""
    if loaded.user is None or loaded.user() is None:
        return True
    gc.collect()
    return loaded.user() is None


def _restored(loaded: _Loaded, prefix: str) -> Any | None:
    """`loaded`'s SavedModel with every variable read back from its checkpoint at `prefix`; None if they do not match."""
    try:
        tf.train.Checkpoint(root=loaded.saved).read(prefix).assert_consumed()
    except AssertionError:
        return None
    return loaded.saved


def lend(path: str, build: Callable[[Any], User]) -> User:
    """`build(saved)`, where `saved` is the SavedModel at `path` as hub.load gives it: the one
    loaded before when it is free (no layer built on it lives on; its variables read back
    from its checkpoint), else loaded now. `build`'s result is what keeps it in use."""
    found = _checkpoint(path)
    if found is None or tf.distribute.has_strategy():
        return build(hub.load(path))
    prefix, identity = found
    with _LOCK:
        loaded = _LOADED.get(path)
        lendable = loaded is not None and loaded.identity == identity and _free(loaded)
        saved = _restored(loaded, prefix) if lendable else None
        if saved is None:
            loaded = _LOADED[path] = _Loaded(hub.load(path), identity)
            saved = loaded.saved
        _LOADED.move_to_end(path)
        while len(_LOADED) > KEPT:
            _LOADED.popitem(last=False)
        user = build(saved)
        loaded.user = weakref.ref(user)
        return user


def release(user: Any) -> None:
    """Say that `user` (what a `build` gave `lend`) is dropped and will not be used again, so
    the next `lend` of its SavedModel finds it free without a collection (about 0.3 s with
    TensorFlow loaded). For a caller that knows nothing else holds it."""
    with _LOCK:
        for loaded in _LOADED.values():
            if loaded.user is not None and loaded.user() is user:
                loaded.user = None


def forget() -> None:
    """Let go of every SavedModel kept (their memory is freed once no layer uses them)."""
    with _LOCK:
        _LOADED.clear()
