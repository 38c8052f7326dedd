#!/usr/bin/env bash
# Idempotent set-up: a project-local virtualenv with everything promptkit needs, offline-safe.
# Order matters (see docs/getting-started/install.md): CPU torch first, then llama-cpp-python built for
# plain AVX2 (the native build crashes with SIGILL on some CPUs), then the package itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${PROMPTKIT_VENV:-.venv}
LLAMA_VERSION=0.3.36
TORCH_VERSION=2.13.0
# A wheel built with these flags is kept here and reused, so the ~7 min compile happens once per machine.
LLAMA_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WHEELHOUSE=${PROMPTKIT_WHEELHOUSE:-$HOME/.cache/promptkit/wheels/llama-avx2-$LLAMA_VERSION}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)

# Nothing changed since the last successful set-up (same pyproject, script and Python): done.
# `make demo` and `make test` call this every time, so the no-op must be quick.
STAMP="$VENV/.promptkit-setup"
want_stamp=$(cat pyproject.toml scripts/setup.sh | "$VENV/bin/python" -c \
    'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read() + sys.version.encode()).hexdigest())')
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
        && "$VENV/bin/python" -c "import promptkit" 2>/dev/null; then
    echo "setup: up to date ($VENV)"
    exit 0
fi

have() { "$VENV/bin/python" - "$1" "$2" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PYEOF
}

if ! have torch "$TORCH_VERSION"; then
    echo "setup: installing torch $TORCH_VERSION (CPU)"
    "${PIP[@]}" install --quiet "torch==$TORCH_VERSION"
fi

if ! have llama_cpp_python "$LLAMA_VERSION"; then
    if ! ls "$WHEELHOUSE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        echo "setup: compiling llama-cpp-python $LLAMA_VERSION for AVX2 (about 7 minutes, once per machine)"
        mkdir -p "$WHEELHOUSE"
        CMAKE_ARGS="$LLAMA_FLAGS" FORCE_CMAKE=1 "${PIP[@]}" wheel --quiet --no-cache-dir --no-deps \
            -w "$WHEELHOUSE" "llama-cpp-python==$LLAMA_VERSION"
    fi
    "${PIP[@]}" install --quiet "$WHEELHOUSE"/llama_cpp_python-*.whl
fi

echo "setup: installing promptkit and its dependencies"
"${PIP[@]}" install --quiet -e ".[all,dev]" "torch==$TORCH_VERSION" "llama-cpp-python==$LLAMA_VERSION"
echo "$want_stamp" > "$STAMP"
echo "setup: done ($VENV)"
