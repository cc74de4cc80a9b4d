#!/usr/bin/env bash
# Build the HIS bridge dependency layer: layers/his_bridge_deps/build/python/...
#
# Installs functions/his_bridge/requirements.txt as Lambda-platform wheels (manylinux2014_x86_64,
# CPython 3.11, binary wheels only), whatever the machine building it. The template's
# HisBridgeDepsLayer (infra/resources.yaml) points its ContentUri at build/. build/ is git-ignored.
#
# Usage: layers/his_bridge_deps/build.sh        (PYTHON=... to choose the interpreter running pip)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
python="${PYTHON:-${root}/.venv/bin/python}"
[[ -x "${python}" ]] || python="python3"
requirements="${root}/functions/his_bridge/requirements.txt"
out="${here}/build"

rm -rf "${out}"
mkdir -p "${out}/python"
"${python}" -m pip install \
    --quiet --disable-pip-version-check --no-compile \
    --requirement "${requirements}" \
    --platform manylinux2014_x86_64 \
    --implementation cp \
    --python-version 3.11 \
    --only-binary=:all: \
    --target "${out}/python"
# Console scripts are useless in a layer (and would carry this machine's interpreter path).
rm -rf "${out}/python/bin"
echo "built ${out} ($(du -sh "${out}" | cut -f1))"
