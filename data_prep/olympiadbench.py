"""OlympiadBench (675 problems) -> ``olympiadbench.parquet``; the gold is ``final_answer``, a list of strings.

A problem with several answers (``is_multiple_answer``) may list them as separate items (``["$1$", "$2$"]``); taking
only the first would score a complete answer ``1, 2`` as wrong. Items are therefore joined as ``1, 2`` (each item's
outer ``$`` removed), which the recipe's reward parses as a set: math_verify compares ``{1, 2}`` with the prediction in
any order (``\\pm`` forms included). One item is kept as written, e.g. ``$(2,1),(3,1)$``.
"""

from data_prep.common import BadRow, DatasetSpec, main, require_text


def final_answer(row) -> str:
    """The gold answer: the one item of ``final_answer``, or its items joined by ``", "``; none is a missing answer."""
    answers = row.get("final_answer")
    if isinstance(answers, str):
        answers = [answers]
    if answers is None or len(answers) == 0:
        raise BadRow("missing answer")
    items = [require_text({"answer": answer}, "answer", "answer") for answer in answers]
    if len(items) == 1:
        return items[0]
    return ", ".join(item.strip().strip("$").strip() for item in items)


SPEC = DatasetSpec(
    data_source="olympiadbench",
    hf_id="math-ai/olympiadbench",
    hf_split="test",
    get_problem=lambda row: require_text(row, "question", "problem"),
    get_answer=final_answer,
    get_source_id=lambda row: row.get("id", ""),
)

if __name__ == "__main__":
    main(SPEC, split="test")
