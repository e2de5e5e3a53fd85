"""DAPO-Math-17k (train) -> ``math_dapo.parquet``, de-duplicated and re-templated with the boxed instruction.

The HF set is already in verl layout but repeats each of ~17.4k problems ~100 times (1.79M rows) and wraps every
problem in DAPO's "Answer:" template; we recover the bare problem, keep the first copy of each, and apply our template.
"""

from data_prep.common import BadRow, DatasetSpec, main

DAPO_PREFIX = (
    "Solve the following math problem step by step. The last line of your response should be of the form "
    "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n"
)
DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".'


def problem_from_dapo_prompt(row) -> str:
    """The bare problem inside DAPO's user turn; rows whose prompt lacks DAPO's wrapper are refused, not guessed."""
    messages = row.get("prompt") or []
    user_turns = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    if not user_turns or not user_turns[-1].strip():
        raise BadRow("missing problem")
    content = user_turns[-1]
    if not (content.startswith(DAPO_PREFIX) and content.endswith(DAPO_SUFFIX)):
        raise BadRow("prompt not in DAPO template")
    problem = content[len(DAPO_PREFIX) : -len(DAPO_SUFFIX)].strip()
    if not problem:
        raise BadRow("missing problem")
    return problem


def answer_from_reward_model(row) -> str:
    """``reward_model.ground_truth`` as text."""
    answer = str((row.get("reward_model") or {}).get("ground_truth") or "").strip()
    if not answer:
        raise BadRow("missing answer")
    return answer


SPEC = DatasetSpec(
    data_source="math_dapo",
    hf_id="BytedTsinghua-SIA/DAPO-Math-17k",
    hf_split="train",
    get_problem=problem_from_dapo_prompt,
    get_answer=answer_from_reward_model,
    get_source_id=lambda row: (row.get("extra_info") or {}).get("index", ""),
    dedupe=True,
)

if __name__ == "__main__":
    main(SPEC, split="train")
