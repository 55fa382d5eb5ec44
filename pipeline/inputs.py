"""Inputs by URL: a PATH that is a link (a shared sheet's export link), read as a sheet.

`read_tables(options)` reads every input, its tables in the order the inputs were given:
the files and folders first, all of them expanded and de-duplicated at once
(`pipeline.load.expand_paths`), so that a bad path stops the run before anything is
downloaded; then each URL downloaded (`pipeline.client.download`, within
`DOWNLOAD_DEADLINE` seconds in all) and read from the bytes it served
(`pipeline.load.load_bytes`). What a download means is decided here by `sheet_suffix`, a
pure function: the format comes from the bytes (an xlsx is a zip) and the `Content-Type`
and `Content-Disposition` headers, never from the URL; an HTML page (a sign-in wall), an
error status, a body past `--max-bytes`, a redirect to an address that is not allowed,
a download past its deadline, or no answer at all is an `InputError` saying what came
back and what to check.

A downloaded input is called by its URL without the query (`public_url`) in every report
and message: signed links carry secrets there, so the query is never shown or written.
Two links that differ only there (two tabs of one Google Sheet: `...export?gid=0` and
`gid=123`) are told apart by a number, `https://host/export (2)`, in the order given. The
names inputs are read and kept as (`pipeline.filenames`) are bare, safe file names, never
a path taken from a URL or a server's header.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from pipeline.errors import InputError
from pipeline.filenames import safe_name, unique_name
from pipeline.load import SUFFIXES, Table, expand_paths, load, load_tables
from pipeline.settings import Options, public_url, redirect_problem
from pipeline.timing import Timing

if TYPE_CHECKING:  # httpx (through the client) is imported when a link is downloaded
    from pipeline.client import Downloaded, DownloadTransport

__all__ = [
    "DOWNLOAD_DEADLINE",
    "DOWNLOAD_TIMEOUT",
    "load_url",
    "naming_urls",
    "read_tables",
    "sheet_suffix",
    "shown_urls",
    "url_stem",
]

# Seconds to wait for each step of a download (connecting, each read) before giving up.
DOWNLOAD_TIMEOUT: Final = 60.0
# Seconds one download may take in all, redirects included: a server sending a byte now
# and then must not hold an unattended run. Read when each download starts.
DOWNLOAD_DEADLINE: Final = 120.0

_ZIP: Final = b"PK\x03\x04"  # xlsx, xlsm, xlsb and ods are zip files
_OLE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, or an encrypted xlsx
_ZIPPED: Final = (".xlsx", ".xlsm", ".xlsb", ".ods")
_HTML_TYPES: Final = ("text/html", "application/xhtml+xml")
_HTML_STARTS: Final = (b"<!doctype html", b"<html", b"<head", b"<body")
# Types servers give CSV files besides text/*: generic bytes, Excel's registered type.
_CSV_TYPES: Final = (
    "",
    "application/csv",
    "application/x-csv",
    "application/octet-stream",
    "binary/octet-stream",
    "application/vnd.ms-excel",
)
_NOT_CSV_TEXT: Final = ("text/xml", "text/javascript", "text/css")
_TIMEOUTS: Final = ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout")
_GOOGLE_HINT: Final = (
    'For a Google Sheet: share it with "Anyone with the link" (Viewer), or publish it '
    "(File > Share > Publish to web), and give its export link (.../export?format=xlsx)."
)
_BROWSER_HINT: Final = (
    "Open the link in a private browser window: it should download the file without signing in."
)


def read_tables(
    options: Options,
    *,
    timing: Timing | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
    transport: DownloadTransport | None = None,
) -> list[Table]:
    """Every input of `options.paths`, one `Table` per file, in the order given (files
    and folders as `pipeline.load.load` reads them, a file named twice, or also through
    its folder, read once, wherever it comes in the list; a URL named twice read once).
    A downloaded table's `url` is its name in reports (`shown_urls`), and its `path` the
    bare name it was read as, distinct from every other table's. `timing` counts each
    download's deadline."""
    # Every path checked, and every file read, before anything is downloaded.
    files = expand_paths(given for given in options.paths if isinstance(given, Path))
    tables = load(
        files,
        sheet=options.sheet,
        max_rows=options.max_rows,
        skip_hidden_rows=options.skip_hidden_rows,
    )
    # Where each table goes in the list given: at its input's place (a file found in a
    # folder at its folder's), the first place that input is named.
    # A workbook may give two tables (its campaign and prospects sheets): both go at its
    # place, in that order (the sort is stable).
    place = {given: index for index, given in reversed(list(enumerate(options.paths)))}
    order = {file: index for index, file in enumerate(files)}
    placed = [
        (place[files.folders.get(table.path, table.path)], order[table.path], table)
        for table in tables
    ]
    timing = timing or Timing.real()
    for url, shown in shown_urls(options.paths).items():
        read = load_url(
            url, options, shown=shown, timing=timing, timeout=timeout, transport=transport
        )
        placed.extend((place[url], 0, table) for table in read)
    return _distinct([table for *_, table in sorted(placed, key=lambda p: p[:2])])


