"""The shipped model on phantoms from a seed never used in training: it classifies, and its
Grad-CAM points at the lesions (pointing game >= 0.8, the issue's target), the same in every
backend.

The model was trained with lesion-mask guidance (docs/training.md, "The shipped model"): its
class map was taught where the lesions are, so this checks that every backend draws that map
where it is.
"""
import os

import keras
import numpy as np
import pytest

import cams
from cams.io import modelcard
from train import data, evaluate

MODEL = "models/xray_phantoms.keras"
TEST_SEED = 987654  # training used seed 0; the demo examples 2024


@pytest.fixture(scope="module")
def shipped():
    return modelcard.load(MODEL)


def test_model_and_json_are_small_and_complete(shipped):
    model, card = shipped
    size = os.path.getsize(MODEL) + os.path.getsize(MODEL.replace(".keras", ".json"))
    assert size <= 10 * 1024 * 1024
    assert not card.notes
    assert card.input_size == (224, 224, 3) and card.class_names == ("normal", "opacity")
    details = card.details
    assert details["weights"] == "none" and details["nested"] is True
    assert details["mask_guidance"] > 0 and "guided by the lesion masks" in details["training_path"]
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    assert len(nested) == 1 and nested[0].name.startswith("mobilenetv2")
    assert card.cam_layer in cams.conv_layers(model)


@pytest.fixture(scope="module")
def phantoms():
    return data.generate_phantoms(200, TEST_SEED)


@pytest.fixture(scope="module")
def report(shipped, phantoms):
    model, card = shipped
    images, labels, _, masks = phantoms
    return evaluate.evaluate(model, card, images, labels, masks, masks.any(axis=(1, 2)))


def test_accuracy_on_unseen_phantoms(report):
    assert report["accuracy"] >= 0.95, report


@pytest.fixture(scope="module")
def chance(phantoms):
    """Pointing game of a pixel drawn at random: the mean share of the image inside the mask."""
    _, labels, _, masks = phantoms
    return float(masks[labels == 1].mean())


@pytest.mark.parametrize("backend", cams.BACKENDS)
def test_gradcam_points_at_the_lesions(report, chance, backend):
    result = report["localization"][backend]
    assert result["n_images"] >= 90, result  # about half of the 200 carry lesions
    assert result["pointing_game"] >= 0.8, (result, chance)
    assert result["energy_in_mask"] >= 4 * chance, (result, chance)


def test_the_backends_report_the_same_localization(report):
    values = [r["pointing_game"] for r in report["localization"].values()]
    assert np.ptp(values) <= 0.02  # maps agree to 1e-4; a near-tie may flip one argmax
