#!/usr/bin/env bash
# The unit tests (vitest project `unit`) on every supported Node.js line besides the machine's own:
# `pnpm test` runs the whole suite on the machine's Node (20), then this. The broker tests run once,
# in the whole suite.
#
# The binaries come from the npm registry (packages node-<platform>-<arch>, which ship bin/node), are
# fetched once into .cache/node/<version>/ (git-ignored) and reused while present. Versions are
# pinned here: raise them on purpose, the way the lockfile pins everything else.
#
#   bash scripts/test-node-lines.sh              # 22, 24 and 26
#   bash scripts/test-node-lines.sh 26           # only the lines named (major versions)
#   bash scripts/test-node-lines.sh 26 -- test/x # extra arguments after -- go to vitest
#
# Ends with one line `node-lines: N passed, N failed, N skipped` over all lines; exits non-zero when
# any line failed (every line runs either way, so one report shows them all).
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A PINNED=([22]=22.23.3 [24]=24.21.0 [26]=26.12.1)
LINE_DEADLINE_S=1200
lines=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; extra=("$@"); break ;;
    *) lines+=("$1"); shift ;;
  esac
done
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)

platform="$(node -p 'process.platform + "-" + process.arch')"
cache="$PWD/.cache/node"

# Prints the path of bin/node of that version, fetching it first when absent.
fetch_node() {
  local version="$1" dir="$cache/$1"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$cache"
    local tmp
    tmp="$(mktemp -d "$cache/.fetch-XXXXXX")"
    echo "node-lines: fetching node-$platform@$version from the npm registry into ${dir#"$PWD"/}" >&2
    if ! (cd "$tmp" && npm pack --silent "node-$platform@$version" >/dev/null && tar -xzf ./*.tgz); then
      rm -rf "$tmp"
      echo "node-lines: cannot fetch node-$platform@$version (the npm registry has Node binaries for linux-x64; elsewhere run the lines by hand)" >&2
      return 1
    fi
    chmod +x "$tmp/package/bin/node"
    rm -rf "$dir"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
  fi
  local actual
  actual="$("$dir/bin/node" --version)"
  if [ "$actual" != "v$version" ]; then
    echo "node-lines: $dir/bin/node is $actual, expected v$version" >&2
    return 1
  fi
  echo "$dir/bin/node"
}

total_passed=0
total_failed=0
total_skipped=0
status=0
report=()
for line in "${lines[@]}"; do
  version="${PINNED[$line]:-}"
  if [ -z "$version" ]; then
    echo "node-lines: no pinned version for Node $line (known: ${!PINNED[*]})" >&2
    exit 2
  fi
  node_bin="$(fetch_node "$version")" || { status=1; report+=("Node $version: could not fetch the binary"); total_failed=$((total_failed + 1)); continue; }
  echo
  echo "node-lines: unit tests on Node $version"
  log="$(mktemp)"
  started=$SECONDS
  # PATH first: tests that start `node` by name get this line's binary too (most use process.execPath).
  # A deadline, so that a test that never yields cannot hang the whole run without saying where.
  # The crash tests kill their child 10 times in the main run; 3 kills per line check the same recovery on this Node.
  if TRACKPIPE_CRASH_RUNS=3 PATH="$(dirname "$node_bin"):$PATH" timeout --kill-after=30 "$LINE_DEADLINE_S" "$node_bin" node_modules/vitest/vitest.mjs run --project unit "${extra[@]}" 2>&1 | tee "$log"; then
    outcome=passed
  else
    outcome=FAILED
    status=1
  fi
  seconds=$((SECONDS - started))
  summary="$(grep -E '^vitest: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 || true)"
  rm -f "$log"
  if [ "$outcome" = FAILED ] && [ "$seconds" -ge "$LINE_DEADLINE_S" ]; then outcome="FAILED (stopped at the ${LINE_DEADLINE_S} s deadline)"; fi
  if [[ "$summary" =~ ^vitest:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
    total_skipped=$((total_skipped + BASH_REMATCH[3]))
  else
    summary="no summary line (vitest did not finish)"
    status=1
    total_failed=$((total_failed + 1))
  fi
  report+=("Node $version: $outcome in ${seconds} s (${summary#vitest: })")
done

echo
for entry in "${report[@]}"; do echo "node-lines: $entry"; done
echo "node-lines: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $status