def shown_urls(paths: Iterable[Path | str]) -> dict[str, str]:
    """Each distinct URL of `paths`, in order, and what reports call it: `public_url`,
    numbered from the second link on that shares it with an earlier one (`https://host/export
    (2)`), so that every downloaded input has a name of its own and no query is shown."""
    shown: dict[str, str] = {}
    for url in paths:
        if not isinstance(url, str) or url in shown:
            continue
        name = public = public_url(url)
        number = 1
        while name in shown.values():
            number += 1
            name = f"{public} ({number})"
        shown[url] = name
    return shown


def load_url(
    url: str,
    options: Options,
    *,
    shown: str = "",
    timing: Timing | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
    transport: DownloadTransport | None = None,
) -> list[Table]:
    """Download `url` (within `DOWNLOAD_DEADLINE` seconds, as `timing` counts) and read
    what it served as a sheet; `InputError` when it is not one. Its tables (campaign
    rows, then a workbook's prospects sheet) and every message call it `shown`, by
    default the URL without its query (`public_url`)."""
    shown = shown or public_url(url)
    from pipeline.client import download

    got = download(
        url,
        max_bytes=options.max_bytes,
        timeout=timeout,
        deadline=DOWNLOAD_DEADLINE,
        monotonic=(timing or Timing.real()).monotonic,
        transport=transport,
    )
    suffix = sheet_suffix(got, shown, max_bytes=options.max_bytes)
    name = f"{_without_suffix(safe_name(got.filename)) if got.filename else url_stem(url)}{suffix}"
    try:
        tables = load_tables(
            got.body,
            name,
            sheet=options.sheet,
            max_rows=options.max_rows,
            skip_hidden_rows=options.skip_hidden_rows,
        )
    except InputError as error:
        raise _naming(error, shown) from None
    prefix = f"{name}: "
    return [
        replace(
            table,
            url=shown,
            warnings=tuple(
                f"{shown}: {w[len(prefix) :]}" if w.startswith(prefix) else w
                for w in table.warnings
            ),
        )
        for table in tables
    ]


def sheet_suffix(got: Downloaded, shown: str, *, max_bytes: int) -> str:
    """The suffix to read a download as (`.xlsx`, `.csv`...), by its bytes and headers;
    `InputError` for anything that is not a sheet. Pure: `shown` is the URL to name."""
    _refuse_failures(got, shown, max_bytes)
    media = got.content_type.split(";", 1)[0].strip().lower()
    named = _suffix(got.filename)
    body = got.body
    if body.startswith(_ZIP):
        if named in _ZIPPED:
            return named
        if "opendocument.spreadsheet" in media:
            return ".ods"
        return ".xlsm" if "macroenabled" in media else ".xlsx"
    if body.startswith(_OLE):  # an encrypted xlsx is one too: its name lets load say so
        return named if named in (".xlsx", ".xlsm") else ".xls"
    if media in _HTML_TYPES or body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(
        _HTML_STARTS
    ):
        raise InputError(
            shown,
            "the link served a web page (HTML), not a CSV or XLSX file; most likely a "
            "sign-in or error page",
            hint=_hint(got, shown),
        )
    text = media.startswith("text/") and media not in _NOT_CSV_TEXT
    if not (text or media in _CSV_TYPES):
        raise InputError(
            shown,
            f"the link served {media}, not a CSV or XLSX file",
            hint="Give a link that downloads the sheet itself as .csv or .xlsx. " + _GOOGLE_HINT,
        )
    if b"\x00" in body[:4096] and not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            shown,
            f"the link served binary data ({media or 'no Content-Type'}) that is neither "
            "a workbook nor a CSV file",
            hint="Give a link that downloads the sheet itself as .csv or .xlsx.",
        )
    tabs = named == ".tsv" or media == "text/tab-separated-values"
    return ".tsv" if tabs else ".csv"


