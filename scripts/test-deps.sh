#!/usr/bin/env bash
# Installs the Debian packages the tests use, only the missing ones: tools to BUILD evidence
# (disk images, E01, virtual disks, LUKS headers, encrypted zip/7z; haven itself reads images with pytsk3 and pyewf) and the font the PDF
# summary of referral packages needs.
set -euo pipefail
# package -> a command it provides (present command = package installed)
declare -A provides=(
  [dosfstools]=mkfs.vfat
  [mtools]=mcopy
  [fdisk]=sfdisk
  [e2fsprogs]=mkfs.ext4
  [ntfs-3g]=mkntfs
  [exfatprogs]=mkfs.exfat
  [ewf-tools]=ewfacquire
  [sleuthkit]=fls
  [qemu-utils]=qemu-img
  [xfsprogs]=mkfs.xfs
  [btrfs-progs]=mkfs.btrfs
  [cryptsetup-bin]=cryptsetup
  [p7zip-full]=7z
  [apfsprogs]=mkapfs
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)
need=()
for pkg in dosfstools mtools fdisk e2fsprogs ntfs-3g exfatprogs ewf-tools sleuthkit qemu-utils xfsprogs btrfs-progs cryptsetup-bin p7zip-full apfsprogs fonts-dejavu-core; do
  cmd=${provides[$pkg]}
  # sbin tools are not on a normal user's PATH; dpkg-query settles it either way.
  if command -v "$cmd" >/dev/null 2>&1 || [ -e "$cmd" ] || [ -x "/sbin/$cmd" ] || [ -x "/usr/sbin/$cmd" ] \
     || dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    continue
  fi
  need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" "${need[@]}"
