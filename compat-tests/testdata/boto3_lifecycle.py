"""boto3 against the endpoint: Put/Get/DeleteBucketLifecycleConfiguration.

Usage: boto3_lifecycle.py ENDPOINT BUCKET. Prints a line per step and ALL OK.
"""
import datetime
import sys

import boto3
import botocore.config
import botocore.exceptions


def main():
    endpoint, bucket = sys.argv[1:3]
    s3 = boto3.client("s3", endpoint_url=endpoint,
                      config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    try:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        raise SystemExit("get before put: no error")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration", e.response
    print("no configuration: NoSuchLifecycleConfiguration")

    date = datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 5, "NewerNoncurrentVersions": 3}},
        {"ID": "tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "tmp", "Value": "1"}}, "Expiration": {"Date": date}},
        {"ID": "markers", "Status": "Enabled", "Filter": {},
         "Expiration": {"ExpiredObjectDeleteMarker": True}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        {"ID": "big", "Status": "Disabled", "Filter": {"ObjectSizeGreaterThan": 1073741824}, "Expiration": {"Days": 1}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    print("put 4 rules")

    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "tagged", "markers", "big"], got
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}, got[0]
    assert got[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 5, "NewerNoncurrentVersions": 3}, got[0]
    assert got[1]["Filter"] == {"Tag": {"Key": "tmp", "Value": "1"}} and got[1]["Expiration"]["Date"] == date, got[1]
    assert got[2]["Expiration"] == {"ExpiredObjectDeleteMarker": True}, got[2]
    assert got[2]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}, got[2]
    assert got[3]["Status"] == "Disabled" and got[3]["Filter"] == {"ObjectSizeGreaterThan": 1073741824}, got[3]
    print("get: every element read back")

    for bad, code in [
        ({"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 0}}, "InvalidArgument"),
        ({"ID": "x" * 256, "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}, "InvalidArgument"),
        ({"ID": "x", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
          "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}, "InvalidRequest"),
        ({"ID": "x", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}, "NotImplemented"),
    ]:
        try:
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [bad]})
            raise SystemExit("refusal expected for %r" % bad)
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == code, (bad, e.response)
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 4
    print("refusals: InvalidArgument, InvalidRequest, NotImplemented; configuration unchanged")

    s3.delete_bucket_lifecycle(Bucket=bucket)
    try:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
        raise SystemExit("get after delete: no error")
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration", e.response
    print("deleted")
    print("ALL OK")


if __name__ == "__main__":
    main()
