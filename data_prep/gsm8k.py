"""GSM8K (main, test, 1319) -> ``gsm8k.parquet``; the answer is the number after "####" (commas removed)."""

from data_prep.common import BadRow, DatasetSpec, main, require_text


def answer_after_hashes(row) -> str:
    """The final number of a GSM8K solution ("... #### 1,234" -> "1234")."""
    solution = require_text(row, "answer", "answer")
    if "####" not in solution:
        raise BadRow("no #### answer")
    answer = solution.rsplit("####", 1)[1].strip().replace(",", "")
    if not answer:
        raise BadRow("missing answer")
    return answer


SPEC = DatasetSpec(
    data_source="gsm8k",
    hf_id="openai/gsm8k",
    hf_config="main",
    hf_split="test",
    get_problem=lambda row: require_text(row, "question", "problem"),
    get_answer=answer_after_hashes,
)

if __name__ == "__main__":
    main(SPEC, split="test")
