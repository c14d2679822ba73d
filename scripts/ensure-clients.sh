#!/usr/bin/env bash
# Installs the real S3 clients the compatibility tests drive, from Debian's
# packages, when they are missing: Debian's awscli, rclone, s3cmd, fuse3 (for
# rclone mount), chromium, ffmpeg (ffprobe), python3-boto3 and
# iproute2 (ip netns, for e2e's TestNetns). Without root a
# missing client is reported; under CI=true that fails the run.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -x /usr/bin/aws ] || need+=(awscli)
have rclone || need+=(rclone)
have s3cmd || need+=(s3cmd)
have fusermount3 || need+=(fuse3)
have chromium || need+=(chromium)
{ have ffprobe && have ffmpeg; } || need+=(ffmpeg)
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || need+=(python3-boto3)
have curl || need+=(curl)
# e2e's TestNetns: ip netns and ip link/addr (iproute2).
have ip || need+=(iproute2)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "ensure-clients: missing ${need[*]} and not root to install them" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 0
fi
echo "ensure-clients: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/apt/periodic/tnv-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
	apt-get update -qq >&2
	mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
