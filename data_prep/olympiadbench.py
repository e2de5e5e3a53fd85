"""OlympiadBench (675 problems) -> ``olympiadbench.parquet``; ``final_answer`` is a list, its first item is used."""

from data_prep.common import BadRow, DatasetSpec, main, require_text


def first_final_answer(row) -> str:
    """``final_answer[0]``; an empty list or empty first item is a missing answer."""
    answers = row.get("final_answer")
    if isinstance(answers, str):
        answers = [answers]
    if not answers:
        raise BadRow("missing answer")
    return require_text({"answer": answers[0]}, "answer", "answer")


SPEC = DatasetSpec(
    data_source="olympiadbench",
    hf_id="math-ai/olympiadbench",
    hf_split="test",
    get_problem=lambda row: require_text(row, "question", "problem"),
    get_answer=first_final_answer,
    get_source_id=lambda row: row.get("id", ""),
)

if __name__ == "__main__":
    main(SPEC, split="test")
