"""Start-up check of the columns that verl's ``RLHFDataset``, the reward and AERO read from every data row.

Why: verl reads a row's columns lazily. ``reward_model.ground_truth`` and ``data_source`` are first read when the
reward scores a rollout, and ``extra_info.index`` when AERO keys its posterior by ``int(index)`` after step 1's
rollouts; a bad value then stops a paper-scale run minutes in, with an error (``invalid literal for int()``) that
names neither the file nor the column. This check reads the few columns involved before Ray starts and names the
file, the column and the first bad rows (0-based row numbers in the file, values truncated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class ColumnRule:
    """What one (possibly nested) column must hold in every row.

    Attributes:
        column: The top-level parquet column.
        field: The struct field inside ``column`` that is checked, or None for the column itself.
        requirement: What a valid value is, completing "must be ..." in the refusal.
        is_valid: Row value (as pyarrow reads it into Python) -> whether it meets ``requirement``.
    """

    column: str
    field: str | None
    requirement: str
    is_valid: Callable[[Any], bool]

    @property
    def name(self) -> str:
        """The dotted name used in messages: ``extra_info.index``."""
        return self.column if self.field is None else f"{self.column}.{self.field}"


def is_chat_list(value: Any) -> bool:
    """A non-empty list of messages, each a mapping with string ``role`` and ``content`` (what chat templates read)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
            for message in value
        )
    )


def is_integer_id(value: Any) -> bool:
    """An int, a float with an integral value, or a string that ``int()`` accepts: the trainer keys by ``int(index)``.

    A bool is refused: parquet's boolean column is never a prompt id, only a mislabelled flag.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()  # False for nan and inf
    if isinstance(value, str):
        try:
            int(value)
        except ValueError:
            return False
        return True
    return False


def _is_present(value: Any) -> bool:
    return value is not None


def row_rules(prompt_key: str = "prompt") -> list[ColumnRule]:
    """The rules every train and validation row must meet; ``prompt_key`` is verl's ``data.prompt_key``."""
    return [
        ColumnRule(prompt_key, None, 'a non-empty chat list of {"role": str, "content": str} messages', is_chat_list),
        ColumnRule("reward_model", "ground_truth", "present (not null), the reward's reference answer", _is_present),
        ColumnRule(
            "data_source",
            None,
            "a non-empty string (it selects the reward and keys AERO's posterior)",
            lambda value: isinstance(value, str) and bool(value.strip()),
        ),
        ColumnRule(
            "extra_info",
            "index",
            "an integer id (an int, or a float / string that int() converts exactly); AERO keys its posterior by it",
            is_integer_id,
        ),
    ]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _absent_column(schema, rule: ColumnRule) -> str | None:
    """Why ``rule``'s column cannot be read from ``schema`` at all, or None when it exists."""
    import pyarrow as pa

    if rule.column not in schema.names:
        return f"column {rule.column} is missing"
    if rule.field is None:
        return None
    column_type = schema.field(rule.column).type
    if not pa.types.is_struct(column_type):
        return f"column {rule.name} is missing ({rule.column} is {column_type}, not a struct)"
    if column_type.get_field_index(rule.field) < 0:
        return f"column {rule.name} is missing ({rule.column} has fields {[f.name for f in column_type]})"
    return None


def check_data_file(path: str, prompt_key: str = "prompt", max_listed: int = 3) -> list[str]:
    """Checks one parquet file against :func:`row_rules`, reading only the columns they name.

    Args:
        path: A local parquet file (``data.train_files`` or ``data.val_files`` entry).
        prompt_key: verl's ``data.prompt_key``: the column holding the chat messages.
        max_listed: How many bad rows each problem names.

    Returns:
        One message per bad column, each starting with ``path`` and naming the column; empty when the file is valid.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as error:
        return [f"{path}: not a readable parquet file ({error})"]
    problems, readable = [], []
    for rule in row_rules(prompt_key):
        absent = _absent_column(schema, rule)
        if absent:
            problems.append(f"{path}: {absent}; it must be {rule.requirement}")
        else:
            readable.append(rule)
    if not readable:
        return problems
    table = pq.read_table(path, columns=sorted({rule.column for rule in readable}))
    for rule in readable:
        column = table.column(rule.column)
        values = (column if rule.field is None else pc.struct_field(column, rule.field)).to_pylist()
        bad = [(row, value) for row, value in enumerate(values) if not rule.is_valid(value)]
        if bad:
            listed = ", ".join(f"row {row} = {_shown(value)}" for row, value in bad[:max_listed])
            problems.append(
                f"{path}: column {rule.name} must be {rule.requirement}; {len(bad)} of {len(values)} row(s) are "
                f"not (0-based): {listed}"
            )
    return problems
