#!/usr/bin/env bash
# Create or update the mmgcp environment in <repo>/.venv.
#
#   bash tools/setup_env.sh          # idempotent; a second run takes seconds
#
# Steps: virtualenv -> torch/torchvision -> mmcv 2.1.0 with compiled ops (built once per machine,
# then cached as a wheel outside the repo) -> mmengine/mmdet/mmseg/mmpretrain and the packages their
# models import, the test and docs tools -> openmim -> mmgcp (editable). Versions come from
# requirements/pins.txt (the stack) and requirements/{runtime,tests,docs,mim}.txt.
#
# Environment:
#   MMGCP_CACHE   where built wheels are kept (default: ~/.cache/mmgcp)
#   MMGCP_PYTHON  the Python used to create the venv (default: python3.11, else python3)
#   MAX_JOBS      parallel compile jobs for the mmcv build (default: nproc + 1)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
CACHE="${MMGCP_CACHE:-$HOME/.cache/mmgcp}"
STAMP="$VENV/.mmgcp-setup-stamp"

log() { printf '[setup_env] %s\n' "$*" >&2; }
die() { printf '[setup_env] FAILED at step "%s": %s\n' "$1" "$2" >&2; exit 1; }
# run_step NAME CMD...: run CMD, and stop with the step's name if it fails.
run_step() {
    local name="$1"; shift
    log "$name"
    "$@" || die "$name" "command exited with status $?: $*"
}

pin() {  # pin NAME -> version from requirements/pins.txt
    local v
    v="$(grep -E "^$1==" "$ROOT/requirements/pins.txt" | head -n1 | cut -d= -f3)"
    [ -n "$v" ] || die "read pins" "no pin for '$1' in requirements/pins.txt"
    printf '%s' "$v"
}

TORCH_V="$(pin torch)"; TV_V="$(pin torchvision)"; MMCV_V="$(pin mmcv)"
MMENGINE_V="$(pin mmengine)"; MMDET_V="$(pin mmdet)"; MMSEG_V="$(pin mmsegmentation)"
MMPRETRAIN_V="$(pin mmpretrain)"

# The stamp records everything that decides the environment's content; when it matches, the
# environment is complete and nothing is installed again.
fingerprint() {
    cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -c1-16
}
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
    log "environment up to date ($VENV)"
    exit 0
fi

# 1. virtualenv -------------------------------------------------------------------------------
BASE_PY="${MMGCP_PYTHON:-$(command -v python3.11 || command -v python3)}"
[ -n "$BASE_PY" ] || die "find python" "no python3.11 or python3 on PATH (set MMGCP_PYTHON)"
if [ ! -x "$PY" ]; then
    run_step "create virtualenv .venv" "$BASE_PY" -m venv "$VENV"
fi
PYV="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
[ "$PYV" = "3.11" ] || log "warning: Python $PYV; mmgcp is tested on 3.11"
PIP=("$PY" -m pip install --disable-pip-version-check)

# setuptools >=77,<81: mmcv needs to build without isolation, mim and 'mmdet::' inheritance
# import pkg_resources (removed in setuptools 81).
run_step "install build tools" "${PIP[@]}" -q "setuptools>=77,<81" wheel ninja psutil

# 2. torch ------------------------------------------------------------------------------------
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_V' or torchvision.__version__.split('+')[0] != '$TV_V')" 2>/dev/null; then
    run_step "install torch $TORCH_V and torchvision $TV_V" "${PIP[@]}" -q "torch==$TORCH_V" "torchvision==$TV_V"
fi

# 3. mmcv with ops ----------------------------------------------------------------------------
# Build with CUDA ops only where a GPU and nvcc are both present; the cache key says which.
if command -v nvcc >/dev/null 2>&1 && "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    CUDA_ARCH="$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")"
    FLAVOUR="cuda${CUDA_ARCH/./}"
else
    FLAVOUR="cpu"
fi
PYTAG="cp${PYV/./}"
# "-O3g0": built with Python's optimisation flags and without debug symbols (an older cache
# entry may be an unoptimised build).
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_V-torch$TORCH_V-$PYTAG-$FLAVOUR-O3g0"

