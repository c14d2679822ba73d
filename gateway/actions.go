package gateway

// opActions maps every S3 operation the gateway serves to the action a
// bucket policy names it by (AWS's "Actions, resources, and condition keys
// for Amazon S3"). An operation missing here can be done by the root key
// and the bucket's owner only; TestEveryRouteHasAnAction keeps the table
// whole.
var opActions = map[string]string{
	"ListBuckets":                     "s3:ListAllMyBuckets",
	"CreateBucket":                    "s3:CreateBucket",
	"DeleteBucket":                    "s3:DeleteBucket",
	"HeadBucket":                      "s3:ListBucket",
	"ListObjects":                     "s3:ListBucket",
	"ListObjectsV2":                   "s3:ListBucket",
	"GetBucketLocation":               "s3:GetBucketLocation",
	"ListMultipartUploads":            "s3:ListBucketMultipartUploads",
	"GetBucketVersioning":             "s3:GetBucketVersioning",
	"PutBucketVersioning":             "s3:PutBucketVersioning",
	"PutBucketCors":                   "s3:PutBucketCORS",
	"GetBucketCors":                   "s3:GetBucketCORS",
	"DeleteBucketCors":                "s3:PutBucketCORS",
	"PutBucketTagging":                "s3:PutBucketTagging",
	"GetBucketTagging":                "s3:GetBucketTagging",
	"DeleteBucketTagging":             "s3:PutBucketTagging",
	"PutBucketAcl":                    "s3:PutBucketAcl",
	"GetBucketAcl":                    "s3:GetBucketAcl",
	"PutBucketPolicy":                 "s3:PutBucketPolicy",
	"GetBucketPolicy":                 "s3:GetBucketPolicy",
	"DeleteBucketPolicy":              "s3:DeleteBucketPolicy",
	"GetBucketPolicyStatus":           "s3:GetBucketPolicyStatus",
	"PutBucketOwnershipControls":      "s3:PutBucketOwnershipControls",
	"GetBucketOwnershipControls":      "s3:GetBucketOwnershipControls",
	"DeleteBucketOwnershipControls":   "s3:PutBucketOwnershipControls",
	"DeleteObjects":                   "s3:DeleteObject", // and per key (deleteObjects)
	"PutBucketEncryption":             "s3:PutEncryptionConfiguration",
	"GetBucketEncryption":             "s3:GetEncryptionConfiguration",
	"DeleteBucketEncryption":          "s3:PutEncryptionConfiguration",
	"PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
	"GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
	"DeleteBucketLifecycle":           "s3:PutLifecycleConfiguration",
	"PutObjectLockConfiguration":      "s3:PutBucketObjectLockConfiguration",
	"GetObjectLockConfiguration":      "s3:GetBucketObjectLockConfiguration",
	"ListObjectVersions":              "s3:ListBucketVersions",
	"PostObject":                      "s3:PutObject", // the form's signer, on the form's key (post.go)

	"GetObject":               "s3:GetObject",
	"HeadObject":              "s3:GetObject",
	"PutObject":               "s3:PutObject",
	"CopyObject":              "s3:PutObject", // and s3:GetObject on the source (copy.go)
	"CreateMultipartUpload":   "s3:PutObject",
	"UploadPart":              "s3:PutObject",
	"UploadPartCopy":          "s3:PutObject",
	"CompleteMultipartUpload": "s3:PutObject",
	"AbortMultipartUpload":    "s3:AbortMultipartUpload",
	"ListParts":               "s3:ListMultipartUploadParts",
	"DeleteObject":            "s3:DeleteObject",
	"PutObjectRetention":      "s3:PutObjectRetention",
	"GetObjectRetention":      "s3:GetObjectRetention",
	"PutObjectLegalHold":      "s3:PutObjectLegalHold",
	"GetObjectLegalHold":      "s3:GetObjectLegalHold",
	"GetObjectAttributes":     "s3:GetObjectAttributes",
	"GetObjectAcl":            "s3:GetObjectAcl",
	"PutObjectAcl":            "s3:PutObjectAcl",
	"GetObjectTagging":        "s3:GetObjectTagging",
	"PutObjectTagging":        "s3:PutObjectTagging",
	"DeleteObjectTagging":     "s3:DeleteObjectTagging",
}

// aclPermission is the ACL permission an action needs, on the bucket's
// ACL (bucket actions, and writes of objects) or on the object's: "" for
// actions no ACL grants (only the owner and policies do).
func aclPermission(action string) (perm string, onObject bool) {
	switch action {
	case "s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:ListBucketVersions":
		return "READ", false
	case "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts":
		return "WRITE", false
	case "s3:GetBucketAcl":
		return "READ_ACP", false
	case "s3:PutBucketAcl":
		return "WRITE_ACP", false
	case "s3:GetObject":
		return "READ", true
	case "s3:GetObjectAcl":
		return "READ_ACP", true
	case "s3:PutObjectAcl":
		return "WRITE_ACP", true
	}
	return "", false
}
