"""The Pandera model of parsed rows, built from the column catalogue.

`pipeline.validate` parses every cell by its kind first (keeping row numbers, which
Pandera's `coerce` would lose) and then runs `RowsModel` lazily over the typed frame for
the value ranges and the cross-column rules. Each check's name says which column it
belongs to; `CHECK_MESSAGES` turns a failed check into words for the sheet's owner.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.columns import COLUMNS, KEYWORD, MAX_API_INT, Column, Kind

NUMBER_COLUMNS: Final = tuple(c for c in COLUMNS if c.kind is Kind.WHOLE_NUMBER)
PROSPECTS_COLUMNS: Final = tuple(c for c in COLUMNS if c.prospects_only)
# Switches a Topic row may carry as false (they are sent, as false), but never as true.
KEYWORD_FALSE_SWITCHES: Final = frozenset({"skip_teammates_leads", "indirect_engagement"})

# The columns the model reads: the type, the numbers and the Prospects-only columns.
MODEL_COLUMNS: Final = tuple(
    dict.fromkeys(["campaign_type", *(c.name for c in (*NUMBER_COLUMNS, *PROSPECTS_COLUMNS))])
)

# check name -> (column name, message). Filled as the model is built.
CHECK_MESSAGES: Final[dict[str, tuple[str, str]]] = {}


def _number_checks(column: Column) -> dict[str, Any]:
    """Field checks of a whole-number column: minimum, maximum, multiple of."""
    bounds: dict[str, tuple[str, Any]] = {
        "minimum": (f"must be at least {column.minimum}", lambda s: s >= (column.minimum or 0)),
        "maximum": (f"must be at most {MAX_API_INT}", lambda s: s <= MAX_API_INT),
    }
    if column.multiple_of is not None:
        step = column.multiple_of
        bounds["multiple_of"] = (
            f"must be a multiple of {step} ({step}, {2 * step}, {3 * step}...)",
            lambda s: s % step == 0,
        )
    checks: dict[str, Any] = {}
    for what, (message, test) in bounds.items():
        name = f"{column.name}:{what}"
        CHECK_MESSAGES[name] = (column.name, message)

        def check(cls: Any, series: pd.Series, test: Any = test) -> pd.Series:
            result: pd.Series = test(series)
            return result

        checks[f"_check_{column.name}_{what}"] = pa.check(column.name, name=name)(check)
    return checks


def _keyword_check(column: Column) -> Any:
    """A frame check: a Topic (KEYWORD) row must leave this Prospects-only column empty."""
    name = f"{column.name}:keyword"
    if column.name in KEYWORD_FALSE_SWITCHES:
        message = "does not apply to topic campaigns: leave it empty or false"

        def check(cls: Any, df: pd.DataFrame) -> pd.Series:
            true = df[column.name].eq(True).fillna(False).astype(bool)
            return ~((df["campaign_type"] == KEYWORD) & true)
    else:
        message = "does not apply to topic campaigns: leave it empty"

        def check(cls: Any, df: pd.DataFrame) -> pd.Series:
            return ~((df["campaign_type"] == KEYWORD) & df[column.name].notna())

    CHECK_MESSAGES[name] = (column.name, message)
    return pa.dataframe_check(check, name=name)


def _build_model() -> type[pa.DataFrameModel]:
    namespace: dict[str, Any] = {
        "__annotations__": {c.name: Series[pd.Int64Dtype] for c in NUMBER_COLUMNS},
        "__module__": __name__,
    }
    for column in NUMBER_COLUMNS:
        namespace[column.name] = pa.Field(nullable=True)
        namespace.update(_number_checks(column))
    for column in PROSPECTS_COLUMNS:
        namespace[f"_keyword_{column.name}"] = _keyword_check(column)

    class Config:
        strict = False  # the other typed columns are parsed in our own code
        coerce = False

    namespace["Config"] = Config
    return type("RowsModel", (pa.DataFrameModel,), namespace)


RowsModel: Final = _build_model()
