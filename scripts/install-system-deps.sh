#!/usr/bin/env bash
# Debian packages the tests and the PDF export need. Installs only what is missing; needs root
# or password-less sudo, and says in one line what to install by hand otherwise.
set -euo pipefail
# chromium: HTML request test and PDF printing; fonts-noto-cjk: Hangul in figures and PDF;
# poppler-utils: pdftotext for the PDF text test; fonts-noto-color-emoji: emoji and pictographs
# from the data (titles, messages, notes) in the PDF, which no other font here has (they
# printed as empty boxes).
PKGS=(chromium fonts-noto-cjk poppler-utils fonts-noto-color-emoji)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "install-system-deps: cannot install ${missing[*]} (needs root); install them with apt-get." >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
