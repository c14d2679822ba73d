#!/usr/bin/env python3
"""Prints boto3's generate_presigned_post as JSON, for compat-tests/post_form_test.go.

Usage: presigned_post.py ENDPOINT SPECS_JSON
SPECS_JSON: a list of {"bucket": B, "key": K, "fields": {...}, "conditions": [...],
            "expires_in": SECONDS, "signature_version": "s3v4" | "s3"}
Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_DEFAULT_REGION. Prints a list of {"url": ..., "fields": [[name, value], ...]},
one per spec, with the fields in boto3's order.
"""
import json
import sys

import boto3
from botocore.config import Config

endpoint, specs = sys.argv[1], json.loads(sys.argv[2])
out = []
for spec in specs:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(signature_version=spec.get("signature_version", "s3v4"), s3={"addressing_style": "path"}),
    )
    post = s3.generate_presigned_post(
        spec["bucket"],
        spec["key"],
        Fields=spec.get("fields") or None,
        Conditions=spec.get("conditions") or None,
        ExpiresIn=spec.get("expires_in", 3600),
    )
    out.append({"url": post["url"], "fields": list(post["fields"].items())})
print(json.dumps(out))
