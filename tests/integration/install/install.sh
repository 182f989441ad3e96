#!/usr/bin/env bash
# The installed package works for someone else's build: headers in
# include/tenure, libraries, tenure.pc, tenureConfig.cmake, tools, man pages.
set -euo pipefail
build=$1
here=$2
tmp=$(mktemp -d /tmp/tenure-it-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log"
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -n 1 | xargs dirname)
for f in bin/pausemeter bin/pausesim bin/pausestat bin/tenurectl \
         include/tenure/lease.h include/tenure/runtime.h \
         share/man/man1/pausesim.1; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
[ ! -e "$prefix/include/tenure/clock_testing.h" ] || { echo "FAIL: a test-only header was installed"; exit 1; }

# A sanitized build installs sanitized libraries: consumers need the same
# runtime.
san=$(sed -n 's/^TENURE_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
sanflags=()
if [ -n "$san" ]; then
  sanflags=("-fsanitize=$san")
fi

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc "${sanflags[@]}" -o "$tmp/pc" "$here/consumer.c" $(pkg-config --cflags --libs tenure) -Wl,-rpath,"$libdir"
"$tmp/pc" | grep -q 'consumer linked tenure' || { echo "FAIL: pkg-config consumer"; exit 1; }

# CMake package
mkdir -p "$tmp/cm"
cp "$here/consumer.c" "$tmp/cm/"
cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(tenure REQUIRED)
add_executable(consumer consumer.c)
target_link_libraries(consumer PRIVATE tenure::lease tenure::runtime)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$libdir" -DCMAKE_C_FLAGS="${sanflags[*]}" \
  -DCMAKE_EXE_LINKER_FLAGS="${sanflags[*]}" > "$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; echo "FAIL: find_package"; exit 1; }
cmake --build "$tmp/cm/b" > "$tmp/cmb.log" 2>&1 || { cat "$tmp/cmb.log"; echo "FAIL: CMake consumer build"; exit 1; }
"$tmp/cm/b/consumer" | grep -q 'consumer linked tenure' || { echo "FAIL: CMake consumer"; exit 1; }
"$prefix/bin/pausesim" --version | grep -q '^pausesim (tenure)' || { echo "FAIL: installed tool"; exit 1; }
echo "install: pkg-config and find_package consumers build and run"
