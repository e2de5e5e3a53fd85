"""Answer extraction from model responses and reference solutions (pure string code, no sympy).

Shared by the reward (the model's final answer) and by data preparation (MATH-lighteval stores the reference answer
as the last ``\\boxed{...}`` of its worked solution), so both sides read answers the same way.
"""

import re

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# DAPO-Math-17k's own template asks for a last line "Answer: $Answer"; models trained on it keep that habit.
# Single-line character classes only: nested `\s*` runs (which also match newlines) backtrack cubically on
# whitespace-heavy responses (16 s for 2,000 blank lines).
_SPACED_BOX_ARGUMENT = re.compile(r" +([^\s$]+)")  # "\boxed 5$": the argument is one token
_ANSWER_LINE = re.compile(r"^[ \t*]*answer[ \t*]*:[ \t]*(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def last_boxed_content(text: str) -> str | None:
    """Returns the content of the last ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, honouring nested braces.

    Why: answers such as ``\\boxed{\\frac{1}{2}}`` contain braces, so a regex up to the first ``}`` would truncate
    them; an unbalanced (truncated) last box is treated as no answer rather than guessed.

    Args:
        text: A model response or a worked solution.

    Returns:
        The stripped box content, or None when there is no complete box. ``\\boxed 5`` (space form) is accepted.
    """
    start = max(text.rfind(command) for command in _BOX_COMMANDS)
    if start < 0:
        return None
    command = next(c for c in _BOX_COMMANDS if text.startswith(c, start))
    rest = text[start + len(command) :]
    if rest.startswith(" "):
        spaced = _SPACED_BOX_ARGUMENT.match(rest)
        return spaced.group(1) if spaced else None
    if not rest.startswith("{"):
        return None
    depth = 0
    for position, char in enumerate(rest):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return rest[1:position].strip() or None
    return None


def last_answer_line(text: str) -> str | None:
    """Returns the value of the last ``Answer: ...`` line (DAPO style), without surrounding ``$`` signs."""
    matches = _ANSWER_LINE.findall(text)
    if not matches:
        return None
    value = matches[-1].strip("* \t").rstrip(".").strip().strip("$").strip()
    return value or None


def extract_final_answer(response: str) -> str | None:
    """The model's final answer: the last boxed expression, else the last ``Answer:`` line, else None.

    Why the order: our one prompt template asks for ``\\boxed{}``; ``Answer:`` is a fallback for DAPO-style habits.
    """
    boxed = last_boxed_content(response)
    if boxed is not None:
        return boxed
    return last_answer_line(response)
