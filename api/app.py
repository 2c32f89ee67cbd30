"""The reelflow REST API (Litestar): submit videos, follow jobs, download clips.

    uvicorn api.app:app --port 8000      (or `make up`, which starts everything)

Jobs are Prefect flow runs of the clip_video deployment; see api/service.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from api.captions import clip_captions
from api.errors import EXCEPTION_HANDLERS
from api.health import alive, health
from api.jobs import cancel_job, clip_thumbnail, clip_video_file, list_jobs, process, status
from api.publish import cancel_post, publish, webhook_deliveries
from api.publishing import PublishService
from api.restyle import restyle
from api.security import install_auth
from api.service import JobService
from api.translate import clip_version_file, clip_version_thumbnail, translate
from api.web import web_router, web_static, web_templates
from reelflow.errors import ConfigError
from reelflow.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()

    @asynccontextmanager
    async def prefect_client(app: Litestar) -> AsyncIterator[None]:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            service = JobService(client, settings)
            app.state.prefect = client
            app.state.jobs = service
            app.state.publishing = PublishService(service, client, settings)
            # Accepted jobs become runs in a process beside this one, and pending ones from
            # before a restart at once (api/dispatch.py).
            service.dispatcher.start()
            try:
                yield
            finally:
                await anyio.to_thread.run_sync(service.dispatcher.stop)
                service.journal.close()

    return Litestar(
        route_handlers=[
            process,
            status,
            list_jobs,
            cancel_job,
            clip_video_file,
            clip_thumbnail,
            clip_captions,
            restyle,
            publish,
            cancel_post,
            webhook_deliveries,
            translate,
            clip_version_file,
            clip_version_thumbnail,
            health,
            alive,
            _swagger_assets(),
            web_router(),
            web_static(),
        ],
        template_config=web_templates(),
        lifespan=[prefect_client],
        state=State({"settings": settings}),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=_openapi(),
        on_app_init=[partial(install_auth, settings=settings)],
    )


def _openapi() -> OpenAPIConfig:
    assets = "/static/swagger"
    return OpenAPIConfig(
        title="reelflow",
        version="0.1.0",
        description="Turn long videos into short vertical clips.",
        path="/docs",
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{assets}/swagger-ui-bundle.js",
                css_url=f"{assets}/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
                path="/",
            )
        ],
    )


def _swagger_assets():
    """Swagger UI's files from the swagger-ui-bundle wheel: the docs page works offline."""
    from swagger_ui_bundle import swagger_ui_path

    return create_static_files_router(
        path="/static/swagger", directories=[swagger_ui_path], include_in_schema=False
    )


def __getattr__(name: str) -> Any:
    # `uvicorn api.app:app` builds the app on first use, never at import. A setting that
    # must stop the start (a bad REELFLOW_API_TOKEN) ends the process with its reason alone.
    if name == "app":
        try:
            return create_app()
        except ConfigError as exc:
            raise SystemExit(f"reelflow: error: {exc}") from None
    raise AttributeError(name)
