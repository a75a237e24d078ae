#!/usr/bin/env bash
# Prepares, on this machine, what scripts/device_check.sh needs on a GPU machine that has PyTorch,
# nvcc, CMake and Ninja but no apt and no network: Debian's C++ libraries for the build, as .deb
# files unpacked with dpkg -x into .device-deps/root (ignored by git; carried to the GPU machine
# with the working tree). About 10 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.device-deps
packages=(libfmt-dev libfmt9 libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev
          zlib1g-dev zlib1g libgloo-dev)
rm -rf "$dest"
mkdir -p "$dest/debs" "$dest/root"
(cd "$dest/debs" && apt-get download "${packages[@]}" >/dev/null)
for deb in "$dest"/debs/*.deb; do dpkg -x "$deb" "$dest/root"; done
rm -rf "$dest/debs" "$dest/root/usr/share/doc"
# Absolute links (libz.so -> /lib/...) would point outside the folder on the GPU machine.
while IFS= read -r link; do
  target=$(readlink "$link")
  if [[ $target == /* && -e $dest/root$target ]]; then
    ln -sfr "$dest/root$target" "$link"
  fi
done < <(find "$dest/root" -type l)
echo "device_deps: $(du -sh "$dest" | cut -f1) in $dest" >&2
