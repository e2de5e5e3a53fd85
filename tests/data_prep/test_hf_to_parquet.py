"""Each data_prep script converts a fixture file in its dataset's HF layout through the real loading code.

The fixtures are written here with the HF column names and types (list ``final_answer``, float AMC answers, DAPO's
chat-format prompt, GSM8K's "####" solutions), including bad rows that must be counted and skipped.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data_prep import aime24, amc23, dapo_math, gsm8k, math500, math_lighteval, minerva, olympiadbench
from data_prep.common import BOXED_INSTRUCTION, output_path

REPO = Path(__file__).resolve().parents[2]
DAPO_WRAP = dapo_math.DAPO_PREFIX + "{}" + dapo_math.DAPO_SUFFIX


def _dapo_row(problem, answer, index):
    return {
        "data_source": "math_dapo",
        "prompt": [{"role": "user", "content": DAPO_WRAP.format(problem)}],
        "ability": "MATH",
        "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MATH_v2"},
        "extra_info": {"index": index},
    }


# (module, fixture rows in the HF layout, expected (problem, answer) pairs written, expected skipped reasons)
CASES = {
    "math500": (
        math500,
        [
            {
                "problem": "What is $1+1$?",
                "solution": "...",
                "answer": "2",
                "subject": "A",
                "level": 1,
                "unique_id": "a",
            },
            {
                "problem": "Half of one?",
                "solution": "...",
                "answer": "\\frac{1}{2}",
                "subject": "A",
                "level": 2,
                "unique_id": "b",
            },
            {"problem": "   ", "solution": "...", "answer": "3", "subject": "A", "level": 1, "unique_id": "c"},
            {"problem": "No answer?", "solution": "...", "answer": "", "subject": "A", "level": 1, "unique_id": "d"},
        ],
        [("What is $1+1$?", "2"), ("Half of one?", "\\frac{1}{2}")],
        {"missing problem": 1, "missing answer": 1},
    ),
    "aime24": (
        aime24,
        [
            {"id": 60, "problem": "Find $x$.", "solution": "...", "answer": "204", "url": "u", "year": "2024"},
            {"id": 61, "problem": "Find $y$.", "solution": "...", "answer": None, "url": "u", "year": "2024"},
        ],
        [("Find $x$.", "204")],
        {"missing answer": 1},
    ),
    "amc23": (
        amc23,
        [
            {"id": 0, "question": "How many?", "answer": 27.0},
            {"id": 1, "question": "What fraction?", "answer": 0.5},
            {"id": 2, "question": "", "answer": 3.0},
        ],
        [("How many?", "27"), ("What fraction?", "0.5")],
        {"missing problem": 1},
    ),
    "minerva": (
        minerva,
        [{"question": "Compute the mass.", "answer": "5\\times 10^{3}"}, {"question": "Q?", "answer": "  "}],
        [("Compute the mass.", "5\\times 10^{3}")],
        {"missing answer": 1},
    ),
    "olympiadbench": (
        olympiadbench,
        [
            {"id": 1, "question": "Find n.", "final_answer": ["$12$"], "solution": ["..."]},
            {"id": 2, "question": "Find m.", "final_answer": [], "solution": ["..."]},
            {"id": 3, "question": "Find all x.", "final_answer": ["$x=1$", "$x=-2$"], "solution": ["..."]},
        ],
        [("Find n.", "$12$"), ("Find all x.", "x=1, x=-2")],
        {"missing answer": 1},
    ),
    "gsm8k": (
        gsm8k,
        [
            {"question": "Ann has 3 apples...", "answer": "3*400=1200\n#### 1,200"},
            {"question": "Bob?", "answer": "no final marker"},
        ],
        [("Ann has 3 apples...", "1200")],
        {"no #### answer": 1},
    ),
    "math_lighteval": (
        math_lighteval,
        [
            {"problem": "Simplify.", "level": "Level 1", "type": "Algebra", "solution": "So $\\boxed{\\frac{a}{b}}$."},
            {"problem": "Unboxed.", "level": "Level 1", "type": "Algebra", "solution": "The answer is 4."},
        ],
        [("Simplify.", "\\frac{a}{b}")],
        {"no \\boxed{} answer in solution": 1},
    ),
    "dapo_math": (
        dapo_math,
        [
            _dapo_row("Problem A", "7", "id-a"),
            _dapo_row("Problem B", "8", "id-b"),
            _dapo_row("Problem A", "7", "id-a2"),  # the HF set repeats every problem ~100 times
            _dapo_row("Problem A", "7", "id-a3"),
            _dapo_row("Problem C", "", "id-c"),
            {**_dapo_row("x", "1", "id-d"), "prompt": [{"role": "user", "content": "Not DAPO's wrapper"}]},
            _dapo_row("Problem B", "8", "id-b2"),
        ],
        [("Problem A", "7"), ("Problem B", "8")],
        {"missing answer": 1, "prompt not in DAPO template": 1},
    ),
}


def _write_fixture(rows, path):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        pd.DataFrame(rows).to_parquet(path)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_conversion_schema_template_ids_and_skips(name, suffix, tmp_path):
    module, rows, expected, expected_skips = CASES[name]
    fixture = tmp_path / f"fixture{suffix}"
    _write_fixture(rows, fixture)

    report = module.main(module.SPEC, split="x", argv=["--input", str(fixture), "--local_dir", str(tmp_path / "out")])

    out = pd.read_parquet(output_path(str(tmp_path / "out"), module.SPEC.data_source))
    assert list(out.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert set(out["data_source"]) == {module.SPEC.data_source}
    assert [
        (info["problem"], rm["ground_truth"]) for info, rm in zip(out["extra_info"], out["reward_model"], strict=True)
    ] == expected
    for prompt, (problem, _) in zip(out["prompt"], expected, strict=True):
        assert list(prompt) == [{"role": "user", "content": f"{problem} {BOXED_INSTRUCTION}"}]
    assert list(out["extra_info"].map(lambda info: info["index"])) == list(range(len(expected)))
    assert dict(report.skipped) == expected_skips
    assert report.rows_in == len(rows)
    assert report.rows_out + report.duplicates + sum(report.skipped.values()) == len(rows)


def test_olympiadbench_multi_answer_gold_scores_a_complete_answer_in_any_order():
    """Every item of a multi-answer ``final_answer`` is in the gold, which the recipe's reward reads as a set."""
    from recipe.aero.reward.math_reward import compute_score

    gold = olympiadbench.final_answer({"final_answer": ["$x=1$", "$x=-2$"]})
    assert compute_score("olympiadbench", "So \\boxed{x=-2, x=1}.", gold)["acc"] == 1.0
    assert compute_score("olympiadbench", "So \\boxed{-2, 1}.", gold)["acc"] == 1.0
    assert compute_score("olympiadbench", "So \\boxed{x=1}.", gold)["acc"] == 0.0  # one of two answers is wrong


