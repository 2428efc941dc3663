#!/usr/bin/env bash
# Usage: bash tools/install_system_deps.sh
# Installs the Debian packages the toolkit uses (TTS engines and voices for the offline corpora, sox/ffmpeg for formats,
# IRSTLM for `asr build-ngram`, Chromium and its driver for the served page's browser tests)
# when any is missing. Does nothing when all are present.
set -euo pipefail
pkgs=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox ffmpeg irstlm chromium chromium-driver
  # other languages' recorded persons, who read respelled digits (asr/corpora/tts_accents.py)
  festvox-italp16k festvox-itapc16k festival-czech festvox-czech-dita festvox-czech-krb festvox-czech-machac
  festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-ru festival-ca
  festvox-ca-ona-hts)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "error: missing Debian packages (${missing[*]}); run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: ${missing[*]}"
