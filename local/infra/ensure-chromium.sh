#!/usr/bin/env bash
# The dashboard's browser test drives Debian's Chromium (playwright-core never downloads a browser):
# installs it when missing. Run by `npm test` (pretest) and by .ci/run.
set -euo pipefail
command -v chromium > /dev/null && exit 0
echo "== install chromium (Debian package) for the dashboard's browser test"
if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
if ! { DEBIAN_FRONTEND=noninteractive $apt_get install -y chromium < /dev/null ||
  { $apt_get update < /dev/null && DEBIAN_FRONTEND=noninteractive $apt_get install -y chromium < /dev/null; }; }; then
  echo "error: could not install chromium (apt-get install -y chromium); test/e2e/dashboard.test.ts needs /usr/bin/chromium" >&2
  exit 1
fi
