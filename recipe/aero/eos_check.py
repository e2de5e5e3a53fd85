"""Does the model stop where its chat template ends an assistant turn? Read from the model's local files.

Why: the Qwen2.5 *base* models are prompted through a chat template whose assistant turns end with ``<|im_end|>``,
but vLLM stops a sequence only at the tokenizer's ``eos_token`` and at the ``eos_token_id`` (int or list) of
``generation_config.json`` (``config.json`` when that file is absent). If the template's end token is in neither,
every response runs to ``data.max_response_length`` and the reward reads the last ``\\boxed{}`` of a runaway
continuation: training proceeds, quietly wrong, at the full length cost.

:func:`check_model_eos` finds the model's files locally (the path itself, or the Hugging Face cache snapshot of a
hub id, never a download), renders a two-turn conversation with the same chat template the agent loop applies
(``actor_rollout_ref.model.custom_chat_template`` when set) and compares the token right after the assistant's
content with the stop ids. CLI::

    python -m recipe.aero.eos_check MODEL_DIR_OR_HUB_ID [--custom-chat-template FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

_PROBE = "AERO_EOS_PROBE_7f3a"  # assistant content whose end the template marks


@dataclass
class EosReport:
    """What the model's files say about stopping.

    Attributes:
        model_dir: the local directory that was read.
        end_token: the token the chat template puts right after the assistant's content (None: no token there).
        end_token_id: its id (None when ``end_token`` is None or not a special token).
        stop_ids: the ids vLLM stops at, each with where it comes from (``{id: "tokenizer_config.json eos_token"}``).
        problem: why the check could not decide (template missing or not renderable); None when it decided.
    """

    model_dir: Path
    end_token: str | None = None
    end_token_id: int | None = None
    stop_ids: dict[int, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def stops_at_turn_end(self) -> bool | None:
        """True / False when the turn ends with a special token; None when undecided (see ``problem``)."""
        if self.problem is not None or self.end_token_id is None:
            return None
        return self.end_token_id in self.stop_ids


def local_model_dir(path: str) -> Path | None:
    """The directory holding the model's files: ``path`` itself, or the cached snapshot of a hub id; else None.

    Never downloads: a hub id resolves only when the Hugging Face cache already holds it.
    """
    expanded = os.path.expanduser(path)
    if os.path.isdir(expanded):
        return Path(expanded)
    if "://" in path or path.startswith(("/", ".", "~")) or path.count("/") != 1:
        return None  # a missing local path (reported elsewhere) or a remote URI
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=path, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or no huggingface_hub: nothing local to read
        return None


def _eos_ids(value) -> list[int]:
    if value is None:
        return []
    return [int(value)] if isinstance(value, int) else [int(v) for v in value]


def _stop_ids(model_dir: Path, tokenizer) -> dict[int, str]:
    """vLLM's stop ids: the tokenizer's eos plus ``generation_config.json`` (else ``config.json``) ``eos_token_id``."""
    stops: dict[int, str] = {}
    if tokenizer.eos_token_id is not None:
        stops[int(tokenizer.eos_token_id)] = f"tokenizer eos_token {tokenizer.eos_token!r}"
    for name in ("generation_config.json", "config.json"):
        file = model_dir / name
        if file.is_file():
            for eos_id in _eos_ids(json.loads(file.read_text()).get("eos_token_id")):
                stops.setdefault(eos_id, f"{name} eos_token_id")
            break  # vLLM reads config.json's eos only when there is no generation_config.json
    return stops


def _special_token_id(tokenizer, token_id: int) -> int | None:
    added = tokenizer.added_tokens_decoder.get(token_id)
    special = (added is not None and added.special) or token_id in set(tokenizer.all_special_ids)
    return token_id if special else None


def check_model_eos(
    model_dir: str | Path,
    custom_chat_template: str | None = None,
    tokenizer_dir: str | Path | None = None,
    trust_remote_code: bool = False,
) -> EosReport:
    """Reads the tokenizer, chat template and generation config of a local model directory.

    Args:
        model_dir: directory with ``config.json`` / ``generation_config.json`` (the files vLLM reads).
        custom_chat_template: replaces the tokenizer's template (``actor_rollout_ref.model.custom_chat_template``).
        tokenizer_dir: the tokenizer's directory when not ``model_dir`` (``actor_rollout_ref.model.tokenizer_path``).
        trust_remote_code: passed to ``AutoTokenizer.from_pretrained``.

    Returns:
        The report; ``report.stops_at_turn_end`` is the verdict (None with ``report.problem`` set: undecided).
    """
    from transformers import AutoTokenizer

    model_dir = Path(model_dir)
    report = EosReport(model_dir=model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir or model_dir), trust_remote_code=trust_remote_code)
    report.stop_ids = _stop_ids(model_dir, tokenizer)
    template = custom_chat_template or tokenizer.chat_template
    if not template:
        report.problem = "the tokenizer has no chat_template (tokenizer_config.json / chat_template.jinja)"
        return report
    messages = [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": _PROBE}]
    try:
        text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    except Exception as error:  # a template that refuses this conversation cannot be probed
        report.problem = f"the chat template does not render a user/assistant exchange ({type(error).__name__})"
        return report
    if _PROBE not in text:
        report.problem = "the chat template drops the assistant's content"
        return report
    tail_ids = tokenizer.encode(text.split(_PROBE, 1)[1], add_special_tokens=False)
    if not tail_ids:
        report.problem = "the chat template puts nothing after the assistant's content (responses end at EOS only)"
        return report
    report.end_token = tokenizer.convert_ids_to_tokens(tail_ids[0])
    report.end_token_id = _special_token_id(tokenizer, tail_ids[0])
    if report.end_token_id is None:
        report.problem = f"the chat template ends an assistant turn with plain text {report.end_token!r}"
    return report


def describe(report: EosReport) -> str:
    """One line: the end-of-turn token and the stop ids with their sources."""
    stops = ", ".join(f"{token_id} ({source})" for token_id, source in sorted(report.stop_ids.items()))
    end = "nothing" if report.end_token is None else f"{report.end_token!r} (id {report.end_token_id})"
    return f"the chat template ends an assistant turn with {end}; vLLM stops at [{stops}]"


def main(argv: list[str] | None = None) -> int:
    """Prints the check for one model; exit 1 when the model would not stop at the end of its turn."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="local model directory or a hub id already in the Hugging Face cache")
    parser.add_argument("--custom-chat-template", type=Path, help="file with a template replacing the tokenizer's")
    args = parser.parse_args(argv)
    model_dir = local_model_dir(args.model)
    if model_dir is None:
        print(f"{args.model}: no local files (not a directory, not in the Hugging Face cache)", file=sys.stderr)
        return 2
    template = args.custom_chat_template.read_text() if args.custom_chat_template else None
    report = check_model_eos(model_dir, custom_chat_template=template)
    print(f"{model_dir}: {describe(report)}")
    verdict = report.stops_at_turn_end
    if verdict is None:
        print(f"not decided: {report.problem}")
        return 2
    print("OK" if verdict else "WOULD NOT STOP at the end of the assistant turn")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
