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
Work that takes time (reading, checking, planning) runs in a worker thread; an apply
runs in the workspace's own thread, so it outlives the request and the tab.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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

from pipeline.errors import ConfigError, PipelineError
from pipeline.load import CAMPAIGNS, PROSPECTS
from pipeline.settings import RunSettings, is_url
from web.guard import CSRF_FIELD, CSRF_HEADER, Guard, TooLarge, csrf_ok, too_large_message
from web.views import grid, plan_groups, progress_rows, status_css
from web.workspace import REPORT_FILES, Refusal, ServeSettings, Workspace

HERE: Final = Path(__file__).parent
# The blank and example sheets offered on the Upload page: download name -> (example?).
DOWNLOADS: Final = {
    "campaigns.xlsx": False,
    "campaigns.csv": False,
    "example.xlsx": True,
    "example.csv": True,
}
POLL_SECONDS: Final = 1
# Rows the apply's progress table lists (those to send, in sheet order) before "and N more".
SHOWN_ROWS: Final = 500


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
    app.add_middleware(Guard, token=app.state.token, port=port, max_body=settings.max_bytes)
    return app


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
        return self.page(request, "upload.html", status=413, problem=too_large_message(limit))

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
        return self.page(request, "upload.html", downloads=list(DOWNLOADS))

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

    def _upload_problem(self, request: Request, problem: str, hint: str = "") -> Response:
        return self.page(
            request,
            "upload.html",
            status=400,
            problem=problem,
            hint=hint,
            downloads=list(DOWNLOADS),
        )

    async def download(self, request: Request) -> Response:
        """The blank or the example sheet, written by `pipeline.template` into the private
        folder under a name from `DOWNLOADS` (never the name asked for)."""
        from pipeline.template import write_example, write_template

        asked = request.path_params["name"]
        name = next((known for known in DOWNLOADS if known == asked), None)
        if name is None:
            raise HTTPException(404)
        target = self.workspace.folder / "downloads" / name
        if not target.exists():
            write = write_example if DOWNLOADS[name] else write_template
            await anyio.to_thread.run_sync(lambda: write(target))
        return FileResponse(target, filename=name)

    # --- check ----------------------------------------------------------------------

    async def check_page(self, request: Request) -> Response:
        sheet = self.workspace.sheet
        if sheet is None:
            return RedirectResponse("/", status_code=303)
        tab = "prospects" if request.query_params.get("tab") == "prospects" else "campaigns"
        only = request.query_params.get("show") == "attention"
        result = sheet.checked
        tables = {table.kind: table for table in reversed(sheet.tables)}
        if tab == "prospects":
            rows = [(p.row, p.status.value, p.errors) for p in result.prospects]
            counts = result.prospect_counts
        else:
            rows = [(r.row, r.status.value, r.errors) for r in result.rows]
            counts = result.counts
        shown = grid(tables.get(PROSPECTS if tab == "prospects" else CAMPAIGNS), rows)
        lines = [line for line in shown.lines if line.needs_person or not only]
        return self.page(
            request,
            "check.html",
            result=result,
            tab=tab,
            only=only,
            grid=shown,
            lines=lines,
            counts=counts,
            warnings=list(result.warnings),
        )

    # --- plan -----------------------------------------------------------------------

    async def plan(self, request: Request) -> Response:
        await (await self._form(request)).close()
        await anyio.to_thread.run_sync(self.workspace.make_plan)
        return RedirectResponse("/plan", status_code=303)

    async def plan_page(self, request: Request) -> Response:
        planned = self.workspace.planned
        groups = plan_groups(planned.plan) if planned is not None else None
        return self.page(request, "plan.html", groups=groups)

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
        planned = self.workspace.planned
        groups = plan_groups(planned.plan) if planned is not None else None
        return self.page(
            request,
            "apply.html",
            groups=groups,
            key_problem=self._key_problem(),
            **self._progress(),
        )

    async def progress(self, request: Request) -> Response:
        return self.page(request, "progress.html", **self._progress())

    def _progress(self) -> dict[str, Any]:
        run = self.workspace.run
        if run is None:
            return {"total": 0, "done": 0, "tally": {}, "rows": [], "poll": POLL_SECONDS}
        total, settled, tally = run.tally.snapshot()
        rows = progress_rows(run.planned.result.rows, settled)
        return {
            "total": total,
            "done": len(settled),
            "tally": tally,
            "rows": rows[:SHOWN_ROWS],
            "more": max(0, len(rows) - SHOWN_ROWS),
            "poll": POLL_SECONDS,
        }

    # --- results and ledger ---------------------------------------------------------

    async def results_page(self, request: Request) -> Response:
        run = self.workspace.run
        result = run.result if run is not None else None
        files = [name for name in REPORT_FILES if self.workspace.report_file(name) is not None]
        return self.page(request, "results.html", result=result, files=files)

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
