"""Start-up check of the stable prompt ids that key AERO's posterior store (DESIGN.md §2.6, §5).

The posterior is keyed by ``(data_source, extra_info.index)``. verl's dataset silently uses index 0 when
``extra_info.index`` is missing, so two prompts would share one posterior; this check refuses such data before
Ray or any model starts, naming the file and the offending rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


class PromptIdError(ValueError):
    """Training data whose prompts lack a unique, stable ``(data_source, extra_info.index)`` id."""


def check_prompt_ids(files: Iterable[str], max_listed: int = 5) -> int:
    """Verifies that every training row has an ``extra_info.index`` unique within its ``data_source``.

    Args:
        files: the training parquet files (``data.train_files``).
        max_listed: how many offending rows to name in the error.

    Returns:
        The number of prompts checked.

    Raises:
        PromptIdError: naming the file and rows with a missing ``data_source``/``extra_info.index``, or the
            duplicated ids and where they occur (across files too).
    """
    import pyarrow.parquet as pq

    frames = []
    for path in files:
        columns = pq.read_schema(path).names
        for column in ("data_source", "extra_info"):
            if column not in columns:
                raise PromptIdError(f"{path}: column {column!r} is missing; AERO keys its posterior by it")
        frame = pd.read_parquet(path, columns=["data_source", "extra_info"])  # not the prompts: ~100k rows a file
        index = frame["extra_info"].map(lambda info: info.get("index") if isinstance(info, dict) else None)
        missing = frame.index[index.isna()].tolist()
        if missing:
            raise PromptIdError(
                f"{path}: {len(missing)} row(s) have no extra_info.index (rows {missing[:max_listed]}); every prompt "
                "needs a stable id, see data_prep/"
            )
        frames.append(
            pd.DataFrame({"file": path, "row": frame.index, "data_source": frame["data_source"], "id": index})
        )
    ids = pd.concat(frames, ignore_index=True)
    ids["id"] = ids["id"].map(_posterior_id)
    duplicated = ids[ids.duplicated(["data_source", "id"], keep=False)]
    if len(duplicated):
        listed = duplicated.head(max_listed * 2)
        where = "; ".join(f"{r.file} row {r.row} ({r.data_source}/{r.id})" for r in listed.itertuples())
        raise PromptIdError(
            f"{duplicated.groupby(['data_source', 'id']).ngroups} duplicated prompt id(s) (data_source, "
            f"extra_info.index) in the training data: {where}"
        )
    return len(ids)


def _posterior_id(index) -> int | str:
    """The id as the trainer keys the posterior (``int(index)``), so ``3`` in one file and ``"3"`` in another collide;
    an index ``int()`` refuses stays text (``recipe.aero.data_schema`` refuses it before this check runs)."""
    try:
        return int(index)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return str(index)
