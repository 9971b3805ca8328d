#!/usr/bin/env bash
# Browser tests of the web UI (tests/suites/30-ui.sh): Debian's Chromium and
# npm's playwright-core (pinned in tests/ui/package-lock.json) to drive it.
# `npx playwright install` cannot work offline; we use the system browser.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "apt-get install chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
command -v node >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
}
if [ ! -d tests/ui/node_modules/playwright-core ]; then
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
fi
/usr/bin/chromium --version
node -e "console.log('playwright-core', require('./tests/ui/node_modules/playwright-core/package.json').version)"
