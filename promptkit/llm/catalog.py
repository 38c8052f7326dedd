"""What `promptkit models list` shows: known specs, installed or reachable right now."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass

from promptkit.llm.redact import strip_credentials

PROBE_TIMEOUT_S = 1.5


@dataclass
class ModelEntry:
    spec: str
    backend: str
    status: str          # installed | reachable | not installed | unreachable | not configured
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _llamacpp_entries() -> list[ModelEntry]:
    from promptkit.llm.packaged import PACKAGED, QWEN_CODER_15B, models_dir
    from promptkit.llm.specs import default_spec

    if not _installed("llama_cpp"):
        return [ModelEntry(f"llamacpp:{alias}", "llamacpp", "not installed",
                           'pip install "promptkit[llamacpp]"') for alias in PACKAGED]
    default = default_spec()
    entries = []
    for alias, packaged in PACKAGED.items():
        spec = f"llamacpp:{alias}"
        note = ("default; " if spec == default else "") + packaged.note
        if not packaged.installed():
            extra = QWEN_CODER_15B.extra if alias == QWEN_CODER_15B.name else "llamacpp"
            entries.append(ModelEntry(spec, "llamacpp", "not installed",
                                      f'{packaged.note}: pip install "promptkit[{extra}]"'))
            continue
        if alias == QWEN_CODER_15B.name and not (models_dir() / QWEN_CODER_15B.filename).is_file():
            note += "; assembled on first use"
        entries.append(ModelEntry(spec, "llamacpp", "installed", note + ", in-process"))
    entries.append(ModelEntry("llamacpp:/path/to/model.gguf", "llamacpp", "installed",
                              "any chat GGUF file"))
    return entries


def _ollama_entries(timeout: float) -> list[ModelEntry]:
    import httpx

    from promptkit.llm.ollama_backend import ollama_host

    host = ollama_host()
    shown = strip_credentials(host)
    if not _installed("ollama"):
        return [ModelEntry("ollama:<model>", "ollama", "not installed",
                           'pip install "promptkit[ollama]"')]
    try:
        reply = httpx.get(f"{host}/api/tags", timeout=timeout)
        reply.raise_for_status()
        names = [m.get("name") or m.get("model") for m in reply.json().get("models", [])]
    except (httpx.HTTPError, ValueError) as exc:
        return [ModelEntry("ollama:<model>", "ollama", "unreachable",
                           f"cannot reach Ollama at {shown} ({type(exc).__name__}) — start "
                           "`ollama serve` or set OLLAMA_HOST")]
    if not names:
        return [ModelEntry("ollama:<model>", "ollama", "reachable",
                           f"{shown}: no models pulled (ollama pull <model>)")]
    return [ModelEntry(f"ollama:{n}", "ollama", "reachable", shown) for n in names if n]


def _openai_entries(timeout: float) -> list[ModelEntry]:
    import httpx

    from promptkit.llm.openai_backend import LOCAL_DUMMY_KEY, OPENAI_URL

    if not _installed("openai"):
        return [ModelEntry("openai:<model>", "openai", "not installed",
                           'pip install "promptkit[openai]"')]
    base = os.environ.get("OPENAI_BASE_URL", "").rstrip("/")
    key = os.environ.get("OPENAI_API_KEY", "")
    if not base and not key:
        # Nothing configured: do not send a request anywhere on the user's behalf.
        return [ModelEntry("openai:<model>", "openai", "not configured",
                           "set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL, or use "
                           "openai:<model>@http://host:port/v1")]
    base = base or OPENAI_URL
    shown = strip_credentials(base)
    try:
        reply = httpx.get(f"{base}/models", timeout=timeout,
                          headers={"Authorization": f"Bearer {key or LOCAL_DUMMY_KEY}"})
    except httpx.HTTPError as exc:
        return [ModelEntry("openai:<model>", "openai", "unreachable",
                           f"cannot reach {shown} ({type(exc).__name__})")]
    if reply.status_code == 401:
        return [ModelEntry("openai:<model>", "openai", "unreachable",
                           f"{shown} rejected the key in OPENAI_API_KEY (HTTP 401)")]
    try:
        reply.raise_for_status()
        ids = [m.get("id") for m in reply.json().get("data", [])]
    except (httpx.HTTPError, ValueError) as exc:
        return [ModelEntry("openai:<model>", "openai", "unreachable", f"{shown}: {exc}")]
    return [ModelEntry(f"openai:{i}", "openai", "reachable", shown) for i in ids if i] or [
        ModelEntry("openai:<model>", "openai", "reachable", f"{shown}: lists no models")]


def _hub_entries() -> list[ModelEntry]:
    from promptkit.llm.hub import cached_files

    return [ModelEntry(f"llamacpp:{f.name}", "llamacpp", "installed",
                       f"Hugging Face cache ({f.size / 1e6:.0f} MB)") for f in cached_files()]


def list_models(probe: bool = True, timeout: float = PROBE_TIMEOUT_S) -> list[ModelEntry]:
    """Every known spec with its status; `probe=False` skips the network checks."""
    entries = _llamacpp_entries() + _hub_entries()
    if probe:
        entries += _ollama_entries(timeout) + _openai_entries(timeout)
    else:
        entries += [ModelEntry("ollama:<model>", "ollama", "not probed", ""),
                    ModelEntry("openai:<model>", "openai", "not probed", "")]
    entries.append(ModelEntry("fake:echo", "fake", "installed",
                              "test double: echoes the prompt (fake:<text> always answers <text>)"))
    return entries
