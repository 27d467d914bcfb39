#!/usr/bin/env bash
# Renders a TermScore HTML report in headless Chromium and checks what the browser built:
# the score element and, for every red flag listed in the report, its flagged clause
# element. Also refuses pages that load anything from the network.
#
# usage: scripts/check_html_report.sh REPORT.html [SCREENSHOT.png]
# The screenshot (1280x2000) goes next to the report unless a path is given.
# Exit status: 0 all checks passed, 1 a check failed, 2 bad usage or no browser.
set -euo pipefail

fail() { echo "check_html_report: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 REPORT.html [SCREENSHOT.png]" >&2
  exit 2
fi
report=$1
[ -f "$report" ] || { echo "check_html_report: \`$report\` does not exist" >&2; exit 2; }
report_abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
shot=${2:-${report_abs%.*}.png}

browser=""
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null 2>&1; then browser=$name; break; fi
done
if [ -z "$browser" ]; then
  echo "check_html_report: chromium is not installed (apt-get install -y chromium)" >&2
  exit 2
fi

# Nothing may come from outside the file.
q='["'"'"']?[[:space:]]*'
attr="(src|href|action)[[:space:]]*=[[:space:]]*$q(https?:|//)"
css="url\\([[:space:]]*$q(https?:|//)|@import"
external="$attr|$css"
if grep -Eiq "$external" "$report"; then
  fail "\`$report\` references an external resource"
fi

profile=$(mktemp -d)
dom=$(mktemp)
trap 'rm -rf "$profile" "$dom"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile")

if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$report_abs" >"$dom" 2>/dev/null; then
  fail "chromium could not render \`$report\`"
fi
[ -s "$dom" ] || fail "chromium returned an empty document for \`$report\`"

# The browser serialises attributes in source order, as the renderer writes them.
grep -q '<section id="score"' "$dom" || fail "no #score element in the rendered page"
grep -q 'id="clauses"' "$dom" || fail "no #clauses element in the rendered page"

# Every red flag links to its clause; each linked clause must exist, flagged.
mapfile -t wanted < <(sed -n '/<section id="flags"/,/<\/section>/p' "$report" \
  | grep -o 'href="#clause-[0-9]*"' | grep -o '[0-9]*' | sort -un)
missing=()
for n in "${wanted[@]}"; do
  element="<div class=\"clause flagged[^\"]*\" id=\"clause-$n\" data-clause-index=\"$n\""
  grep -Eq "$element" "$dom" \
    || missing+=("clause-$n")
done
if [ ${#missing[@]} -gt 0 ]; then
  fail "flagged clause elements missing from the rendered page: ${missing[*]}"
fi
rendered=$(grep -c 'class="clause flagged' "$dom" || true)
[ "$rendered" -eq "${#wanted[@]}" ] \
  || fail "${#wanted[@]} flagged clauses listed but $rendered rendered as flagged"

rm -f "$shot"
timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,2000 \
  --screenshot="$shot" "file://$report_abs" >/dev/null 2>&1 || true
[ -s "$shot" ] || fail "chromium wrote no screenshot to \`$shot\`"

echo "ok: \`$report\` renders with #score and ${#wanted[@]} flagged clauses;" \
  "screenshot \`$shot\`" >&2
