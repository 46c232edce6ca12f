"""The Python ↔ protobuf naming rules."""

from __future__ import annotations

import pytest

from cello import DefinitionError
from cello._definitions.service import to_rpc_name
from cello.codegen.schema import naming


@pytest.mark.parametrize(
    ("python", "proto"),
    [("user_id", "user_id"), ("userId", "user_id"), ("HTTPCode", "http_code"), ("id2x", "id2x")],
)
def test_field_names_become_lower_snake(python: str, proto: str) -> None:
    assert naming.to_snake(python) == proto


@pytest.mark.parametrize(
    ("python", "proto"), [("get_user", "GetUser"), ("GetUser", "GetUser"), ("ping", "Ping")]
)
def test_rpc_names_become_upper_camel(python: str, proto: str) -> None:
    assert to_rpc_name(python) == proto


def test_enum_values_are_prefixed_upper_snake() -> None:
    assert naming.to_upper_snake("PaymentState") == "PAYMENT_STATE"


@pytest.mark.parametrize(
    ("module", "package"),
    [("myapp.services", "myapp.services"), ("My-App.API", "my_app.api"), ("2fa.x", "m2fa.x")],
)
def test_package_from_module(module: str, package: str) -> None:
    assert naming.package_from_module(module) == package


@pytest.mark.parametrize(
    ("package", "path"),
    [
        ("acme.users.v1", "acme/users/v1/users.proto"),
        ("shop", "shop/shop.proto"),
        ("acme.v2beta1", "acme/v2beta1/acme.proto"),
    ],
)
def test_one_file_per_package_in_its_directory(package: str, path: str) -> None:
    assert naming.file_path_for(package) == path


@pytest.mark.parametrize("bad", ["", "9lives", "a-b", "x y", 'a"b', "message", "class"])
def test_identifiers_are_validated(bad: str) -> None:
    with pytest.raises(DefinitionError, match="where"):
        naming.check_identifier(bad, what="field name", where="where")
