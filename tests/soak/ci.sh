#!/bin/sh
# CI's soak stage: a plain build of its own (the other stages clean theirs)
# and the chaos soak for SOAK_SECONDS (default 120) through a real mount.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$top/_soak" && mkdir "$top/_soak"
cd "$top/_soak"
../configure >/dev/null
make -j2 >/dev/null
SOAK_SECONDS=${SOAK_SECONDS:-120} make soak
