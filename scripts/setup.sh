# Shared by scripts/demo.sh and scripts/test.sh: system packages and the project's virtualenv.
# Source it; it defines functions only.

# ensure_apt_packages PKG...: install the Debian packages that are missing (as root, or with
# sudo), or say the exact apt line and fail when neither is possible.
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo"
    else
      echo "Pantau needs these Debian packages: ${missing[*]}" >&2
      echo "Install them with:  sudo apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "Installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv [EXTRAS]: .venv with Pantau installed (editable) and its Python dependencies.
ensure_venv() {
  local extras="${1:-}"
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Pantau needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))." >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { rm -rf .venv; ensure_apt_packages python3-venv && python3 -m venv .venv; } || return 1
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
}

# ensure_viewer_vendor: the browser code the node serves itself (hls.js for the public station
# page), pinned in viewer/vendor/package-lock.json; npm from Debian if missing.
ensure_viewer_vendor() {
  command -v npm >/dev/null 2>&1 || ensure_apt_packages npm || return 1
  npm ci --prefix viewer/vendor --no-audit --no-fund --loglevel=error
}
