// Package compat drives the real S3 clients users run — the aws CLI (Debian's
// and pip's), rclone (including rclone mount over FUSE), s3cmd, boto3, ffprobe
// and headless Chromium — against a real running endpoint, and checks bytes,
// listings and metadata, not just exit codes.
//
// By default (and always under CI=true) the tests start the whole cluster
// once per test binary with `tnv up`; TNV_COMPAT_ENDPOINT points them at
// another endpoint instead. See README.md.
package compat
