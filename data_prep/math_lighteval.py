"""MATH-lighteval (train, 7.5k) -> ``math_lighteval.parquet``; the answer is the last ``\\boxed{}`` of the solution."""

from data_prep.common import BadRow, DatasetSpec, main, require_text
from recipe.aero.reward.extract import last_boxed_content


def answer_from_solution(row) -> str:
    """The last boxed expression of the worked solution (as verl's math_dataset.py does)."""
    answer = last_boxed_content(require_text(row, "solution", "solution"))
    if answer is None:
        raise BadRow("no \\boxed{} answer in solution")
    return answer


SPEC = DatasetSpec(
    data_source="math_lighteval",
    hf_id="DigitalLearningGmbH/MATH-lighteval",
    hf_split="train",
    get_problem=lambda row: require_text(row, "problem", "problem"),
    get_answer=answer_from_solution,
)

if __name__ == "__main__":
    main(SPEC, split="train")
