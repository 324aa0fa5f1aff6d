"""The eager backend refuses attention rollout on a model without attention in one sentence,
not with the text of a trace through its compiled function."""
import numpy as np
import pytest

import cams
from tests.models import two_class_cnn


def test_attention_rollout_on_a_cnn_says_why_in_one_sentence():
    model = two_class_cnn((16, 16, 3), name="cnn")
    with pytest.raises(ValueError) as err:
        cams.explain(model, np.zeros((1, 16, 16, 3), np.float32),
                     method="attention-rollout", backend="eager")
    message = str(err.value)
    assert "MultiHeadAttention layers; 'cnn' has none" in message
    assert "\n" not in message and "File " not in message, message
