"""cams.io.modelcard.load: a model whose input takes any image size, with no card saying which,
is refused with a sentence saying where to give the size, by every tool that reads a model."""
import numpy as np
import pytest

from cams.io import modelcard
from tests.models import two_class_cnn


def flexible(path):
    """A tiny CNN on input (None, None, 3), saved at `path` without a card."""
    two_class_cnn((None, None, 3)).save(path)
    return path


def test_a_model_of_any_input_size_needs_the_size_in_its_card(tmp_path):
    path = flexible(str(tmp_path / "any.keras"))
    with pytest.raises(ValueError, match=r"any size \(input \(None, None, 3\)\).*input_size"):
        modelcard.load(path)
    modelcard.write(path, modelcard.ModelCard(("a", "b"), (40, 56, 3), "none"))
    model, card = modelcard.load(path)
    assert card.input_size == (40, 56, 3)
    assert model(np.zeros((1, 40, 56, 3), np.float32)).shape == (1, 2)
