"""Node's grpc-js calls services typed by UUID, Decimal, date, time, Literal and tuple fields,
and by pydantic models, compiling the emitted `.proto` and the `google/type` files shipped
beside it (protobufjs bundles only `google/protobuf`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peers
import pytest

from cello.grpc import GrpcServer
from tests.loop_thread import LoopThread

pytestmark = pytest.mark.peer

TYPES_PROTO = "golden/types/v1/types.proto"
PYD_PROTO = "pyd/v1/pyd.proto"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, cello_gen: object
) -> Iterator[tuple[str, Path]]:
    from tests.codegen.cases.types.service import Orders
    from tests.runtime.pydantic_services import BookShop

    out = tmp_path_factory.mktemp("types-node")
    targets = ("tests.codegen.cases.types.service", "tests.runtime.pydantic_services")
    cello_gen("build", *targets, "--out", str(out))  # type: ignore[operator]
    assert (out / "google" / "type" / "date.proto").is_file()
    server = GrpcServer(host="127.0.0.1", port=0, stubs_dir=out)
    server.register_service(Orders())
    server.register_service(BookShop())
    loop = LoopThread()
    try:
        loop.run(server.start())
        yield server.address, out
        loop.run(server.stop(0))
    finally:
        loop.close()


ORDER = {
    "id": "42",
    "ref": "12345678-1234-5678-1234-567812345678",
    "total": "1234.500",
    "status": "paid",
    "lines": [{"sku": "A-1", "price": "0.10", "quantity": "3"}],
    "tags": ["x", "y"],
    "refunds": ["-2.5E+3"],
    "by_sku": {"A-1": "0.30"},
    "related": ["00000000-0000-0000-0000-000000000001"],
    "channel": "web",
    "due": {"year": 2024, "month": 2, "day": 29},
    "opens": {"hours": 9, "minutes": 30, "seconds": 15, "nanos": 250000000},
    "holidays": [{"year": 2024, "month": 12, "day": 25}],
    "when_time_of_day": {"hours": 23, "minutes": 59, "seconds": 59, "nanos": 0},
}


def test_node_round_trips_the_new_types(served: tuple[str, Path]) -> None:
    address, out = served
    [reply] = peers.node_call(out, TYPES_PROTO, "golden.types.v1.Orders", "Put", ORDER, address)
    # `Line.quantity: int = 1` is `optional`: protobufjs names its synthetic oneof `_quantity`
    assert [line.pop("_quantity") for line in reply["lines"]] == ["quantity"]
    for key, value in ORDER.items():
        assert reply[key] == value, key
    assert reply["when"] == "when_time_of_day"
    assert "parent" not in reply  # optional, unset: protobufjs leaves it out


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"ref": "nope"}, "Order.ref: 'nope' is not a UUID"),
        ({"total": "1,5"}, "Order.total: '1,5' is not a decimal number"),
        ({"status": "lost"}, "Order.status: 'lost' is not one of"),
        ({"due": {"year": 2024, "month": 0, "day": 0}}, "not a full calendar date"),
    ],
    ids=["uuid", "decimal", "literal", "partial-date"],
)
def test_node_values_outside_the_mapping_are_invalid_argument(
    served: tuple[str, Path], change: dict[str, object], fragment: str
) -> None:
    address, out = served
    with pytest.raises(peers.PeerCallError) as info:
        peers.node_call(
            out, TYPES_PROTO, "golden.types.v1.Orders", "Put", {**ORDER, **change}, address
        )
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert fragment in info.value.details


def test_node_gets_pydantic_validation_as_invalid_argument(served: tuple[str, Path]) -> None:
    address, out = served
    book = {"isbn": "1-2", "title": "dune", "authors": [{"name": "Frank Herbert"}]}
    [reply] = peers.node_call(out, PYD_PROTO, "pyd.v1.BookShop", "Store", book, address)
    assert (reply["title"], reply["genre"], reply["authors"][0]["name"]) == (
        "DUNE",
        "GENRE_FICTION",
        "Frank Herbert",
    )
    with pytest.raises(peers.PeerCallError) as info:
        peers.node_call(
            out, PYD_PROTO, "pyd.v1.BookShop", "Store", {**book, "isbn": "x y"}, address
        )
    assert info.value.code_name == "INVALID_ARGUMENT"
    assert info.value.details.startswith("invalid Book: isbn: String should match pattern")
