#!/usr/bin/env bash
# Build the documentation site strictly and screenshot its front page and one API reference page
# into docs/ (headless Debian Chromium; no network). Run after changing the docs' look.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict -q -d "$out/site"
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$out/profile" --window-size=1280,860)
chromium "${flags[@]}" --screenshot="docs/site-front.png" "file://$out/site/index.html" 2>/dev/null
chromium "${flags[@]}" --screenshot="docs/site-reference.png" "file://$out/site/reference/runtime/index.html" 2>/dev/null
echo "wrote docs/site-front.png docs/site-reference.png"
