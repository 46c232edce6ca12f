"""Golden outputs are data, not tests, even when protoc names them `test_*.py`."""

collect_ignore_glob = ["*/expected/*"]
