package index

import (
	"context"

	"github.com/tnv-s3/tnv/metadb"
)

// Component is the name of the gateway's migrations in tnv_schema.
const Component = "gateway"

// steps are the gateway's schema versions. Object keys are byte strings
// (S3 keys are UTF-8 but compared and listed byte-wise), so they live in a
// binary column: VARBINARY(1024) on MySQL keeps (bucket, key) within
// InnoDB's index limit, BLOB on SQLite compares with memcmp.
func steps(d metadb.Dialect) []string {
	key, doc := "BLOB", "TEXT"
	if d == metadb.MySQL {
		key = "VARBINARY(1024)"
		doc = "MEDIUMTEXT" // a lifecycle configuration of 1000 rules outgrows TEXT's 64 KiB
	}
	return []string{
		`CREATE TABLE s3_users (
			access_key VARCHAR(128) NOT NULL PRIMARY KEY,
			secret VARCHAR(256) NOT NULL,
			created BIGINT NOT NULL) {{TABLE}}`,
		`CREATE TABLE s3_buckets (
			name VARCHAR(63) NOT NULL PRIMARY KEY,
			appid VARCHAR(15) NOT NULL UNIQUE,
			owner VARCHAR(128) NOT NULL,
			created BIGINT NOT NULL,
			public_read INT NOT NULL DEFAULT 0,
			cors_xml TEXT) {{TABLE}}`,
		`CREATE TABLE s3_objects (
			bucket VARCHAR(63) NOT NULL,
			okey ` + key + ` NOT NULL,
			size BIGINT NOT NULL,
			etag VARCHAR(80) NOT NULL,
			headers TEXT NOT NULL,
			mtime BIGINT NOT NULL,
			blobs TEXT NOT NULL,
			parts INT NOT NULL,
			version BIGINT NOT NULL,
			PRIMARY KEY (bucket, okey)) {{TABLE}}`,
		`CREATE TABLE s3_multipart (
			upload_id VARCHAR(64) NOT NULL PRIMARY KEY,
			bucket VARCHAR(63) NOT NULL,
			okey ` + key + ` NOT NULL,
			initiated BIGINT NOT NULL,
			owner VARCHAR(128) NOT NULL,
			headers TEXT NOT NULL) {{TABLE}}`,
		`CREATE INDEX s3_multipart_key ON s3_multipart (bucket, okey)`,
		`CREATE TABLE s3_parts (
			upload_id VARCHAR(64) NOT NULL,
			part_number INT NOT NULL,
			etag VARCHAR(80) NOT NULL,
			size BIGINT NOT NULL,
			mtime BIGINT NOT NULL,
			blobs TEXT NOT NULL,
			PRIMARY KEY (upload_id, part_number)) {{TABLE}}`,
		`CREATE TABLE s3_gc (
			id {{AUTOID}},
			appid VARCHAR(16) NOT NULL,
			userid VARCHAR(255) NOT NULL,
			fileid VARCHAR(127) NOT NULL,
			due BIGINT NOT NULL,
			tries INT NOT NULL DEFAULT 0) {{TABLE}}`,
		`CREATE INDEX s3_gc_due ON s3_gc (due)`,
		// An admin user may read the cluster's status and metrics
		// (gateway/reserved.go); it is not a root key.
		`ALTER TABLE s3_users ADD COLUMN admin INT NOT NULL DEFAULT 0`,
		// A bucket's tag set (JSON [{k, v}]), or NULL; object tags live in
		// s3_objects.headers (index.Headers.Tags).
		`ALTER TABLE s3_buckets ADD COLUMN tags TEXT`,
		// Share links (/_tnv/share): a token is kept only as its SHA-256
		// (hex), so the table does not hand out working links.
		`CREATE TABLE s3_shares (
			token_hash CHAR(64) NOT NULL PRIMARY KEY,
			bucket VARCHAR(63) NOT NULL,
			appid VARCHAR(16) NOT NULL,
			prefix ` + key + ` NOT NULL,
			owner VARCHAR(128) NOT NULL,
			created BIGINT NOT NULL,
			expires BIGINT NOT NULL,
			max_viewers INT NOT NULL DEFAULT 0,
			rate BIGINT NOT NULL DEFAULT 0,
			revoked INT NOT NULL DEFAULT 0) {{TABLE}}`,
		`CREATE TABLE s3_share_viewers (
			token_hash CHAR(64) NOT NULL,
			addr VARCHAR(64) NOT NULL,
			first_seen BIGINT NOT NULL,
			PRIMARY KEY (token_hash, addr)) {{TABLE}}`,
		// A bucket's default server-side encryption ("AES256") or NULL.
		`ALTER TABLE s3_buckets ADD COLUMN sse_default VARCHAR(16)`,
		// Bucket policies, bucket ACLs and object ownership (access.go),
		// keyed by app ID: a bucket created again under the same name
		// starts without them.
		`CREATE TABLE s3_bucket_access (
			appid VARCHAR(16) NOT NULL PRIMARY KEY,
			policy TEXT,
			acl TEXT,
			ownership VARCHAR(32) NOT NULL DEFAULT '') {{TABLE}}`,
		// A part's additional checksum (base64) in its upload's algorithm;
		// an object's lives in s3_objects.headers (index.Headers.Checksum).
		`ALTER TABLE s3_parts ADD COLUMN checksum VARCHAR(64) NOT NULL DEFAULT ''`,
		// A bucket's lifecycle configuration (the checked XML document)
		// and the state of the background pass that applies it: the lease
		// (owner, until, epoch: bumped at each taking, so a holder that
		// lost it notices) and where the pass is, to resume there.
		`CREATE TABLE s3_lifecycle (
			bucket VARCHAR(63) NOT NULL PRIMARY KEY,
			config ` + doc + ` NOT NULL,
			updated BIGINT NOT NULL,
			lease_owner VARCHAR(64) NOT NULL DEFAULT '',
			lease_until BIGINT NOT NULL DEFAULT 0,
			lease_epoch BIGINT NOT NULL DEFAULT 0,
			phase INT NOT NULL DEFAULT 0,
			next_key ` + key + `,
			next_upload VARCHAR(64) NOT NULL DEFAULT '',
			pass_started BIGINT NOT NULL DEFAULT 0,
			pass_done BIGINT NOT NULL DEFAULT 0) {{TABLE}}`,
		// Bucket versioning (index.Versioning) and object lock (JSON of
		// index.LockConfig, NULL: not enabled).
		`ALTER TABLE s3_buckets ADD COLUMN versioning INT NOT NULL DEFAULT 0`,
		`ALTER TABLE s3_buckets ADD COLUMN object_lock TEXT`,
		// The current object's version ID; objects written before are the
		// null version.
		`ALTER TABLE s3_objects ADD COLUMN version_id VARCHAR(64) NOT NULL DEFAULT 'null'`,
		// Noncurrent versions and delete markers, in the order they were
		// made (id); noncurrent_since is 0 for a delete marker that is the
		// latest version (versions.go).
		`CREATE TABLE s3_versions (
			id {{AUTOID}},
			bucket VARCHAR(63) NOT NULL,
			okey ` + key + ` NOT NULL,
			version_id VARCHAR(64) NOT NULL,
			marker INT NOT NULL,
			size BIGINT NOT NULL,
			etag VARCHAR(80) NOT NULL,
			headers TEXT NOT NULL,
			mtime BIGINT NOT NULL,
			blobs TEXT NOT NULL,
			parts INT NOT NULL,
			version BIGINT NOT NULL,
			noncurrent_since BIGINT NOT NULL) {{TABLE}}`,
		`CREATE UNIQUE INDEX s3_versions_id ON s3_versions (bucket, okey, version_id)`,
		`CREATE INDEX s3_versions_key ON s3_versions (bucket, okey, id)`,
		// The index lease of the lookup cache (lease.go).
		leaseSchema[0], leaseSchema[1],
	}
}

// Migrate creates or upgrades the gateway's tables.
func Migrate(ctx context.Context, db *metadb.DB) error {
	if err := db.Migrate(ctx, Component, steps(db.Dialect)); err != nil {
		return err
	}
	return migratePublicRead(ctx, db)
}
