#!/usr/bin/env python3
"""boto3 against an S3 endpoint: bucket versioning and object lock, driven
by compat-tests/versioning_test.go.

Usage: boto3_versioning.py ENDPOINT BUCKET LOCK_BUCKET
BUCKET exists (unversioned); LOCK_BUCKET does not (the script creates it
with object lock). Credentials and region come from the environment.
Prints "ok <step>" per step and "ALL OK" at the end; the first failed check
raises, and the exit status is 1. Leaves both buckets empty.
"""
import datetime
import sys

import boto3
import botocore
from botocore.config import Config


def ok(step):
    print("ok", step, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def main():
    endpoint, bucket, lock_bucket = sys.argv[1:4]
    s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    s3.put_object(Bucket=bucket, Key="old", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    check(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", "status Enabled")
    ok("put_bucket_versioning")

    v1 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"two")["VersionId"]
    check(v1 and v2 and v1 != v2, "distinct version IDs %r %r" % (v1, v2))
    check(s3.get_object(Bucket=bucket, Key="doc.txt", VersionId=v1)["Body"].read() == b"one", "GET v1")
    check(s3.head_object(Bucket=bucket, Key="doc.txt")["VersionId"] == v2, "HEAD current version")
    check(s3.get_object(Bucket=bucket, Key="old", VersionId="null")["Body"].read() == b"before versioning", "GET null version")
    ok("versions")

    d = s3.delete_object(Bucket=bucket, Key="doc.txt")
    check(d.get("DeleteMarker") is True and d.get("VersionId"), "delete marker %r" % d)
    check(code(lambda: s3.get_object(Bucket=bucket, Key="doc.txt")) == ("NoSuchKey", 404), "GET under a marker")
    c, status = code(lambda: s3.head_object(Bucket=bucket, Key="doc.txt", VersionId=d["VersionId"]))
    check(status == 405, "HEAD of the marker: %r %r" % (c, status))
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    check(keys == ["old"], "V2 listing shows current objects only: %r" % keys)
    ok("delete_marker")

    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1})
    versions, markers = [], []
    for p in pages:
        versions += [(v["Key"], v["VersionId"], v["IsLatest"]) for v in p.get("Versions", [])]
        markers += [(m["Key"], m["VersionId"], m["IsLatest"]) for m in p.get("DeleteMarkers", [])]
    check(versions == [("doc.txt", v2, False), ("doc.txt", v1, False), ("old", "null", True)], "versions %r" % versions)
    check(markers == [("doc.txt", d["VersionId"], True)], "markers %r" % markers)
    ok("list_object_versions paginator")

    s3.delete_object(Bucket=bucket, Key="doc.txt", VersionId=d["VersionId"])
    check(s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"two", "restored by deleting the marker")
    cp = s3.copy_object(Bucket=bucket, Key="doc.txt", CopySource={"Bucket": bucket, "Key": "doc.txt", "VersionId": v1})
    check(cp.get("CopySourceVersionId") == v1, "copy source version %r" % cp.get("CopySourceVersionId"))
    check(s3.get_object(Bucket=bucket, Key="doc.txt")["Body"].read() == b"one", "restored v1 by copy")
    ok("restore")

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    check(s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"null")["VersionId"] == "null", "suspended PUT is null")
    ok("suspended")

    # empty the bucket, every version
    everything = []
    for p in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        everything += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in p.get("Versions", []) + p.get("DeleteMarkers", [])]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": everything})
    check(not r.get("Errors") and len(r.get("Deleted", [])) == len(everything), "delete_objects of versions: %r" % r.get("Errors"))
    check(not s3.list_object_versions(Bucket=bucket).get("Versions"), "bucket emptied")
    ok("delete_objects versions")

    # object lock
    s3.create_bucket(Bucket=lock_bucket, ObjectLockEnabledForBucket=True)
    check(s3.get_bucket_versioning(Bucket=lock_bucket).get("Status") == "Enabled", "lock bucket versioned")
    s3.put_object_lock_configuration(Bucket=lock_bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    cfg = s3.get_object_lock_configuration(Bucket=lock_bucket)["ObjectLockConfiguration"]
    check(cfg["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}, "lock configuration %r" % cfg)
    ok("object lock configuration")

    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    v = s3.put_object(Bucket=lock_bucket, Key="locked", Body=b"keep", ContentMD5=md5b64(b"keep"),
                      ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)["VersionId"]
    h = s3.head_object(Bucket=lock_bucket, Key="locked", VersionId=v)
    check(h.get("ObjectLockMode") == "GOVERNANCE", "HEAD lock mode %r" % h.get("ObjectLockMode"))
    check(code(lambda: s3.delete_object(Bucket=lock_bucket, Key="locked", VersionId=v)) == ("AccessDenied", 403), "locked delete refused")
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="locked", VersionId=v, LegalHold={"Status": "ON"})
    check(s3.get_object_legal_hold(Bucket=lock_bucket, Key="locked", VersionId=v)["LegalHold"]["Status"] == "ON", "legal hold ON")
    check(code(lambda: s3.delete_object(Bucket=lock_bucket, Key="locked", VersionId=v, BypassGovernanceRetention=True)) == ("AccessDenied", 403),
          "held delete refused even with bypass")
    s3.put_object_legal_hold(Bucket=lock_bucket, Key="locked", VersionId=v, LegalHold={"Status": "OFF"})
    r = s3.get_object_retention(Bucket=lock_bucket, Key="locked", VersionId=v)["Retention"]
    check(r["Mode"] == "GOVERNANCE", "retention %r" % r)
    s3.delete_object(Bucket=lock_bucket, Key="locked", VersionId=v, BypassGovernanceRetention=True)
    ok("retention, legal hold, bypass")

    for p in s3.get_paginator("list_object_versions").paginate(Bucket=lock_bucket):
        for x in p.get("Versions", []) + p.get("DeleteMarkers", []):
            s3.delete_object(Bucket=lock_bucket, Key=x["Key"], VersionId=x["VersionId"], BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=lock_bucket)
    ok("lock bucket removed")
    print("ALL OK", flush=True)


def md5b64(b):
    import base64
    import hashlib
    return base64.b64encode(hashlib.md5(b).digest()).decode()


if __name__ == "__main__":
    main()
