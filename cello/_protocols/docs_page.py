"""`GET /docs`: a page rendering `/openapi.json` with Swagger UI, from installed assets.

The assets come from the `swagger-ui-py` distribution (`pip install 'cello-grpc[docs]'`),
read from its package directory and served beside the page, so the page works offline
and loads nothing from a CDN.
"""

from __future__ import annotations

import functools
from pathlib import Path

DOCS_PATH = "/docs"
_ASSETS = {
    "swagger-ui-bundle.js": b"text/javascript; charset=utf-8",
    "swagger-ui.css": b"text/css; charset=utf-8",
}
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "openapi.json", dom_id: "#swagger-ui"}});
</script>
</body>
</html>
"""
MISSING = (
    b"The /docs page needs Swagger UI's assets: pip install 'cello-grpc[docs]' "
    b"(the swagger-ui-py package); /openapi.json is served without it\n"
)


@functools.cache
def _static() -> Path | None:
    try:
        import swagger_ui
    except ImportError:
        return None
    return Path(swagger_ui.__file__).parent / "static"


def page(title: str) -> bytes | None:
    """The HTML page (relative links, so it works under any mount path), or None when
    the assets are not installed."""
    if _static() is None:
        return None
    safe = title.replace("&", "&amp;").replace("<", "&lt;")
    return _PAGE.format(title=safe).encode("utf-8")


def asset(path: str) -> tuple[bytes, bytes] | None:
    """`(content, media type)` of `/docs/<name>`, or None for anything else."""
    name = path.removeprefix(DOCS_PATH + "/")
    static = _static()
    if static is None or name not in _ASSETS:
        return None
    return (static / name).read_bytes(), _ASSETS[name]
