"""The shipped model loaded once for every app test, and its page's endpoints."""
import pytest

from cams.app import handlers, imagenet, page
from tests.cams.app.files import EXAMPLES, MODEL


@pytest.fixture(scope="session")
def app():
    application = handlers.App(MODEL, EXAMPLES)
    application.warm_up()
    return application


@pytest.fixture(scope="session")
def calls(app):
    """The page's endpoints, by API name."""
    return page.endpoints(app, imagenet.ImageNetDemo())
