"""Security tests share the API fixture of the API tests."""

from tests.api.conftest import api  # noqa: F401
