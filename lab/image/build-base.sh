#!/usr/bin/env bash
# Build the lab's base image with no container registry: debootstrap a Debian rootfs
# and `docker import` it. Cached twice: the image tag carries a hash of the recipe, and the
# rootfs tarball is kept in $LAB_CACHE_DIR so a pruned image is re-imported, not re-downloaded.
# Set LAB_BASE_IMAGE to use a registry image instead (the Dockerfile then apt-installs packages).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=${LAB_DEBIAN_SUITE:-bookworm}
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incident-lab}
packages=$(grep -v '^#' "$here/packages.txt" | xargs | tr ' ' ',')
recipe_hash=$(printf '%s|%s|%s' "$suite" "$packages" "$(sha256sum "$0" | cut -c1-64)" | sha256sum | cut -c1-12)
tag="incident-lab/base:${suite}-${recipe_hash}"

if [ -n "${LAB_BASE_IMAGE:-}" ]; then echo "$LAB_BASE_IMAGE"; exit 0; fi
if docker image inspect "$tag" >/dev/null 2>&1; then echo "$tag"; exit 0; fi

mkdir -p "$cache"
tarball="$cache/rootfs-${suite}-${recipe_hash}.tar"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap missing: run scripts/install-host-deps.sh" >&2; exit 1; }
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap $suite ($(echo "$packages" | tr ',' ' ' | wc -w) extra packages) into $root" >&2
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >&2
  # Slim the image: package lists, caches and docs are not needed at run time.
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/tmp/*
  tar -C "$root" -cf "$tarball.part" --numeric-owner .
  mv "$tarball.part" "$tarball"
fi
docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >&2
echo "$tag"