def _refuse_failures(got: Downloaded, shown: str, max_bytes: int) -> None:
    """An `InputError` for a download that brought no body to judge."""
    from pipeline.client import DEADLINE_PASSED, MAX_REDIRECTS

    if got.failure:
        if got.failure == DEADLINE_PASSED:
            raise InputError(
                shown,
                f"the download took longer than {DOWNLOAD_DEADLINE:g} seconds in all and "
                "was stopped (the server sends the file too slowly)",
                hint="Try again later, or download the file and give it instead of the link.",
            )
        if got.failure in _TIMEOUTS:
            problem = f"the server did not answer in time ({got.failure})"
        elif got.failure == "TooManyRedirects":
            problem = f"the link redirected more than {MAX_REDIRECTS} times"
        elif got.failure == "InvalidURL":
            problem = "is not a valid address"
        elif got.failure == "ConnectError":
            problem = "could not connect to the server (ConnectError)"
        else:
            problem = f"the download failed ({got.failure})"
        raise InputError(
            shown,
            problem,
            hint="Check the address, and that this machine can reach it (network, proxy, "
            "firewall).",
        )
    if got.location:
        target = public_url(got.location)
        raise InputError(
            shown,
            f"the link redirected (HTTP {got.status}) to {target}, which is refused: it "
            f"{redirect_problem(got.final_url, got.location)}",
            hint="Give the https:// link the sheet is finally served from.",
        )
    if not 200 <= got.status < 300:
        raise InputError(
            shown,
            f"the server answered HTTP {got.status} {_phrase(got.status)}".rstrip(),
            hint="The server failed; try again later, or open the link in a browser."
            if got.status >= 500
            else _hint(got, shown),
        )
    if got.too_large:
        raise InputError(
            shown,
            f"the link serves more than {max_bytes:,} bytes (--max-bytes); the download "
            "was stopped",
            hint="If the sheet really is that big, raise --max-bytes.",
        )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _hint(got: Downloaded, shown: str) -> str:
    """What to check for a link that answers without the sheet: sharing, for Google."""
    hosts = {urlsplit(shown).hostname or "", urlsplit(got.final_url).hostname or ""}
    if any(
        h == "google.com" or h.endswith((".google.com", ".googleusercontent.com")) for h in hosts
    ):
        return _GOOGLE_HINT
    return _BROWSER_HINT


@contextmanager
def naming_urls(tables: Iterable[Table]) -> Iterator[None]:
    """An `InputError` raised about a downloaded table names its URL, not the name the
    table was read as (for checks made after loading, such as required columns)."""
    try:
        yield
    except InputError as error:
        for table in tables:
            if table.url and error.path == table.path:
                raise _naming(error, table.url) from None
        raise


def _naming(error: InputError, shown: str) -> InputError:
    return InputError(
        shown,
        error.problem,
        sheet=error.sheet,
        row=error.row,
        column=error.column,
        hint=error.hint,
    )


def url_stem(url: str) -> str:
    """A short, readable, safe name for a URL: its last path segment (less a sheet's
    suffix), else its host (`https://docs.google.com/spreadsheets/d/ID/export?format=xlsx`
    -> `export`; `https://example.com/plans/q1.csv` -> `q1`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = urlsplit(""), ""
    segment = safe_name(unquote(PurePosixPath(parts.path).name), fallback="")
    return _without_suffix(segment or safe_name(host, fallback="download"))


def _suffix(name: str) -> str:
    return PurePosixPath(safe_name(name)).suffix.lower() if name else ""


def _without_suffix(name: str) -> str:
    """`name` without a spreadsheet suffix (the format read is the one judged)."""
    path = PurePosixPath(name)
    return path.stem if path.suffix.lower() in SUFFIXES and path.stem else name


def _distinct(tables: list[Table]) -> list[Table]:
    """Each downloaded table's name made distinct from every other table's path (the
    run tells its inputs apart by path)."""
    taken = [str(t.path) for t in tables if not t.url]
    named: dict[str, str] = {}  # a URL's tables (campaigns, prospects) share one name
    result = []
    for table in tables:
        if table.url:
            name = named.get(table.url)
            if name is None:
                name = named[table.url] = unique_name(table.path.name, taken)
                taken.append(name)
            table = replace(table, path=Path(name))
        result.append(table)
    return result
