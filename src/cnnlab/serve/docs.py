"""The OpenAPI docs at /docs, working offline: Swagger UI's script and style come from an installed package
(swagger-ui-py, which ships Swagger UI 5, the first to read OpenAPI 3.1), not from a CDN. Without that package the
page says where the schema is (/openapi.json) instead of loading a blank one."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def swagger_files() -> Path | None:
    """The folder of Swagger UI's files in the installed swagger-ui-py, or None without it."""
    try:
        import swagger_ui
    except ImportError:
        return None
    folder = Path(swagger_ui.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def add_docs(app: FastAPI) -> None:
    """GET /docs: Swagger UI from the package's files (under /docs/assets), or a page naming the schema."""
    folder = swagger_files()
    if folder is not None:
        app.mount(ASSETS, StaticFiles(directory=folder), name="swagger-ui")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The interactive docs, or where the schema is when they cannot be shown offline."""
        if folder is None:
            return HTMLResponse("<!doctype html><title>cnnlab API</title><p>The interactive docs need swagger-ui-py "
                                "(pip install swagger-ui-py). The OpenAPI schema is at "
                                '<a href="/openapi.json">/openapi.json</a>.</p>')
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS}/favicon-32x32.png")
