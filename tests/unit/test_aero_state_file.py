"""The AERO checkpoint state file: written whole or not at all, and a damaged one is named, not misread."""

import os

import pytest

from recipe.aero.trainer import read_state, write_state_atomically


def test_round_trip_and_no_temporary_left(tmp_path):
    path = tmp_path / "aero_state.json"
    write_state_atomically(str(path), {"posterior": {"keys": []}, "cumulative": {"gen_rollouts": 3.0}})
    assert read_state(str(path))["cumulative"]["gen_rollouts"] == 3.0
    assert os.listdir(tmp_path) == ["aero_state.json"]


def test_a_failed_write_keeps_the_previous_state(tmp_path):
    path = tmp_path / "aero_state.json"
    write_state_atomically(str(path), {"step": 1})
    with pytest.raises(TypeError):
        write_state_atomically(str(path), {"step": object()})  # not serialisable: fails mid-write
    assert read_state(str(path)) == {"step": 1}
    assert os.listdir(tmp_path) == ["aero_state.json"]


@pytest.mark.parametrize("content", ['{"posterior": {"keys": [', "[1, 2]"])
def test_truncated_or_wrong_state_names_the_file(tmp_path, content):
    path = tmp_path / "aero_state.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path)):
        read_state(str(path))
