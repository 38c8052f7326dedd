"""Model spec strings -> chat models, through one function and one dict of backends.

`llamacpp:qwen2.5-coder-1.5b` (default with the `qwen` extra, in-process),
`llamacpp:smollm2-135m` (default without it), `llamacpp:/path/model.gguf`, `ollama:<model>`,
`openai:<model>`, `openai:<model>@<base-url>`, `fake:echo` / `fake:<reply text>`.
Backend modules are imported only when their spec is used (they pull in heavy clients).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path

from promptkit.errors import NotFoundError, UserError
from promptkit.llm.base import ChatModel

# The fallback when no better packaged model is installed (see default_spec).
DEFAULT_MODEL = "llamacpp:smollm2-135m"
MODEL_ENV_VAR = "PROMPTKIT_MODEL"


def _llamacpp() -> type:
    from promptkit.llm.llamacpp import LlamaCppModel

    return LlamaCppModel


def _ollama() -> type:
    from promptkit.llm.ollama_backend import OllamaModel

    return OllamaModel


def _openai() -> type:
    from promptkit.llm.openai_backend import OpenAIModel

    return OpenAIModel


def _build_openai(cls: type, name: str, opts: dict) -> ChatModel:
    # `gpt-4o-mini@http://host:port/v1`: the first "@" ends the model name; a URL's own
    # user:password@ part comes after it and stays with the URL.
    model, at, url = name.partition("@")
    if at and not url:
        raise UserError(f"model spec 'openai:{name}' ends with '@' but gives no base URL",
                        hint="Write openai:<model>@http://host:port/v1")
    return cls(model, base_url=url or opts.pop("base_url", None), **opts)


def _fake() -> Callable:
    from promptkit.llm.fake import fake_model_from_spec

    return fake_model_from_spec


# backend name -> (loader of the class or factory, how to build it from the spec's name part)
BACKENDS: dict[str, tuple[Callable[[], Callable], Callable | None]] = {
    "llamacpp": (_llamacpp, None),
    "ollama": (_ollama, None),
    "openai": (_openai, _build_openai),
    "fake": (_fake, None),
}


def default_spec() -> str:
    """$PROMPTKIT_MODEL, else the most capable packaged model installed, else SmolLM2."""
    env = os.environ.get(MODEL_ENV_VAR, "").strip()
    if env:
        return env
    from promptkit.llm.packaged import best_installed

    best = best_installed()
    return f"llamacpp:{best}" if best else DEFAULT_MODEL


def prepare(spec: str | None = None, say: Callable[[str], None] | None = None) -> str:
    """Resolve the spec and do a packaged model's one-time set-up (assembly) with progress
    shown through `say`, so the first answer's wait is explained. Returns the spec."""
    spec = spec or default_spec()
    backend, name = parse_spec(spec)
    if backend == "llamacpp":
        from promptkit.llm.packaged import PACKAGED

        if name in PACKAGED:
            PACKAGED[name].locate(say=say)
    return spec


def parse_spec(spec: str) -> tuple[str, str]:
    """'backend:name' -> (backend, name), checking the backend exists."""
    backend, colon, name = spec.strip().partition(":")
    if not colon:
        raise UserError(f"model spec '{spec}' has no backend prefix",
                        hint=f"Write <backend>:<model>, backends: {', '.join(BACKENDS)} "
                             f"(e.g. {DEFAULT_MODEL}, ollama:llama3.2, openai:gpt-4o-mini).")
    if backend not in BACKENDS:
        raise NotFoundError("model backend", backend, BACKENDS,
                            hint=f"A model spec looks like {DEFAULT_MODEL} or ollama:llama3.2.")
    return backend, name


def _check_options(target: Callable, spec: str, opts: dict) -> None:
    params = inspect.signature(target).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(opts) - accepted)
    if unknown:
        raise UserError(f"model '{spec}' does not take option(s): {', '.join(unknown)}",
                        hint=f"Options it takes: {', '.join(sorted(accepted)) or 'none'}.")


def get_model(spec: str | None = None, *, cache_mode: str | None = None,
              cache_path: str | Path | None = None, **opts) -> ChatModel:
    """Resolve a model spec (default: `default_spec()`).

    `cache_mode` / `cache_path` attach the response cache (mode default: $PROMPTKIT_CACHE_MODE,
    else read-write). Fakes are uncached unless a cache is asked for explicitly, so scripted
    replies stay in control of the tests that use them. Other keyword options go to the
    backend (timeout, context_window, n_ctx, retries, ...).
    """
    spec = spec or default_spec()
    backend, name = parse_spec(spec)
    loader, build = BACKENDS[backend]
    target = loader()
    if backend == "openai":
        opts = dict(opts)
        _check_options(target, spec, {k: v for k, v in opts.items() if k != "base_url"})
    else:
        _check_options(target, spec, opts)
    model = build(target, name, opts) if build else target(name, **opts)
    if backend != "fake" or cache_mode or cache_path:
        from promptkit.llm.cache import ResponseCache

        cache = ResponseCache(cache_path, cache_mode)
        model.cache = cache if cache.mode != "off" else None
    return model