def test_dapo_dedup_keeps_first_copy(tmp_path):
    _, rows, _, _ = CASES["dapo_math"]
    fixture = tmp_path / "dapo.parquet"
    _write_fixture(rows, fixture)
    report = dapo_math.main(dapo_math.SPEC, "train", ["--input", str(fixture), "--local_dir", str(tmp_path)])
    out = pd.read_parquet(tmp_path / "math_dapo.parquet")
    assert report.duplicates == 3
    assert [info["source_id"] for info in out["extra_info"]] == ["id-a", "id-b"]


def test_qwen_template_adds_system_turn(tmp_path):
    _, rows, _, _ = CASES["aime24"]
    fixture = tmp_path / "aime.jsonl"
    _write_fixture(rows, fixture)
    aime24.main(
        aime24.SPEC, "test", ["--input", str(fixture), "--local_dir", str(tmp_path), "--template", "qwen_boxed"]
    )
    prompt = list(pd.read_parquet(tmp_path / "aime24.parquet")["prompt"][0])
    assert [turn["role"] for turn in prompt] == ["system", "user"]
    assert prompt[1]["content"].startswith("Find $x$.\n") and "\\boxed{}" in prompt[1]["content"]


def test_all_rows_bad_refuses_to_write(tmp_path):
    fixture = tmp_path / "bad.jsonl"
    _write_fixture([{"question": "", "answer": "1"}], fixture)
    with pytest.raises(ValueError, match="no valid rows"):
        minerva.main(minerva.SPEC, "test", ["--input", str(fixture), "--local_dir", str(tmp_path)])


def test_missing_input_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        gsm8k.main(gsm8k.SPEC, "test", ["--input", str(tmp_path / "nope.parquet"), "--local_dir", str(tmp_path)])


def test_data_sources_are_unique_across_datasets():
    names = [case[0].SPEC.data_source for case in CASES.values()]
    assert len(set(names)) == len(names)


def test_prepare_all_writes_every_data_source(tmp_path):
    """prepare_all.sh end to end on local HF-layout copies (INPUT_DIR), one subprocess per dataset script."""
    for name, (_, rows, _, _) in CASES.items():
        _write_fixture(rows, tmp_path / f"{name}.parquet")
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(REPO / "data_prep" / "prepare_all.sh")],
        env={**os.environ, "INPUT_DIR": str(tmp_path), "DATA_DIR": str(out), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(path.stem for path in out.glob("*.parquet"))
    assert written == sorted(case[0].SPEC.data_source for case in CASES.values())
    assert "math_dapo: 7 rows in, 2 written, 3 duplicates removed, 2 skipped" in result.stdout
