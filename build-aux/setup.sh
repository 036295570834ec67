#!/usr/bin/env bash
# Installs the Debian packages of build-aux/debian-packages.txt that are missing.
# Usage: build-aux/setup.sh GROUP...   (groups: build run test bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
groups=" $* "
wanted=()
while read -r group pkg; do
  case "$group" in ''|'#'*) continue ;; esac
  [[ "$groups" == *" $group "* ]] || continue
  wanted+=("$pkg")
done < "$here/debian-packages.txt"

missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "gemba: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "gemba: run as root, or install sudo" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
