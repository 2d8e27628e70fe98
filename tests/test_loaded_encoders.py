"""loaded_encoders: a SavedModel loaded once is lent again only when free, and computes as a fresh load does."""

from __future__ import annotations

import doctest
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfbert import loaded_encoders


@pytest.fixture(autouse=True)
def nothing_kept():
    loaded_encoders.forget()
    yield
    loaded_encoders.forget()


def values(layer: hub.KerasLayer) -> list[np.ndarray]:
    return [variable.numpy() for variable in layer.resolved_object.variables]


def test_the_docstring_example_runs():
    failures, tries = doctest.testmod(loaded_encoders, optionflags=doctest.ELLIPSIS)
    assert tries > 0 and failures == 0


def test_a_free_savedmodel_is_lent_again_with_its_variables_read_back(tiny_encoder):
    first = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    loaded, fresh = first.resolved_object, values(first)
    for variable in loaded.variables:  # what training does to it
        variable.assign(tf.ones_like(variable))
    del first
    again = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    assert again.resolved_object is loaded
    for before, now in zip(fresh, values(again), strict=True):
        np.testing.assert_array_equal(before, now)


def test_a_savedmodel_in_use_is_loaded_afresh_and_keeps_its_weights(tiny_encoder):
    kept = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    for variable in kept.resolved_object.variables:
        variable.assign(tf.ones_like(variable))
    model = tf_keras.Sequential([kept])  # a model an earlier job returned, kept
    del kept
    other = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    assert other.resolved_object is not model.layers[0].resolved_object
    assert all(np.all(value == 1) for value in values(model.layers[0]))


def test_a_released_savedmodel_is_lent_again_without_a_collection(tiny_encoder, monkeypatch):
    dropped = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    cycle = tf_keras.Sequential([dropped])  # alive until a collection, as a Keras model a job dropped is
    cycle.held = cycle
    collections = []
    monkeypatch.setattr(loaded_encoders.gc, "collect", lambda *args: collections.append(args) or 0)
    loaded_encoders.release(dropped)
    again = loaded_encoders.lend(tiny_encoder, hub.KerasLayer)
    assert again.resolved_object is dropped.resolved_object and collections == []
    loaded_encoders.release(tf_keras.Sequential())  # a layer it never lent: nothing changes
    assert loaded_encoders.lend(tiny_encoder, hub.KerasLayer).resolved_object is not again.resolved_object


def test_two_are_kept_the_latest_used(tiny_encoder, tiny_encoder_without_dropout, tfhub_encoder):
    paths = [tiny_encoder, str(tiny_encoder_without_dropout), str(tfhub_encoder)]
    for path in paths:
        loaded_encoders.lend(path, hub.KerasLayer)
    assert list(loaded_encoders._LOADED) == paths[1:]
    saved = loaded_encoders._LOADED[paths[1]].saved
    loaded_encoders.lend(paths[1], hub.KerasLayer)  # used again: now the latest
    loaded_encoders.lend(paths[0], hub.KerasLayer)
    assert list(loaded_encoders._LOADED) == [paths[1], paths[0]]
    assert loaded_encoders._LOADED[paths[1]].saved is saved


def test_a_folder_written_again_is_loaded_again(tiny_encoder, tmp_path):
    path = str(shutil.copytree(tiny_encoder, tmp_path / "encoder"))
    loaded = loaded_encoders.lend(path, hub.KerasLayer).resolved_object
    shutil.rmtree(path)
    shutil.copytree(tiny_encoder, path, copy_function=shutil.copy)  # written now: another SavedModel may be there
    assert loaded_encoders.lend(path, hub.KerasLayer).resolved_object is not loaded


def test_under_a_strategy_every_load_is_fresh(tiny_encoder):
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        loaded = loaded_encoders.lend(tiny_encoder, hub.KerasLayer).resolved_object
        assert loaded_encoders.lend(tiny_encoder, hub.KerasLayer).resolved_object is not loaded
    assert loaded_encoders._LOADED == {}
