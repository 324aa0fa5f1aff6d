"""The eager backend refuses attention rollout on a model without attention in one sentence,
not with the text of a trace through its compiled function."""
import keras
import numpy as np
import pytest

import cams


def test_attention_rollout_on_a_cnn_says_why_in_one_sentence():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h), name="cnn")
    with pytest.raises(ValueError) as err:
        cams.explain(model, np.zeros((1, 16, 16, 3), np.float32),
                     method="attention-rollout", backend="eager")
    message = str(err.value)
    assert "MultiHeadAttention layers; 'cnn' has none" in message
    assert "\n" not in message and "File " not in message, message