build_mmcv() {
    local tmp src
    tmp="$(mktemp -d)"
    # Metadata of mmcv's sdist imports torch: download without isolation, into the venv's torch.
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_V" -d "$tmp" || return 1
    tar -xzf "$tmp/mmcv-$MMCV_V.tar.gz" -C "$tmp" || return 1
    src="$tmp/mmcv-$MMCV_V"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17.
    sed -i "s/-std=c++17/-std=c++20/g" "$src/setup.py" || return 1
    grep -q -- "-std=c++20" "$src/setup.py" || { echo "C++20 patch did not apply" >&2; return 1; }
    # Python's own CFLAGS (-DNDEBUG -g -fwrapv -O3 -Wall) carry -g: debug symbols, which slow
    # compiling and linking. setuptools >= 72 takes $CFLAGS/$CXXFLAGS *instead of* Python's
    # flags, so -g0 alone would also drop -O3 (an unoptimised mmcv): pass Python's flags with
    # -g0 after them (older setuptools append them; the repeat is harmless).
    local py_cflags
    py_cflags="$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("CFLAGS") or "-O3")')" || return 1
    local -a env_vars=(MMCV_WITH_OPS=1 "MAX_JOBS=${MAX_JOBS:-$(( $(nproc) + 1 ))}"
                       "CFLAGS=$py_cflags -g0 ${CFLAGS:-}" "CXXFLAGS=$py_cflags -g0 ${CXXFLAGS:-}")
    if [ "$FLAVOUR" != cpu ]; then
        # Kernels for this GPU's architecture only (not torch's list of 6+); nvcc gets no -G or
        # -lineinfo (device debug info) from mmcv or torch, and none may come from the caller.
        env_vars+=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$CUDA_ARCH" "MMCV_CUDA_ARGS=${MMCV_CUDA_ARGS:-}")
        case " ${MMCV_CUDA_ARGS:-} ${NVCC_APPEND_FLAGS:-} ${NVCC_PREPEND_FLAGS:-} " in
            *" -G "*|*" -lineinfo "*) log "warning: nvcc flags ask for device debug info (-G/-lineinfo): slower build and kernels" ;;
        esac
    fi
    log "building mmcv $MMCV_V ($FLAVOUR ops); this takes 10-20 minutes once per machine"
    env "${env_vars[@]}" "$PY" -m pip wheel --no-build-isolation --no-deps -w "$tmp/dist" "$src" || return 1
    mkdir -p "$CACHE/wheels" || return 1
    # Publish atomically so an interrupted build never leaves a broken cache entry.
    rm -rf "$WHEEL_DIR.tmp.$$" && mkdir -p "$WHEEL_DIR.tmp.$$" && cp "$tmp"/dist/mmcv-*.whl "$WHEEL_DIR.tmp.$$/" \
        && rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp.$$" "$WHEEL_DIR" || return 1
    rm -rf "$tmp"
}

if ! "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_V')" 2>/dev/null; then
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        run_step "build mmcv $MMCV_V wheel with ops" build_mmcv
    else
        log "using cached mmcv wheel from $WHEEL_DIR"
    fi
    run_step "install mmcv $MMCV_V" "${PIP[@]}" -q "$WHEEL_DIR"/mmcv-*.whl
fi

# 4. OpenMMLab libraries and what their models import -----------------------------------------
run_step "install mmengine/mmdet/mmsegmentation/mmpretrain, test and docs tools" "${PIP[@]}" -q \
    "torch==$TORCH_V" "torchvision==$TV_V" "mmcv==$MMCV_V" \
    "mmengine==$MMENGINE_V" "mmdet==$MMDET_V" "mmsegmentation==$MMSEG_V" "mmpretrain==$MMPRETRAIN_V" \
    -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
    -r "$ROOT/requirements/docs.txt"
# openmim: --no-deps, its opendatalab/openxlab dependencies would pin setuptools 60.
mapfile -t MIM_REQS < <(grep -vE '^(#|openmim==|$)' "$ROOT/requirements/mim.txt")
run_step "install openmim's light dependencies" "${PIP[@]}" -q "${MIM_REQS[@]}"
run_step "install openmim (no deps)" "${PIP[@]}" -q --no-deps "$(grep '^openmim==' "$ROOT/requirements/mim.txt")"

# 5. mmgcp ------------------------------------------------------------------------------------
run_step "install mmgcp (editable)" "${PIP[@]}" -q --no-deps --no-build-isolation -e "$ROOT"

run_step "check the installed stack" "$PY" - <<'EOF'
import mmcv, mmcv.ops, mmdet, mmengine, mmpretrain, mmseg, torch, torchvision  # noqa: F401
import mmgcp
print(f'[setup_env] torch {torch.__version__}, mmcv {mmcv.__version__} (ops), '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmgcp {mmgcp.__version__}')
EOF

fingerprint > "$STAMP"
log "done: activate with 'source .venv/bin/activate'"
