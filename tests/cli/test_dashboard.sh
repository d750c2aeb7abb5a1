#!/usr/bin/env bash
# test_dashboard.sh: the nightly dashboard in a real browser. Headless Chromium loads
# index.html from disk; the DOM it dumps must hold the metrics table (one row per metric, the
# confirmed regression first, a sparkline in every row) and every trend plot loaded
# (<body data-plots-loaded=N data-plots-failed=0>, set by the page once the images loaded);
# a screenshot is saved with the page it shows, under the test's temporary directory (or
# DASHBOARD_SHOT_DIR, to keep it): the test never writes into the tree.
#
# Chromium is a test dependency that scripts/install-deps.sh installs (`--browser` installs only
# it); the test never installs anything. When it is missing the test is skipped (exit 77) with a
# one-line reason, which STRICT=1 (CI) turns into a failure. DASHBOARD_BROWSER names the browser
# to use instead of the first of chromium, chromium-browser, google-chrome.
. "$(dirname "$0")/lib.sh"
DB=$DELTABENCH
SHOTDIR=${DASHBOARD_SHOT_DIR:-$T/shot}

find_browser() {
  if [ -n "${DASHBOARD_BROWSER:-}" ]; then # a given browser (or a missing one, to check the skip)
    [ -x "$DASHBOARD_BROWSER" ] && { echo "$DASHBOARD_BROWSER"; return 0; }
    return 1
  fi
  for b in chromium chromium-browser google-chrome; do
    command -v "$b" >/dev/null 2>&1 && { command -v "$b"; return 0; }
  done
  return 1
}
B=$(find_browser) || {
  echo "chromium not installed (scripts/install-deps.sh --browser installs it)"
  exit 77
}

# ---- a history with a confirmed 20 % regression, three metric groups ----
"$DB" trace gen --requests 10 --rate 1 --seed 1 --out "$T/src.h5" >/dev/null || { fail "trace gen"; finish; exit 1; }
H=$T/history.h5
for i in $(seq 1 14); do
  g=$(awk -v i="$i" 'BEGIN { srand(i); printf "%.6f", (1 + 0.03 * (2 * rand() - 1)) * (i >= 13 ? 1.2 : 1) }')
  w=$(awk -v i="$i" 'BEGIN { srand(i + 100); printf "%.6f", 2 + 0.06 * (2 * rand() - 1) }')
  {
    printf 'kernel/gemv_s\t%s\ts\tlower\tperf\t10\t0.02\t%s\n' "$g" "$T/src.h5"
    printf 'kernel/sbmm_s\t%s\ts\tlower\tperf\t10\t0.02\t%s\n' "$w" "$T/src.h5"
    printf 'compress/ratio\t2.5\tx\thigher\texact\t1\t0\t%s\n' "$T/src.h5"
    printf 'sim/req_per_s\t%s\treq/s\thigher\tperf\t5\t0.01\t%s\n' "$(awk -v w="$w" 'BEGIN { print w * 1e5 }')" "$T/src.h5"
  } > "$T/m.tsv"
  "$DB" nightly record --history "$H" --metrics "$T/m.tsv" --machine ci --commit "c$i" >/dev/null ||
    fail "record run $i"
done
ncheck=$((ncheck + 1))
"$DB" nightly dashboard --history "$H" --out "$T/dash" >/dev/null 2>"$T/err" ||
  fail "dashboard: $(cat "$T/err")"

# ---- load it in the browser ----
URL="file://$(cd "$T/dash" && pwd)/index.html"
flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
       --no-first-run --user-data-dir="$T/profile" --virtual-time-budget=5000)
ncheck=$((ncheck + 1))
timeout 120 "$B" "${flags[@]}" --dump-dom "$URL" >"$T/dom.html" 2>"$T/browser.err" ||
  fail "$B --dump-dom failed: $(tail -n 3 "$T/browser.err")"
dom=$T/dom.html
ncheck=$((ncheck + 1))
grep -q '<table id="metrics">' "$dom" || fail "DOM: no metrics table"
rows=$(grep -o '<tr class="[a-z]*">' "$dom" | wc -l)
[ "$rows" -eq 4 ] || fail "DOM: $rows metric rows, expected 4"
first=$(grep -o '<tr class="[a-z]*">' "$dom" | head -n 1)
[ "$first" = '<tr class="regression">' ] || fail "DOM: first row is $first, not the regression"
grep -q 'kernel/gemv_s</b> regression' "$dom" || fail "DOM: regression not listed at the top"
sparks=$(grep -o '<svg class="spark"' "$dom" | wc -l)
[ "$sparks" -eq 4 ] || fail "DOM: $sparks sparklines, expected 4"
grep -q 'data-plots-loaded="3"' "$dom" || fail "DOM: plots loaded: $(grep -o 'data-plots-[a-z]*="[0-9]*"' "$dom" | tr '\n' ' ')"
grep -q 'data-plots-failed="0"' "$dom" || fail "DOM: a plot failed to load"
n_ok=$(grep -o 'data-loaded="yes"' "$dom" | wc -l)
[ "$n_ok" -eq 3 ] || fail "DOM: $n_ok images marked loaded, expected 3"
grep -q 'href="../src.h5"' "$dom" || fail "DOM: no relative link to the source HDF5"

# ---- screenshot ----
mkdir -p "$SHOTDIR"
rm -rf "$SHOTDIR/page"
cp -r "$T/dash" "$SHOTDIR/page"
ncheck=$((ncheck + 1))
timeout 120 "$B" "${flags[@]}" --window-size=1280,1600 --screenshot="$T/shot.png" "$URL" \
  >/dev/null 2>>"$T/browser.err" || fail "$B --screenshot failed: $(tail -n 3 "$T/browser.err")"
if [ -s "$T/shot.png" ] && [ "$(head -c 8 "$T/shot.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
  size=$(stat -c %s "$T/shot.png")
  [ "$size" -gt 20000 ] || fail "screenshot only $size bytes (blank page?)"
  mv "$T/shot.png" "$SHOTDIR/screenshot.png"
  echo "screenshot: $SHOTDIR/screenshot.png ($size bytes)"
else
  fail "no PNG screenshot"
fi

finish
