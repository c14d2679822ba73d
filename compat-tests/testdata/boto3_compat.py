#!/usr/bin/env python3
"""boto3 against an S3 endpoint, driven by compat-tests/boto3_test.go.

Usage: boto3_compat.py ENDPOINT BUCKET LIST_BUCKET WORKDIR
Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_DEFAULT_REGION. LIST_BUCKET holds 2 500 keys made by the Go test:
k0000..k1999 and d00/f00..d19/f24. Prints "ok <step>" per step and "ALL OK"
at the end; failed checks are listed on stderr and the exit status is 1.
"""
import base64
import hashlib
import os
import re
import struct
import sys
import zlib
import urllib.error
import urllib.parse
import urllib.request

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MiB = 1024 * 1024
QUOTED_ETAG = re.compile(r'^"[0-9a-f]{32}(-[0-9]+)?"$')


_reported = [0]


def ok(step):
    # "ok" when no check failed since the previous step.
    print("ok" if len(FAILURES) == _reported[0] else "FAILED", step, flush=True)
    _reported[0] = len(FAILURES)


FAILURES = []


def check(cond, msg):
    # A failed check is reported and the script goes on, so that one run
    # shows every incompatibility; the exit status is 1 at the end.
    if not cond:
        FAILURES.append(msg)
        print("FAIL", msg, file=sys.stderr, flush=True)
    return cond


def write_random(path, size, seed):
    # Deterministic, fast enough: repeated SHA-256 blocks of a counter.
    h = hashlib.md5()
    with open(path, "wb") as f:
        i = 0
        left = size
        block = b""
        while left > 0:
            if not block:
                block = b"".join(hashlib.sha256(b"%d-%d-%d" % (seed, i, j)).digest() for j in range(2048))
                i += 1
            chunk = block[:left]
            block = block[len(chunk):]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    return h.hexdigest()


def multipart_etag(path, part):
    sums = b""
    n = 0
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(part), b""):
            sums += hashlib.md5(b).digest()
            n += 1
    return '"%s-%d"' % (hashlib.md5(sums).hexdigest(), n)


def b64(b):
    return base64.b64encode(b).decode()


def part_digests(path, part, digest):
    # The digest of each part of a file cut in parts of `part` bytes.
    with open(path, "rb") as f:
        return [digest(b) for b in iter(lambda: f.read(part), b"")]


def composite(path, part, digest):
    # S3's composite checksum: the digest of the parts' binary digests,
    # base64, "-N".
    ds = part_digests(path, part, digest)
    return "%s-%d" % (b64(digest(b"".join(ds))), len(ds))


def sha256d(b):
    return hashlib.sha256(b).digest()


def crc32d(b):
    return struct.pack(">I", zlib.crc32(b) & 0xFFFFFFFF)


def file_crc32(path):
    c = 0
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            c = zlib.crc32(b, c)
    return b64(struct.pack(">I", c & 0xFFFFFFFF))


