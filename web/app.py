"""The Starlette app: one route per page, each a thin shell over the `Workspace`.

    GET  /                 Upload: pick or drop a sheet, or paste its link; the template
                           and the example to download (/download/<name>)
    POST /upload           read and check it (-> /check)
    GET  /check            every row like the sheet, each problem at its cell
                           (?tab=prospects, ?show=attention)
    POST /plan, GET /plan  make the plan, show it grouped
    POST /apply, GET /apply  apply that plan in the background; progress (/apply/progress,
                           polled by htmx)
    POST /sandbox          rehearse against the built-in sandbox from now on
    GET  /results          the run's rows and its report files (/results/<name>)
    GET  /ledger           what `campaigns status` shows
    GET  /status.css       the status colours of results.xlsx

`make_app` builds it around a fresh `Workspace` (`app.state.workspace`), behind the
`Guard` (launch token, Host, Origin, size). Every POST carries the page's CSRF token.
Work that takes time (reading, checking, planning, laying out a page of a large sheet)
runs in a worker thread, so that one page never holds up the others (the progress
polled meanwhile); an apply runs in the workspace's own thread, so it outlives the
request and the tab. A page lists at most `views.SHOWN_ROWS` rows of a table or group.
An unexpected error is answered inside the `Guard` (`_Fallback`), so its page keeps
the Guard's headers; the traceback goes to the server's log, never to the page.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.errors import ConfigError, PipelineError
from pipeline.load import CAMPAIGNS, PROSPECTS
from pipeline.settings import RunSettings, is_url
from web.guard import CSRF_FIELD, CSRF_HEADER, Guard, TooLarge, csrf_ok, too_large_message
from web.views import (
    CheckGrid,
    PlanGroups,
    check_grid,
    plan_groups,
    progress_rows,
    shown,
    status_css,
)
from web.workspace import REPORT_FILES, Refusal, ServeSettings, Workspace

HERE: Final = Path(__file__).parent
POLL_SECONDS: Final = 1
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """A sheet offered on the Upload page: its name, the example's rows or blank, and
    what the page says of it."""

    name: str
    example: bool
    about: str


DOWNLOADS: Final = (
    Download(
        "campaigns.xlsx",
        False,
        "blank, with drop-downs and a columns sheet that explains each column",
    ),
    Download("campaigns.csv", False, "blank"),
    Download("example.xlsx", True, "realistic rows, and prospects on their own sheet"),
    Download("example.csv", True, "realistic rows"),
)


def make_app(settings: ServeSettings, *, port: int, token: str | None = None) -> Starlette:
    """The page for one server on 127.0.0.1:`port`; `token` is the launch token (a fresh
    one when None: `app.state.token`). Its lifespan closes the workspace."""
    workspace = Workspace.open(settings)
    pages = _Pages(workspace, csrf=secrets.token_urlsafe(32))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(workspace.close)

    app = Starlette(
        routes=pages.routes(),
        exception_handlers={
            TooLarge: pages.too_large,
            PipelineError: pages.failed,
            Refusal: pages.failed,
            HTTPException: pages.http_error,
        },
        lifespan=lifespan,
    )
    app.state.workspace = workspace
    app.state.token = token or secrets.token_urlsafe(32)
    app.state.csrf = pages.csrf
    app.add_middleware(_Fallback, pages=pages)  # inside the Guard: its headers apply
    app.add_middleware(Guard, token=app.state.token, port=port, max_body=settings.max_bytes)
    return app


class _Fallback:
    """An unexpected error (a bug) as a 500 page: the error page when it can be drawn,
    a line of text when not; the traceback to the log. Inside the `Guard`, so the page
    keeps its headers (Starlette's own 500 is answered outside every middleware)."""

    def __init__(self, app: ASGIApp, *, pages: _Pages) -> None:
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            _log.exception("the page failed: %s %s", scope["method"], scope["path"])
            if started:  # half an answer is out: nothing better to do than cut it
                raise
            await self._failed(scope, receive, send)

    async def _failed(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = "The page failed unexpectedly; the server's log says why."
        try:
            response = self.pages.page(
                Request(scope, receive), "error.html", status=500, title="Not done", problem=problem
            )
        except Exception:  # the error page itself failed: plain words will do
            _log.exception("the error page failed")
            response = Response(problem, status_code=500, media_type="text/plain")
        await response(scope, receive, send)


def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=environment)


class _Pages:
    """The routes (see the module docstring), over one workspace."""

    def __init__(self, workspace: Workspace, *, csrf: str) -> None:
        self.workspace = workspace
        self.csrf = csrf
        self.templates = _templates()

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.upload_page),
            Route("/upload", self.upload, methods=["POST"]),
            Route("/download/{name}", self.download),
            Route("/check", self.check_page),
            Route("/plan", self.plan_page),
            Route("/plan", self.plan, methods=["POST"]),
            Route("/apply", self.apply_page),
            Route("/apply", self.apply, methods=["POST"]),
            Route("/apply/progress", self.progress),
            Route("/sandbox", self.sandbox, methods=["POST"]),
            Route("/results", self.results_page),
            Route("/results/{name}", self.report_file),
            Route("/ledger", self.ledger_page),
            Route("/status.css", self.colours),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # --- rendering ------------------------------------------------------------------

    def page(self, request: Request, name: str, *, status: int = 200, **context: Any) -> Response:
        workspace = self.workspace
        settings = workspace.settings
        common = {
            "csrf": self.csrf,
            "csrf_field": CSRF_FIELD,
            "sandbox": workspace.sandbox,
            "base_url": settings.base_url,
            "has_key": settings.api_key is not None,
            "key_source": settings.key_source,
            "sheet": workspace.sheet,
            "planned": workspace.planned,
            "run": workspace.run,
            "running": workspace.running,
            "max_bytes": settings.max_bytes,
            "problem": "",
            "hint": "",
        }
        return self.templates.TemplateResponse(
            request, name, {**common, **context}, status_code=status
        )

    async def _form(self, request: Request) -> FormData:
        """The POSTed form, once its CSRF token is the page's (else 403)."""
        form = await request.form(max_files=1, max_fields=10)
        if not (
            csrf_ok(form.get(CSRF_FIELD), self.csrf)
            or csrf_ok(request.headers.get(CSRF_HEADER), self.csrf)
        ):
            await form.close()
            raise HTTPException(403, "This form is out of date or did not come from this page.")
        return form

    # --- errors ---------------------------------------------------------------------

    async def too_large(self, request: Request, exc: Exception) -> Response:
        limit = exc.limit if isinstance(exc, TooLarge) else self.workspace.settings.max_bytes
        return self._upload_problem(request, too_large_message(limit), status=413)

    async def failed(self, request: Request, exc: Exception) -> Response:
        """A `PipelineError` (the library's words) or a `Refusal` (the page's)."""
        message = getattr(exc, "message", str(exc))
        hint = getattr(exc, "hint", "")
        status = 409 if isinstance(exc, Refusal) else 400
        return self.page(
            request, "error.html", status=status, title="Not done", problem=message, hint=hint
        )

    async def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        said = exc.detail if isinstance(exc, HTTPException) else ""
        titles = {404: "No such page", 405: "Not here", 403: "Refused"}
        return self.page(
            request,
            "error.html",
            status=status,
            title=titles.get(status, "Not done"),
            problem=said if status not in (404, 405) else "This page has no such address.",
        )

    # --- upload ---------------------------------------------------------------------

    async def upload_page(self, request: Request) -> Response:
        return self.page(request, "upload.html", downloads=DOWNLOADS)

    async def upload(self, request: Request) -> Response:
        limit = self.workspace.settings.max_bytes
        form = await self._form(request)
        try:
            chosen = form.get("sheet")
            link = str(form.get("link") or "").strip()
            name, data = "", b""
            if isinstance(chosen, UploadFile) and chosen.filename:
                name = chosen.filename
                data = await chosen.read(limit + 1)
        finally:
            await form.close()
        if len(data) > limit:
            raise TooLarge(limit)
        take: Callable[[], object]
        if name:
            take = lambda: self.workspace.take_file(name, data)  # noqa: E731
        elif link:
            if not is_url(link):
                return self._upload_problem(
                    request, "Paste the sheet's link (https://...), or choose a file."
                )
            take = lambda: self.workspace.take_link(link)  # noqa: E731
        else:
            return self._upload_problem(request, "Choose a .csv or .xlsx file, or paste a link.")
        try:
            await anyio.to_thread.run_sync(take)
        except PipelineError as exc:
            return self._upload_problem(request, str(exc), exc.hint)
        return RedirectResponse("/check", status_code=303)

    def _upload_problem(
        self, request: Request, problem: str, hint: str = "", *, status: int = 400
    ) -> Response:
        return self.page(
            request,
            "upload.html",
            status=status,
            problem=problem,
            hint=hint,
            downloads=DOWNLOADS,
        )

    async def download(self, request: Request) -> Response:
        """The blank or the example sheet, written by `pipeline.template` into the private
        folder under a name from `DOWNLOADS` (never the name asked for)."""
        from pipeline.template import write_example, write_template

        asked = request.path_params["name"]
        found = next((known for known in DOWNLOADS if known.name == asked), None)
        if found is None:
            raise HTTPException(404)
        target = self.workspace.folder / "downloads" / found.name
        if not target.exists():  # written whole or not at all (`pipeline.report.atomic_write`)
            write = write_example if found.example else write_template
            await anyio.to_thread.run_sync(lambda: write(target))
        return FileResponse(target, filename=found.name)

    # --- check ----------------------------------------------------------------------

    async def check_page(self, request: Request) -> Response:
        sheet = self.workspace.sheet
        if sheet is None:
            return RedirectResponse("/", status_code=303)
        tab = "prospects" if request.query_params.get("tab") == "prospects" else "campaigns"
        only = request.query_params.get("show") == "attention"
        result = sheet.checked
        tables = {table.kind: table for table in reversed(sheet.tables)}

        def laid_out() -> CheckGrid:
            if tab == "prospects":
                rows = [(p.row, p.status.value, p.errors) for p in result.prospects]
            else:
                rows = [(r.row, r.status.value, r.errors) for r in result.rows]
            table = tables.get(PROSPECTS if tab == "prospects" else CAMPAIGNS)
            return check_grid(table, rows, only=only)

        checked = await anyio.to_thread.run_sync(laid_out)
        return self.page(
            request,
            "check.html",
            result=result,
            tab=tab,
            only=only,
            checked=checked,
            grid=checked.grid,
            warnings=list(result.warnings),
        )

    # --- plan -----------------------------------------------------------------------

    async def plan(self, request: Request) -> Response:
        await (await self._form(request)).close()
        try:
            await anyio.to_thread.run_sync(self.workspace.make_plan)
        except PipelineError as exc:  # the library's words, where planning is done
            return self.page(
                request,
                "plan.html",
                status=400,
                groups=None,
                key_problem=self._key_problem(),
                problem=str(exc),
                hint=exc.hint,
            )
        return RedirectResponse("/plan", status_code=303)

    async def plan_page(self, request: Request) -> Response:
        return self.page(
            request,
            "plan.html",
            groups=await self._groups(),
            key_problem=self._key_problem(),
        )

    async def _groups(self) -> PlanGroups | None:
        """The plan on show, grouped (in a worker thread: a plan may have many rows)."""
        planned = self.workspace.planned
        if planned is None:
            return None
        return await anyio.to_thread.run_sync(plan_groups, planned.plan)

    # --- apply ----------------------------------------------------------------------

    async def apply(self, request: Request) -> Response:
        await (await self._form(request)).close()
        self.workspace.start_apply()
        return RedirectResponse("/apply", status_code=303)

    async def sandbox(self, request: Request) -> Response:
        await (await self._form(request)).close()
        self.workspace.use_sandbox()
        return RedirectResponse("/plan" if self.workspace.sheet else "/", status_code=303)

    def _key_problem(self) -> ConfigError | None:
        """The library's own words when applying needs a key this server was not given."""
        settings = self.workspace.settings
        if self.workspace.sandbox or settings.api_key is not None:
            return None
        try:
            RunSettings(state=settings.state, base_url=settings.base_url, api_key=None)
        except ConfigError as exc:
            return exc
        return None  # pragma: no cover - the library requires a key outside a dry run

    async def apply_page(self, request: Request) -> Response:
        return self.page(
            request,
            "apply.html",
            groups=await self._groups(),
            key_problem=self._key_problem(),
            **await self._progress(),
        )

    async def progress(self, request: Request) -> Response:
        return self.page(request, "progress.html", **await self._progress())

    async def _progress(self) -> dict[str, Any]:
        run = self.workspace.run
        if run is None:
            return {"total": 0, "done": 0, "tally": {}, "rows": shown(()), "poll": POLL_SECONDS}
        total, settled, tally = run.tally.snapshot()
        rows = await anyio.to_thread.run_sync(
            lambda: shown(progress_rows(run.planned.result.rows, settled))
        )
        return {
            "total": total,
            "done": len(settled),
            "tally": tally,
            "rows": rows,
            "poll": POLL_SECONDS,
        }

    # --- results and ledger ---------------------------------------------------------

    async def results_page(self, request: Request) -> Response:
        run = self.workspace.run
        result = run.result if run is not None else None
        files = [name for name in REPORT_FILES if self.workspace.report_file(name) is not None]
        rows = shown(result.rows if result is not None else ())
        return self.page(request, "results.html", result=result, files=files, rows=rows)

    async def report_file(self, request: Request) -> Response:
        found = self.workspace.report_file(request.path_params["name"])
        if found is None:
            raise HTTPException(404)
        return FileResponse(found, filename=found.name)

    async def ledger_page(self, request: Request) -> Response:
        from pipeline.status import RESOLVABLE, ledger_status

        path = self.workspace.ledger
        try:
            found = await anyio.to_thread.run_sync(ledger_status, path)
        except PipelineError as exc:
            return self.page(
                request, "ledger.html", found=None, path=path, problem=str(exc), hint=exc.hint
            )
        return self.page(request, "ledger.html", found=found, path=path, resolvable=RESOLVABLE)

    async def colours(self, request: Request) -> Response:
        return Response(status_css(), media_type="text/css")
