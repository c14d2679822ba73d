package policy

import "strings"

// kind is what sort of resource an action applies to.
type kind uint8

const (
	onBucket  kind = 1 << iota // arn:aws:s3:::bucket
	onObject                   // arn:aws:s3:::bucket/key
	onService                  // *: s3:ListAllMyBuckets and the like
)

// actions are the S3 actions a bucket policy may name, each with what it
// applies to (AWS's "Actions defined by Amazon S3" list, the bucket and
// object ones; a policy written for AWS names some this gateway never
// serves, such as s3:GetObjectVersion, and is accepted all the same).
var actions = map[string]kind{}

func init() {
	for k, names := range map[kind]string{
		onObject: `AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging DeleteObjectVersion
			DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes GetObjectLegalHold GetObjectRetention
			GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl GetObjectVersionAttributes
			GetObjectVersionForReplication GetObjectVersionTagging GetObjectVersionTorrent InitiateReplication
			ListMultipartUploadParts ObjectOwnerOverrideToBucketOwner PutObject PutObjectAcl PutObjectLegalHold
			PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging ReplicateDelete
			ReplicateObject ReplicateTags RestoreObject`,
		onBucket: `CreateBucket DeleteBucket DeleteBucketOwnershipControls DeleteBucketPolicy DeleteBucketWebsite
			GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl GetBucketCORS GetBucketLocation
			GetBucketLogging GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls
			GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging
			GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration GetIntelligentTieringConfiguration
			GetInventoryConfiguration GetLifecycleConfiguration GetMetricsConfiguration GetReplicationConfiguration
			ListBucket ListBucketMultipartUploads ListBucketVersions PutAccelerateConfiguration
			PutAnalyticsConfiguration PutBucketAcl PutBucketCORS PutBucketLogging PutBucketNotification
			PutBucketObjectLockConfiguration PutBucketOwnershipControls PutBucketPolicy PutBucketPublicAccessBlock
			PutBucketRequestPayment PutBucketTagging PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration
			PutIntelligentTieringConfiguration PutInventoryConfiguration PutLifecycleConfiguration
			PutMetricsConfiguration PutReplicationConfiguration`,
		onService: `ListAllMyBuckets GetAccountPublicAccessBlock PutAccountPublicAccessBlock`,
	} {
		for _, n := range strings.Fields(names) {
			actions["s3:"+strings.ToLower(n)] = k
		}
	}
}

// Known tells whether name (any case) is an S3 action a policy may name.
func Known(name string) bool {
	_, ok := actions[strings.ToLower(name)]
	return ok
}

// actionKinds returns what the actions a pattern matches apply to; 0 when
// it matches none.
func actionKinds(pattern string) kind {
	p := strings.ToLower(pattern)
	if !strings.ContainsAny(p, "*?") {
		return actions[p]
	}
	var k kind
	for a, ak := range actions {
		if wildMatch(p, a) {
			k |= ak
		}
	}
	return k
}