def checksums(s3, bucket, work, tc):
    # Additional checksums: upload_file in 5 MiB parts with
    # ChecksumAlgorithm SHA256 (a composite checksum), then with the
    # client's default (pip botocore >= 1.36 sends CRC32 on every upload),
    # then CRC64NVME (needs awscrt); head_object with ChecksumMode ENABLED
    # is compared with the value computed here.
    src = os.path.join(work, "ck.bin")
    write_random(src, 12 * MiB + 7, 2)
    s3.upload_file(src, bucket, "ck/sha256.bin", Config=tc, ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    head = s3.head_object(Bucket=bucket, Key="ck/sha256.bin", ChecksumMode="ENABLED")
    want = composite(src, 5 * MiB, sha256d)
    check(head.get("ChecksumSHA256") == want, "SHA256 multipart: head ChecksumSHA256 %r, want %r" % (head.get("ChecksumSHA256"), want))
    plain = s3.head_object(Bucket=bucket, Key="ck/sha256.bin")
    check("ChecksumSHA256" not in plain, "head_object without ChecksumMode has a checksum")
    ok("upload_file multipart with ChecksumAlgorithm SHA256 (%s)" % want)

    s3.upload_file(src, bucket, "ck/default.bin", Config=tc)
    head = s3.head_object(Bucket=bucket, Key="ck/default.bin", ChecksumMode="ENABLED")
    if "ChecksumCRC32" in head:
        if head.get("ChecksumType") == "FULL_OBJECT":
            want = file_crc32(src)
        else:
            want = composite(src, 5 * MiB, crc32d)
        check(head["ChecksumCRC32"] == want, "default checksum: ChecksumCRC32 %r (%s), want %r" % (head["ChecksumCRC32"], head.get("ChecksumType"), want))
        ok("upload_file multipart with the default checksum (CRC32 %s %s)" % (head.get("ChecksumType"), want))
    else:
        print("skip: this botocore sends no default checksum", flush=True)

    try:
        s3.upload_file(src, bucket, "ck/crc64.bin", Config=tc, ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"})
    except (botocore.exceptions.MissingDependencyException, botocore.exceptions.FlexibleChecksumError) as e:
        # refused by the client itself (no awscrt, or an older botocore)
        print("skip CRC64NVME: %s" % str(e).splitlines()[0], flush=True)
        return
    from awscrt import checksums as crt
    c = 0
    with open(src, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            c = crt.crc64nvme(b, c)
    want = b64(struct.pack(">Q", c))
    head = s3.head_object(Bucket=bucket, Key="ck/crc64.bin", ChecksumMode="ENABLED")
    check(head.get("ChecksumCRC64NVME") == want and head.get("ChecksumType") == "FULL_OBJECT",
          "CRC64NVME: %r %r, want %r FULL_OBJECT" % (head.get("ChecksumCRC64NVME"), head.get("ChecksumType"), want))
    ok("upload_file multipart with ChecksumAlgorithm CRC64NVME (%s)" % want)


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def client(endpoint, **cfg):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, **cfg),
    )


def main():
    endpoint, bucket, list_bucket, work = sys.argv[1:5]
    print("boto3", boto3.__version__, "botocore", botocore.__version__, "python", sys.version.split()[0], flush=True)
    s3 = client(endpoint)

    # upload_file: 20 MiB in 5 MiB parts (multipart), then download_file.
    src = os.path.join(work, "up.bin")
    src_md5 = write_random(src, 20 * MiB + 12345, 1)
    tc = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3.upload_file(src, bucket, "multi/up.bin", Config=tc, ExtraArgs={"ContentType": "application/x-compat", "Metadata": {"origin": "boto3"}})
    head = s3.head_object(Bucket=bucket, Key="multi/up.bin")
    want = multipart_etag(src, 5 * MiB)
    check(head["ETag"] == want, "multipart ETag %s, want %s" % (head["ETag"], want))
    check(head["ContentLength"] == 20 * MiB + 12345, "ContentLength %d" % head["ContentLength"])
    check(head["ContentType"] == "application/x-compat", "ContentType %r" % head["ContentType"])
    check(head["Metadata"] == {"origin": "boto3"}, "Metadata %r" % head["Metadata"])
    check(head.get("AcceptRanges") == "bytes", "AcceptRanges %r" % head.get("AcceptRanges"))
    ok("upload_file multipart (5 parts, ETag %s)" % want)

    dst = os.path.join(work, "down.bin")
    s3.download_file(bucket, "multi/up.bin", dst, Config=tc)
    check(file_md5(dst) == src_md5, "download_file: bytes differ")
    ok("download_file")

    checksums(s3, bucket, work, tc)

    # list_objects_v2 paginator over 2 500 keys.
    pag = s3.get_paginator("list_objects_v2")
    keys, pages = [], 0
    for page in pag.paginate(Bucket=list_bucket, PaginationConfig={"PageSize": 1000}):
        pages += 1
        check(page["KeyCount"] == len(page.get("Contents", [])), "KeyCount %d vs %d" % (page["KeyCount"], len(page.get("Contents", []))))
        check(len(page.get("Contents", [])) <= 1000, "page of %d > MaxKeys" % len(page["Contents"]))
        for o in page.get("Contents", []):
            check(QUOTED_ETAG.match(o["ETag"]), "listed ETag %r not quoted" % o["ETag"])
            keys.append(o["Key"])
    want_keys = sorted(["k%04d" % i for i in range(2000)] + ["d%02d/f%02d" % (d, f) for d in range(20) for f in range(25)])
    check(len(keys) == 2500, "listed %d keys, want 2500" % len(keys))
    check(keys == want_keys, "keys not the 2 500 made, in order")
    check(pages == 3, "%d pages of 1000, want 3" % pages)
    ok("list_objects_v2 paginator: 2500 keys in 3 pages")

    keys, prefixes, pages = [], [], 0
    for page in pag.paginate(Bucket=list_bucket, Delimiter="/", PaginationConfig={"PageSize": 300}):
        pages += 1
        n = len(page.get("Contents", [])) + len(page.get("CommonPrefixes", []))
        check(n <= 300, "page of %d entries > MaxKeys 300" % n)
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    check(len(prefixes) == 20 and len(set(prefixes)) == 20, "%d common prefixes (%d distinct), want 20: %r" % (len(prefixes), len(set(prefixes)), prefixes[:30]))
    check(sorted(prefixes) == ["d%02d/" % d for d in range(20)], "common prefixes %r" % prefixes)
    check(keys == ["k%04d" % i for i in range(2000)], "delimited listing: %d keys, want k0000..k1999" % len(keys))
    check(pages >= 7, "%d pages of <=300 entries for 2020 entries, want at least 7" % pages)
    ok("list_objects_v2 paginator with delimiter: 2000 keys + 20 prefixes in %d pages" % pages)

    page = s3.list_objects_v2(Bucket=list_bucket, Prefix="d05/", Delimiter="/")
    got = [o["Key"] for o in page.get("Contents", [])]
    check(got == ["d05/f%02d" % f for f in range(25)], "prefix d05/: %r" % got)
    check(not page.get("CommonPrefixes"), "prefix d05/: common prefixes %r" % page.get("CommonPrefixes"))
    check(not page["IsTruncated"], "prefix d05/ truncated")
    ok("list_objects_v2 prefix d05/")

    # generate_presigned_url: boto3's default (SigV2 query auth in many
    # versions) and s3v4, fetched with urllib, whole and by range.
    small = os.path.join(work, "small.bin")
    small_md5 = write_random(small, 100000, 2)
    s3.upload_file(small, bucket, "presign/small.bin")
    data = open(small, "rb").read()
    for name, c in (("default", s3), ("s3v4", client(endpoint, signature_version="s3v4"))):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presign/small.bin"}, ExpiresIn=600)
        q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        auth = "SigV4" if "X-Amz-Signature" in q else "SigV2" if "Signature" in q else "unknown"
        status, hdrs, body = fetch(url)
        check(status == 200, "presigned %s (%s) GET: status %d %r" % (name, auth, status, body[:300]))
        check(hashlib.md5(body).hexdigest() == small_md5, "presigned %s GET: bytes differ" % name)
        check(hdrs.get("ETag") == '"%s"' % small_md5, "presigned %s GET: ETag %r" % (name, hdrs.get("ETag")))
        check(hdrs.get("Accept-Ranges") == "bytes", "presigned %s GET: Accept-Ranges %r" % (name, hdrs.get("Accept-Ranges")))
        status, hdrs, body = fetch(url, {"Range": "bytes=1000-1999"})
        check(status == 206, "presigned %s ranged GET: status %d" % (name, status))
        check(body == data[1000:2000], "presigned %s ranged GET: bytes differ" % name)
        check(hdrs.get("Content-Range") == "bytes 1000-1999/100000", "presigned %s: Content-Range %r" % (name, hdrs.get("Content-Range")))
        ok("generate_presigned_url %s (%s): GET 200 and Range 206" % (name, auth))
        # A tampered signature is refused.
        # (one character changed, staying in the signature's alphabet: hex
        # for SigV4, base64 for SigV2)
        bad = re.sub(r"(Signature=)(.)", lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"), url, count=1)
        check(bad != url, "tampering did not change the URL")
        status, _, body = fetch(bad)
        check(status == 403, "presigned %s with a tampered signature: status %d, want 403" % (name, status))
        ok("generate_presigned_url %s: tampered signature refused" % name)

    # copy_object: metadata copied (COPY) or replaced (REPLACE).
    s3.put_object(Bucket=bucket, Key="copy/src.txt", Body=data[:5000], ContentType="text/x-src", Metadata={"a": "1", "b": "two"})
    s3.copy_object(Bucket=bucket, Key="copy/dst-copy.txt", CopySource={"Bucket": bucket, "Key": "copy/src.txt"})
    h = s3.head_object(Bucket=bucket, Key="copy/dst-copy.txt")
    check(h["Metadata"] == {"a": "1", "b": "two"} and h["ContentType"] == "text/x-src", "COPY directive: %r %r" % (h["Metadata"], h["ContentType"]))
    check(h["ETag"] == '"%s"' % hashlib.md5(data[:5000]).hexdigest(), "copy ETag %r" % h["ETag"])
    r = s3.copy_object(Bucket=bucket, Key="copy/dst-replace.txt", CopySource={"Bucket": bucket, "Key": "copy/src.txt"},
                       MetadataDirective="REPLACE", ContentType="text/x-dst", Metadata={"c": "3"})
    check(QUOTED_ETAG.match(r["CopyObjectResult"]["ETag"]), "CopyObjectResult ETag %r" % r["CopyObjectResult"]["ETag"])
    h = s3.head_object(Bucket=bucket, Key="copy/dst-replace.txt")
    check(h["Metadata"] == {"c": "3"} and h["ContentType"] == "text/x-dst", "REPLACE directive: %r %r" % (h["Metadata"], h["ContentType"]))
    body = s3.get_object(Bucket=bucket, Key="copy/dst-replace.txt")["Body"].read()
    check(body == data[:5000], "copied bytes differ")
    # The multipart object copied whole.
    s3.copy_object(Bucket=bucket, Key="copy/big.bin", CopySource={"Bucket": bucket, "Key": "multi/up.bin"})
    got = s3.get_object(Bucket=bucket, Key="copy/big.bin", Range="bytes=%d-%d" % (15 * MiB - 10, 15 * MiB + 9))["Body"].read()
    with open(src, "rb") as f:
        f.seek(15 * MiB - 10)
        check(got == f.read(20), "copy of the multipart object: bytes across a part boundary differ")
    ok("copy_object (COPY, REPLACE, multipart source)")

    # delete_objects, then the bucket is empty.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    check(len(r.get("Deleted", [])) == len(keys) and not r.get("Errors"), "delete_objects: %r" % r)
    check(s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, "bucket not empty after delete_objects")
    ok("delete_objects of %d keys" % len(keys))
    if FAILURES:
        print("%d checks failed:\n  %s" % (len(FAILURES), "\n  ".join(FAILURES)), file=sys.stderr)
        sys.exit(1)
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main()
