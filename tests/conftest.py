import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

from tests import models  # noqa: E402


@pytest.fixture(scope="session")
def vgg16():
    return models.vgg16()


@pytest.fixture(scope="session")
def vgg16_transfer():
    return models.vgg16_transfer()


@pytest.fixture(scope="session")
def fashion_cnn():
    return models.fashion_cnn()


@pytest.fixture(scope="session")
def mobilenet_sigmoid():
    return models.mobilenet_sigmoid()


@pytest.fixture(scope="session")
def small_binary():
    return models.small_binary()
