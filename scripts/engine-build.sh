#!/usr/bin/env bash
# npm run engine:build — builds Kong's Wasm engine (nginx + Kong/ngx_wasm_module + the Wasmtime C API)
# from sources into a cache folder outside the repo, laid out like the prebuilt engine:
# <cache>/bin/nginx (RUNPATH $ORIGIN/../lib) and <cache>/lib/libwasmtime.so.
# An explicit command only: nothing runs it at install or test time. `--help` lists the variables.
set -euo pipefail

NGINX_VERSION=1.22.1
NGINX_SHA256=9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31
NGX_WASM_MODULE_COMMIT=9136e463a6f1d80755ce66c88c3ddecd0eb5e25d # the pin of Kong 3.9.0–3.9.3
WASMTIME_VERSION=26.0.0                                          # Kong 3.9's pin: needs no patch

NGINX_URL=https://nginx.org/download/nginx-$NGINX_VERSION.tar.gz
NGX_WASM_MODULE_URL=https://github.com/Kong/ngx_wasm_module/archive/$NGX_WASM_MODULE_COMMIT.tar.gz
WASMTIME_URL=https://github.com/bytecodealliance/wasmtime/releases/download/v$WASMTIME_VERSION/wasmtime-v$WASMTIME_VERSION-x86_64-linux-c-api.tar.xz

here=$(cd "$(dirname "$0")" && pwd)
cache=${ENGINE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kong-wasm-moesif/engine}
build=$cache/build

