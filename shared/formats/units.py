"""Units a logger states in its own header, checked against the schema before anything merges.

Campbell loggers write units the way their programmers type them; pint reads some of those as
something else entirely (`Deg C` is degree x coulomb), so the common spellings are mapped first.
A column's stated unit must equal its variable's `source_unit` (its `unit` when it has none):
a logger programmed in mV feeding a schema in V is an error naming both, never a silent 1000x.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.fuse import NodeSchema
from shared.fuse.errors import DataError
from shared.fuse.units import DateTimeUnit, parse_unit

# Campbell spelling -> pint expression (matched case-sensitively first, then case-insensitively).
CAMPBELL_UNITS = {
    "Deg C": "degC", "DegC": "degC", "deg C": "degC", "degC": "degC", "C": "degC", "oC": "degC",
    "Deg F": "degF", "DegF": "degF",
    "Volts": "V", "Volt": "V", "V": "V", "mV": "mV", "mVolts": "mV",
    "W/m^2": "W/m^2", "W/m2": "W/m^2", "W/meter^2": "W/m^2", "MJ/m^2": "MJ/m^2",
    "%": "percent", "%RH": "percent", "percent": "percent",
    "mm": "mm", "m/s": "m/s", "meters/second": "m/s", "Deg": "degree", "degrees": "degree",
    "mbar": "mbar", "hPa": "hPa", "kPa": "kPa", "unitless": "dimensionless",
}
_LOWER = {spelling.lower(): unit for spelling, unit in CAMPBELL_UNITS.items()}


def pint_expression(stated: str) -> str:
    """The pint expression of a unit as a logger states it."""
    return CAMPBELL_UNITS.get(stated) or _LOWER.get(stated.lower()) or stated


def check_stated_units(stated: Mapping[str, str], schema: NodeSchema) -> None:
    """Raise DataError for the first column whose stated unit differs from the schema's."""
    by_column = {var.df_col: var for var in (*schema.coords.values(), *schema.vars.values())}
    for column, unit in stated.items():
        var = by_column.get(column)
        expected = None if var is None else (var.source_unit or var.unit)
        if expected is None or isinstance(expected, DateTimeUnit):
            continue  # not in the schema (the extra-columns rule decides) or no physical unit
        where = "source_unit" if var.source_unit else "unit"
        try:
            same = parse_unit(pint_expression(unit)) == parse_unit(expected)
        except ValueError:
            same = False
        if not same:
            raise DataError(
                f"column {column!r}: the logger states unit {unit!r}, the schema's {where} of "
                f"{var.name!r} is {expected!r}; fix the logger program or the schema's {where}",
                column=column, value=unit,
            )
