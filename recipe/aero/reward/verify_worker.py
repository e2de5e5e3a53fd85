"""Child process that runs math_verify's sympy equivalence check, one JSON request per stdin line.

Why a separate process: math_verify's own timeout uses ``signal.alarm`` (main thread only), but verl calls reward
functions from executor threads inside Ray workers, and some inputs (``9^{9^{9^{9}}}``) hang inside one big-integer
operation that no signal can interrupt. The parent (:mod:`recipe.aero.reward.verifier`) kills this process when a
request misses its deadline and starts a fresh one. Protocol: the process writes ``{"ready": true}`` once math_verify
is imported; then for each ``{"gold": str, "pred": str}`` line it writes ``{"equal": bool}`` or ``{"error": str}``.
"""

import json
import logging
import sys


def _equivalent(gold: str, pred: str) -> bool:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    # The deadline is enforced by the parent; math_verify's signal-based timeouts stay off.
    gold_parsed = parse(f"\\boxed{{{gold}}}", [LatexExtractionConfig()], parsing_timeout=None)
    pred_parsed = parse(f"\\boxed{{{pred}}}", [LatexExtractionConfig(), ExprExtractionConfig()], parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))


def main() -> None:
    """Serves requests until stdin closes (the parent exited or dropped this worker)."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)  # silences the "timeout is disabled" warning
    import math_verify  # noqa: F401  (import cost paid before "ready", not inside the first request's deadline)

    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"equal": _equivalent(request["gold"], request["pred"])}
        except Exception as error:  # any sympy failure is reported to the parent, not fatal here
            reply = {"error": f"{type(error).__name__}: {error}"[:500]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