say() { printf 'engine-build: %s\n' "$*"; }
die() { printf 'engine-build: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  cat <<EOF
Usage: npm run engine:build

Builds nginx $NGINX_VERSION + Kong/ngx_wasm_module ${NGX_WASM_MODULE_COMMIT:0:8} + Wasmtime into
  $cache
(bin/nginx + lib/libwasmtime.so) and prints the KONG_WASM_ENGINE line to use it.

Sources (each downloaded from its official URL only when its variable is unset):
  ENGINE_NGINX_SRC            nginx source tree (e.g. 'apt-get source nginx' on Debian bookworm, or
                              nginx-$NGINX_VERSION.tar.gz from nginx.org unpacked)
  ENGINE_NGX_WASM_MODULE_SRC  Kong/ngx_wasm_module source tree at commit $NGX_WASM_MODULE_COMMIT
  ENGINE_WASMTIME_DIR         Wasmtime C API: a folder with include/ and lib/libwasmtime.so (the release
                              tarball wasmtime-vX-x86_64-linux-c-api), or an unpacked PyPI wasmtime wheel
                              (wasmtime/linux-x86_64/_libwasmtime.so; headers then from ENGINE_WASMTIME_INCLUDE)
  ENGINE_WASMTIME_INCLUDE     Wasmtime C headers (folder with wasmtime.h), e.g. crates/c-api/include of the
                              wasmtime repository at the library's version; default: ENGINE_WASMTIME_DIR/include
Build:
  ENGINE_CACHE_DIR            output folder (default: \${XDG_CACHE_HOME:-~/.cache}/kong-wasm-moesif/engine)
  ENGINE_BUILD_JOBS           make -j (default 2)    ENGINE_BUILD_NICE  nice level (default 10)
Wasmtime 26 is used as is; Wasmtime 49 gets scripts/engine/ngx_wasm_module-wasmtime49.patch.
EOF
  exit 0
fi

# --- build dependencies ----------------------------------------------------------------------
missing=()
for tool in gcc:gcc make:make patch:patch strip:binutils tar:tar; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
# pcre2.h refuses to be included without a code unit width; nginx uses 8.
has_header() { printf '#include <%s>\n' "$1" | gcc -E -DPCRE2_CODE_UNIT_WIDTH=8 -x c - >/dev/null 2>&1; }
if command -v gcc >/dev/null; then
  has_header pcre2.h || missing+=(libpcre2-dev)
  has_header openssl/ssl.h || missing+=(libssl-dev)
  has_header zlib.h || missing+=(zlib1g-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  die "missing build dependencies: ${missing[*]}
  Debian/Ubuntu: apt-get install gcc make patch binutils libpcre2-dev libssl-dev zlib1g-dev"
fi

# --- sources ---------------------------------------------------------------------------------
# Fresh build folder each run; downloads are kept in $cache/downloads and reused.
rm -rf "$build"
mkdir -p "$build" "$cache/downloads"
unavailable=()

# download URL FILE: succeeds when $cache/downloads/FILE is there (already, or fetched now).
download() {
  local dest=$cache/downloads/$2
  [ -s "$dest" ] && return 0
  command -v curl >/dev/null || return 1
  say "downloading $1"
  curl -fsSL --connect-timeout 15 -o "$dest.part" "$1" 2>/dev/null || { rm -f "$dest.part"; return 1; }
  mv "$dest.part" "$dest"
}

# copy_tree SRC DEST: a copy, so the user's tree is never configured or patched in place.
copy_tree() { mkdir -p "$2" && cp -a "$1/." "$2/"; }

if [ -n "${ENGINE_NGINX_SRC:-}" ]; then
  [ -x "$ENGINE_NGINX_SRC/configure" ] && [ -f "$ENGINE_NGINX_SRC/src/core/nginx.h" ] ||
    die "ENGINE_NGINX_SRC=$ENGINE_NGINX_SRC is not an nginx source tree (no configure, src/core/nginx.h)"
  copy_tree "$ENGINE_NGINX_SRC" "$build/nginx"
elif download "$NGINX_URL" "nginx-$NGINX_VERSION.tar.gz"; then
  echo "$NGINX_SHA256  $cache/downloads/nginx-$NGINX_VERSION.tar.gz" | sha256sum -c --quiet - ||
    die "$cache/downloads/nginx-$NGINX_VERSION.tar.gz: wrong sha256 (delete it and run again)"
  mkdir -p "$build/nginx" && tar -xzf "$cache/downloads/nginx-$NGINX_VERSION.tar.gz" -C "$build/nginx" --strip-components=1
else
  unavailable+=("ENGINE_NGINX_SRC            nginx $NGINX_VERSION source tree ('apt-get source nginx' on Debian bookworm, or $NGINX_URL unpacked)")
fi

if [ -n "${ENGINE_NGX_WASM_MODULE_SRC:-}" ]; then
  [ -f "$ENGINE_NGX_WASM_MODULE_SRC/config" ] && [ -f "$ENGINE_NGX_WASM_MODULE_SRC/src/wasm/wrt/ngx_wrt.h" ] ||
    die "ENGINE_NGX_WASM_MODULE_SRC=$ENGINE_NGX_WASM_MODULE_SRC is not an ngx_wasm_module source tree (no config, src/wasm/wrt/ngx_wrt.h)"
  # An archive has no commit to check; a git checkout does.
  if [ -e "$ENGINE_NGX_WASM_MODULE_SRC/.git" ] && command -v git >/dev/null; then
    head=$(git -C "$ENGINE_NGX_WASM_MODULE_SRC" rev-parse HEAD 2>/dev/null || true)
    [ "$head" = "$NGX_WASM_MODULE_COMMIT" ] ||
      say "warning: ngx_wasm_module checkout is at ${head:-?}, not Kong 3.9's $NGX_WASM_MODULE_COMMIT"
  fi
  copy_tree "$ENGINE_NGX_WASM_MODULE_SRC" "$build/ngx_wasm_module"
elif download "$NGX_WASM_MODULE_URL" "ngx_wasm_module-$NGX_WASM_MODULE_COMMIT.tar.gz"; then
  mkdir -p "$build/ngx_wasm_module"
  tar -xzf "$cache/downloads/ngx_wasm_module-$NGX_WASM_MODULE_COMMIT.tar.gz" -C "$build/ngx_wasm_module" --strip-components=1
else
  unavailable+=("ENGINE_NGX_WASM_MODULE_SRC  Kong/ngx_wasm_module source tree at commit $NGX_WASM_MODULE_COMMIT")
fi

wt_lib= wt_inc= wt_wheel_version=
if [ -n "${ENGINE_WASMTIME_DIR:-}" ]; then
  if [ -f "$ENGINE_WASMTIME_DIR/lib/libwasmtime.so" ]; then
    wt_lib=$ENGINE_WASMTIME_DIR/lib/libwasmtime.so
  elif [ -f "$ENGINE_WASMTIME_DIR/wasmtime/linux-x86_64/_libwasmtime.so" ]; then
    wt_lib=$ENGINE_WASMTIME_DIR/wasmtime/linux-x86_64/_libwasmtime.so
    wt_wheel_version=$(sed -n 's/^Version: //p' "$ENGINE_WASMTIME_DIR"/wasmtime-*.dist-info/METADATA 2>/dev/null | head -n 1)
  else
    die "ENGINE_WASMTIME_DIR=$ENGINE_WASMTIME_DIR has neither lib/libwasmtime.so nor wasmtime/linux-x86_64/_libwasmtime.so (an unpacked wasmtime wheel)"
  fi
  wt_inc=${ENGINE_WASMTIME_INCLUDE:-$ENGINE_WASMTIME_DIR/include}
elif download "$WASMTIME_URL" "wasmtime-v$WASMTIME_VERSION-x86_64-linux-c-api.tar.xz"; then
  command -v xz >/dev/null || die "missing build dependency: xz-utils (to unpack the Wasmtime tarball)"
  mkdir -p "$build/wasmtime-dist"
  tar -xJf "$cache/downloads/wasmtime-v$WASMTIME_VERSION-x86_64-linux-c-api.tar.xz" -C "$build/wasmtime-dist" --strip-components=1
  wt_lib=$build/wasmtime-dist/lib/libwasmtime.so
  wt_inc=${ENGINE_WASMTIME_INCLUDE:-$build/wasmtime-dist/include}
else
  unavailable+=("ENGINE_WASMTIME_DIR         Wasmtime C API: include/ + lib/libwasmtime.so ($WASMTIME_URL unpacked), or an unpacked wasmtime wheel with ENGINE_WASMTIME_INCLUDE")
fi

if [ ${#unavailable[@]} -gt 0 ]; then
  die "cannot download these sources (offline?); set the variables to local copies and run again:
$(printf '  %s\n' "${unavailable[@]}")"
fi

[ -f "$wt_inc/wasmtime.h" ] ||
  die "no Wasmtime C headers in $wt_inc: set ENGINE_WASMTIME_INCLUDE to a folder holding wasmtime.h (e.g. crates/c-api/include of the wasmtime repository at the library's version)"

# The engine links -lwasmtime: stage headers and library under the names the linker looks for.
wt=$build/wasmtime
mkdir -p "$wt/lib"
cp -a "$wt_inc" "$wt/include"
cp "$wt_lib" "$wt/lib/libwasmtime.so"
if [ ! -f "$wt/include/wasmtime/conf.h" ] && [ -f "$wt/include/wasmtime/conf.h.in" ]; then
  # Headers from the wasmtime repository have only the CMake template; fill it in with CMake's
  # default feature set (every feature except disable-logging and all-arch), as release builds are.
  sed -e 's,^#cmakedefine \(WASMTIME_FEATURE_DISABLE_LOGGING\|WASMTIME_FEATURE_ALL_ARCH\)$,/* #undef \1 */,' \
      -e 's,^#cmakedefine ,#define ,' \
      "$wt/include/wasmtime/conf.h.in" > "$wt/include/wasmtime/conf.h"
fi

wt_major=$(sed -n 's/^#define WASMTIME_VERSION_MAJOR \([0-9]*\).*/\1/p' "$wt/include/wasmtime.h")
if [ -n "$wt_wheel_version" ] && [ "${wt_wheel_version%%.*}" != "$wt_major" ]; then
  die "the wheel's library is Wasmtime $wt_wheel_version but the headers in $wt_inc are Wasmtime $wt_major"
fi
case "$wt_major" in
  26) ;;
  49) patch -s -p1 -d "$build/ngx_wasm_module" < "$here/engine/ngx_wasm_module-wasmtime49.patch" ;;
  *) die "Wasmtime ${wt_major:-?} (from $wt_inc/wasmtime.h) is not supported: use 26 (Kong 3.9's pin) or 49" ;;
esac

nginx_version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$build/nginx/src/core/nginx.h")
say "building nginx $nginx_version + ngx_wasm_module + Wasmtime $wt_major in $build"

# --- configure and make ----------------------------------------------------------------------
# The same options as the prebuilt engine: the runtime's paths go only through the environment
# (NO_RPATH: no rpath into this build folder); the binary finds its library at $ORIGIN/../lib.
# `$$` is make's escape for `$`. LD_LIBRARY_PATH lets configure run its Wasmtime test program.
cd "$build/nginx"
NGX_WASM_RUNTIME=wasmtime NGX_WASM_RUNTIME_INC="$wt/include" NGX_WASM_RUNTIME_LIB="$wt/lib" \
NGX_WASM_RUNTIME_NO_RPATH=1 LD_LIBRARY_PATH="$wt/lib" \
  ./configure --prefix=/opt/kong-wasm-engine --with-http_ssl_module --with-http_realip_module \
    --add-module=../ngx_wasm_module --with-cc-opt='-O2' --with-ld-opt="-Wl,-rpath,'\$\$ORIGIN/../lib'" \
    > "$build/configure.log" 2>&1 ||
  { tail -n 20 "$build/configure.log" >&2; die "configure failed (full log: $build/configure.log)"; }

nice -n "${ENGINE_BUILD_NICE:-10}" make -j"${ENGINE_BUILD_JOBS:-2}" > "$build/make.log" 2>&1 ||
  { tail -n 30 "$build/make.log" >&2; die "make failed (full log: $build/make.log)"; }

# --- install into the cache ------------------------------------------------------------------
mkdir -p "$cache/bin" "$cache/lib"
install -m 755 objs/nginx "$cache/bin/nginx"
install -m 644 "$wt/lib/libwasmtime.so" "$cache/lib/libwasmtime.so"
strip "$cache/bin/nginx" "$cache/lib/libwasmtime.so"

libs=$(ldd "$cache/bin/nginx")
case "$libs" in
  *"not found"*) printf '%s\n' "$libs" >&2; die "$cache/bin/nginx misses a shared library (see 'not found' above)" ;;
esac
say "built $("$cache/bin/nginx" -v 2>&1)"
cat > "$cache/BUILD-INFO" <<EOF
nginx $nginx_version from ${ENGINE_NGINX_SRC:-$NGINX_URL}
ngx_wasm_module from ${ENGINE_NGX_WASM_MODULE_SRC:-$NGX_WASM_MODULE_URL}
Wasmtime $wt_major: library ${ENGINE_WASMTIME_DIR:-$WASMTIME_URL}, headers $wt_inc
built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${SECONDS}s
EOF
say "done in ${SECONDS}s. To run the engine suites with it:"
echo "export KONG_WASM_ENGINE=$cache/bin/nginx"
