#!/usr/bin/env bash
# Builds the Python wheel with the portable dlnsim binary inside, into dist/:
#   1. the binary: DLNSIM_TARGET_CPU=haswell swift build -c release --static-swift-stdlib --scratch-path .build-portable
#      (AVX2 + FMA baseline, the hot loops also for AVX-512 and chosen at start; Swift runtime linked in; OpenCL is
#      loaded at run time, so libOpenCL is not needed to start it);
#   2. its platform tag: manylinux_<major>_<minor>_x86_64 from the highest GLIBC_x.y symbol version the binary
#      needs, read from its dynamic symbol table with `objdump -T` (binutils);
#   3. the wheel: `pip wheel ./python` with DLNSIM_BINARY pointing at that binary (the package's build hook copies
#      it to dlnsim/bin/dlnsim) and DLNSIM_PLAT_NAME set to the tag.
# Prints the binary's shared libraries (ldd), the tag, the wheel's size and the time taken.
# Usage: scripts/build-wheel.sh            (needs swift 6, python3 with pip, objdump; PyPI for setuptools/wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

echo "build-wheel: building the portable binary (DLNSIM_TARGET_CPU=haswell, --static-swift-stdlib)"
DLNSIM_TARGET_CPU=haswell swift build -c release --static-swift-stdlib --scratch-path .build-portable
binary=$(pwd)/.build-portable/release/dlnsim

echo "build-wheel: shared libraries the binary needs (ldd):"
ldd "$binary" | sed 's/^/    /'
unexpected=$(ldd "$binary" | awk '{print $1}' \
    | grep -vE '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|libstdc\+\+\.so|libgcc_s\.so)' \
    || true)
if [[ -n "$unexpected" ]]; then
    echo "build-wheel: the binary needs libraries outside glibc/libstdc++/libgcc: $unexpected" >&2
    exit 1
fi

glibc=$(objdump -T "$binary" | grep -oE 'GLIBC_[0-9]+\.[0-9]+(\.[0-9]+)?' | sed 's/GLIBC_//' | sort -V | tail -1)
major=${glibc%%.*}
rest=${glibc#*.}
minor=${rest%%.*}
tag="manylinux_${major}_${minor}_$(uname -m)"
echo "build-wheel: highest GLIBC symbol version (objdump -T): $glibc -> platform tag $tag"
cxx=$(objdump -T "$binary" | grep -oE 'GLIBCXX_[0-9.]+' | sort -V | tail -1 || true)
[[ -n "$cxx" ]] && echo "build-wheel: highest libstdc++ symbol version: $cxx"

mkdir -p dist
rm -f dist/dlnsim-*.whl
rm -rf python/build
DLNSIM_BINARY="$binary" DLNSIM_PLAT_NAME="$tag" \
    python3 -m pip wheel --quiet --disable-pip-version-check --no-deps -w dist ./python
wheel=$(ls dist/dlnsim-*.whl)
python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "dlnsim/bin/dlnsim" in names, names
PY
echo "build-wheel: $wheel ($(du -h "$wheel" | cut -f1), binary inside: dlnsim/bin/dlnsim) in $(( $(date +%s) - start )) s"
