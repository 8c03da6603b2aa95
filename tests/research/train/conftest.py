import pytest

from tests.research.train.toy_task import toy_config


@pytest.fixture
def config():
    return toy_config()
