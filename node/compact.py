"""A month's frame in the smallest types that hold its values exactly, and the exact values back.

A node holds (or caches) every month it serves, so bytes per household count. Whole numbers shrink to the
narrowest integer type their range needs, repeated text becomes a category, and each money column takes the
smallest of three exact forms:

- whole pennies in 16 or 32 bits, where every value is whole pennies: `pennies / 100` gives back the very same
  float64, so filters, whole-pound rounding and clamping see exactly the value the file had;
- a dictionary (a pandas categorical over the column's distinct float64 values, 1-2 byte codes), for columns
  with few distinct amounts (benefit rates, council tax by band, modelled bills), derived or not;
- float64 as it was (a computed income with a distinct value in nearly every household).

The frame lists its penny columns in ``frame.attrs["pennies"]`` (which Parquet keeps), so `exact_values` never guesses
from a dtype; a dictionary column is a categorical with numeric categories, which no schema category is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from node.schema import DERIVED, SCHEMA

PENNIES = "pennies"  # the frame attribute naming columns held as whole pennies
DICTIONARY = "dictionary"  # and the one naming money held as dictionary codes (Parquet does not keep their type)
_MONEY = frozenset(name for name, c in {**SCHEMA, **DERIVED}.items() if c.kind == "float")
_INT32 = np.iinfo(np.int32)
_INT16 = np.iinfo(np.int16)


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """The same values in compact types; money columns whose every value is whole pennies become int32 pennies."""
    out: dict[str, pd.Series] = {}
    pennies: list[str] = list(frame.attrs.get(PENNIES, ()))
    for name in frame.columns:
        column = frame[name]
        if name in _MONEY and name not in pennies and pd.api.types.is_float_dtype(column.dtype):
            out[name], in_pennies = smallest_money(column)
            pennies += [name] if in_pennies else []
        elif pd.api.types.is_bool_dtype(column.dtype) or isinstance(column.dtype, pd.CategoricalDtype):
            out[name] = column
        elif pd.api.types.is_integer_dtype(column.dtype):
            out[name] = _narrow_integers(column)
        elif pd.api.types.is_string_dtype(column.dtype) and column.nunique(dropna=True) * 4 < max(len(column), 1):
            out[name] = column.astype("category")
        else:
            out[name] = column
    result = pd.DataFrame(out, index=frame.index)
    result.attrs[PENNIES] = [name for name in result.columns if name in pennies]
    result.attrs[DICTIONARY] = [name for name in result.columns if is_dictionary(result[name])]
    return result


def smallest_money(column: pd.Series) -> tuple[pd.Series, bool]:
    """The smallest exact form of a float64 money column, and whether it is in pennies."""
    forms = [(column, False), (as_dictionary(column), False)]
    held = as_pennies(column)
    if held is not None:
        forms.append((held, True))
    return min(forms, key=lambda form: int(form[0].memory_usage(deep=True, index=False)))


def as_dictionary(column: pd.Series) -> pd.Series:
    """The column as codes into its distinct values (missing values as code -1): the same float64 values."""
    return pd.Series(pd.Categorical(column.to_numpy(dtype=np.float64)), index=column.index, name=column.name)


def as_pennies(column: pd.Series) -> pd.Series | None:
    """The column as int16/int32 pennies (nullable if any are missing), or None if that would change a value."""
    if not pd.api.types.is_float_dtype(column.dtype):
        return None
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(values)
    if np.isinf(values).any():
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        pennies = np.round(values * 100)
    kept = pennies[present]
    if kept.size and (kept.min() < _INT32.min or kept.max() > _INT32.max):
        return None
    # The test that matters is the way back: the float64 pounds() will rebuild must be the file's float64.
    if not np.array_equal(kept / 100, values[present]):
        return None
    fits16 = not kept.size or (kept.min() >= _INT16.min and kept.max() <= _INT16.max)
    whole = np.where(present, pennies, 0).astype(np.int16 if fits16 else np.int32)
    if present.all():
        return pd.Series(whole, index=column.index, name=column.name)
    return pd.Series(pd.arrays.IntegerArray(whole, ~present), index=column.index, name=column.name)


def exact_values(frame: pd.DataFrame, name: str) -> pd.Series:
    """One column with exact values: money held as pennies or dictionary codes back to float64 pounds."""
    column = frame[name]
    if name in frame.attrs.get(PENNIES, ()):
        return pd.Series(column.to_numpy(dtype=np.float64, na_value=np.nan) / 100, index=frame.index, name=name)
    if is_dictionary(column):
        return pd.Series(np.asarray(column.array, dtype=np.float64), index=frame.index, name=name)
    return column


def is_dictionary(column: pd.Series) -> bool:
    """Whether a column is money held as dictionary codes (a categorical over numbers, never a schema category)."""
    dtype = column.dtype
    return isinstance(dtype, pd.CategoricalDtype) and pd.api.types.is_numeric_dtype(dtype.categories.dtype)


def _narrow_integers(column: pd.Series) -> pd.Series:
    if column.isna().all():
        return column
    low, high = int(column.min()), int(column.max())
    nullable = isinstance(column.dtype, pd.api.extensions.ExtensionDtype)
    for bits in (8, 16, 32):
        info = np.iinfo(f"int{bits}")
        if info.min <= low and high <= info.max:
            return column.astype(f"Int{bits}" if nullable else f"int{bits}")
    return column
