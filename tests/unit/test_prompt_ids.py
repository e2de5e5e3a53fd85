"""Start-up refusal of training data without unique, stable prompt ids (the posterior store's keys)."""

import pandas as pd
import pytest

from recipe.aero.prompt_ids import PromptIdError, check_prompt_ids


def _write(path, indices, source="math"):
    rows = [
        {"data_source": source, "extra_info": {"index": i} if i is not None else {"split": "train"}} for i in indices
    ]
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def test_unique_ids_pass_and_the_same_index_may_repeat_across_sources(tmp_path):
    first = _write(tmp_path / "a.parquet", [0, 1, 2], source="math")
    second = _write(tmp_path / "b.parquet", [0, 1], source="gsm8k")
    assert check_prompt_ids([first, second]) == 5


def test_missing_index_is_refused_naming_file_and_rows(tmp_path):
    path = _write(tmp_path / "a.parquet", [0, None, 2, None])
    with pytest.raises(PromptIdError, match=r"a\.parquet: 2 row\(s\) have no extra_info.index \(rows \[1, 3\]\)"):
        check_prompt_ids([path])


def test_duplicates_across_files_are_refused_naming_both_places(tmp_path):
    first = _write(tmp_path / "a.parquet", [0, 1])
    second = _write(tmp_path / "b.parquet", [1, 2])
    with pytest.raises(PromptIdError, match="1 duplicated prompt id") as error:
        check_prompt_ids([first, second])
    assert "a.parquet row 1 (math/1)" in str(error.value) and "b.parquet row 0 (math/1)" in str(error.value)


def test_missing_column_is_refused(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"prompt": ["x"]}).to_parquet(path)
    with pytest.raises(PromptIdError, match="column 'data_source' is missing"):
        check_prompt_ids([str(path)])
