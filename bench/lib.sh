# Shared helpers for the benchmarks (sourced). Each benchmark runs medgw and a
# reference tool on the same input in the same run and prints the ratio.
set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${MEDGW_BUILD_DIR:-$BENCH_ROOT/build}

bench_require_build() {
  if [[ ! -x $BUILD_DIR/daemon/medgw || ! -x $BUILD_DIR/tools/sample/medgw-sample || ! -x $BUILD_DIR/bench/medgw-bench-spool ]]; then
    echo "bench: building medgw (release) in $BUILD_DIR" >&2
    "$BENCH_ROOT/scripts/install-deps" >&2
    cmake -S "$BENCH_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
    cmake --build "$BUILD_DIR" >&2
  fi
}

# bench_time OUTVAR_SECONDS OUTVAR_RSS_KB -- command...  (GNU time)
bench_time() {
  local -n _seconds=$1 _rss=$2
  shift 3
  local report
  report=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$report" "$@" > /dev/null
  read -r _seconds _rss < "$report"
  rm -f "$report"
}

bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f", a / b }'; }
# bench_median VALUES...: the middle one (the upper middle of an even count).
bench_median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1] }'; }
bench_rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s == 0) print "inf"; else printf "%.0f", n / s }'; }

# bench_fs_note DIR: the file system the figures were measured on. Whether
# ext4 has a journal matters: without one, fsync is cheap and making a file
# costs more (this VM's root file system has none; a server's has), so
# figures measured there are not a server's.
bench_fs_note() {
  local type source device journal=n/a
  read -r type source < <(findmnt -no FSTYPE,SOURCE --target "$1")
  device=$(basename "$source")
  if [[ $type == ext4 ]]; then
    journal=no
    compgen -G "/proc/fs/jbd2/$device-*" > /dev/null && journal=yes
  elif [[ $type == xfs || $type == btrfs ]]; then
    journal=yes
  fi
  echo "file system of $1: $type on $source (journal: $journal)"
}

# bench_cpu_seconds PID: the CPU time (user + system) a running process has used.
bench_cpu_seconds() {
  local stat
  stat=$(< "/proc/$1/stat")
  stat=${stat##*) }  # past the command name, which may hold spaces
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }' <<< "$stat"
}
