package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tnv-s3/tnv/gateway/policy"
	"github.com/tnv-s3/tnv/metadb"
)

// Access is what decides, besides its owner, who may do what in a bucket:
// its policy, its ACL and its object ownership setting. It lives in
// s3_bucket_access keyed by the bucket's app ID, so that a bucket deleted
// and created again (a new app ID) never inherits the old one's.
type Access struct {
	Policy string // the policy document as put; "" none
	ACL    *ACL   // nil: private (the owner has full control)
	// Ownership is the bucket's object ownership: "" the default
	// (BucketOwnerEnforced), "BucketOwnerPreferred", "ObjectWriter", or
	// "-" after DeleteBucketOwnershipControls (ObjectWriter semantics,
	// no controls to get).
	Ownership string
}

// ACL is a bucket's or an object's access control list. A value is never
// changed in place once stored (copies share it): it is replaced whole.
type ACL struct {
	Owner  string  `json:"o"` // the owner's canonical ID (access key)
	Grants []Grant `json:"g,omitempty"`
}

// Grant is one grant of an ACL.
type Grant struct {
	Group      bool   `json:"gr,omitempty"` // ID is a group URI
	ID         string `json:"id"`           // canonical ID (access key) or group URI
	Permission string `json:"p"`            // READ, WRITE, READ_ACP, WRITE_ACP, FULL_CONTROL
}

// AccessControl is the index's part for policies and ACLs. Bucket-level
// calls take the bucket's app ID.
type AccessControl interface {
	BucketAccess(ctx context.Context, appid string) (Access, error) // the zero Access when none was set
	SetBucketPolicy(ctx context.Context, appid, doc string) error   // doc "" removes it
	SetBucketACL(ctx context.Context, appid string, acl *ACL) error // nil: private again
	SetOwnership(ctx context.Context, appid, ownership string) error
	// SetObjectACL replaces an object's ACL without changing its bytes;
	// ErrNotFound for no such object. Like SetObjectTags it counts as a
	// new version for PutCond.IfVersion.
	SetObjectACL(ctx context.Context, bucket, key string, acl *ACL) error
}

// ---- SQL

func (s *SQL) BucketAccess(ctx context.Context, appid string) (Access, error) {
	var a Access
	var pol, acl sql.NullString
	err := s.db.QueryRowContext(ctx, "SELECT policy, acl, ownership FROM s3_bucket_access WHERE appid = ?", appid).Scan(&pol, &acl, &a.Ownership)
	if err == sql.ErrNoRows {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	a.Policy = pol.String
	if acl.String != "" {
		a.ACL = &ACL{}
		if err := json.Unmarshal([]byte(acl.String), a.ACL); err != nil {
			return a, fmt.Errorf("bucket %s: acl: %w", appid, err)
		}
	}
	return a, nil
}

func (s *SQL) setAccess(ctx context.Context, appid, col string, v any) error {
	_, err := s.db.ExecContext(ctx, s.db.Upsert("s3_bucket_access", []string{"appid"}, []string{"appid", col}), appid, v)
	return err
}

func (s *SQL) SetBucketPolicy(ctx context.Context, appid, doc string) error {
	var v any
	if doc != "" {
		v = doc
	}
	return s.setAccess(ctx, appid, "policy", v)
}

func (s *SQL) SetBucketACL(ctx context.Context, appid string, acl *ACL) error {
	var v any
	if acl != nil {
		b, _ := json.Marshal(acl)
		v = string(b)
	}
	return s.setAccess(ctx, appid, "acl", v)
}

func (s *SQL) SetOwnership(ctx context.Context, appid, ownership string) error {
	return s.setAccess(ctx, appid, "ownership", ownership)
}

func (s *SQL) SetObjectACL(ctx context.Context, bucket, key string, acl *ACL) error {
	return s.updateHeaders(ctx, bucket, key, func(h *Headers) { h.ACL = acl }) // tags.go
}

// migratePublicRead turns the public_read flag of buckets made public
// before bucket policies (tnv admin bucket public NAME on) into the policy
// that flag meant: anyone may read and list. Several gateways may run it
// at once: each step is idempotent.
func migratePublicRead(ctx context.Context, db *metadb.DB) error {
	rows, err := db.QueryContext(ctx, "SELECT name, appid FROM s3_buckets WHERE public_read <> 0")
	if err != nil {
		return err
	}
	type nb struct{ name, appid string }
	var bs []nb
	for rows.Next() {
		var b nb
		if err := rows.Scan(&b.name, &b.appid); err != nil {
			rows.Close()
			return err
		}
		bs = append(bs, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range bs {
		err := db.RetryTx(ctx, func(tx *sql.Tx) error {
			var pol sql.NullString
			err := tx.QueryRowContext(ctx, "SELECT policy FROM s3_bucket_access WHERE appid = ?", b.appid).Scan(&pol)
			if err != nil && err != sql.ErrNoRows {
				return err
			}
			if pol.String == "" { // a policy put since wins
				_, err = tx.ExecContext(ctx, db.Upsert("s3_bucket_access", []string{"appid"}, []string{"appid", "policy"}), b.appid, policy.PublicRead(b.name, true))
				if err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, "UPDATE s3_buckets SET public_read = 0 WHERE name = ?", b.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("bucket %s: public_read to policy: %w", b.name, err)
		}
	}
	return nil
}

// ---- Memory

func (m *Memory) BucketAccess(_ context.Context, appid string) (Access, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.access[appid], nil
}

func (m *Memory) updateAccess(appid string, fn func(*Access)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.access == nil {
		m.access = map[string]Access{}
	}
	a := m.access[appid]
	fn(&a)
	m.access[appid] = a
	return nil
}

func (m *Memory) SetBucketPolicy(_ context.Context, appid, doc string) error {
	return m.updateAccess(appid, func(a *Access) { a.Policy = doc })
}

func (m *Memory) SetBucketACL(_ context.Context, appid string, acl *ACL) error {
	return m.updateAccess(appid, func(a *Access) { a.ACL = acl })
}

func (m *Memory) SetOwnership(_ context.Context, appid, ownership string) error {
	return m.updateAccess(appid, func(a *Access) { a.Ownership = ownership })
}

func (m *Memory) SetObjectACL(_ context.Context, bucket, key string, acl *ACL) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[bucket][key]
	if !ok {
		return ErrNotFound
	}
	c := copyObject(o)
	c.Headers.ACL = acl
	c.Version++
	m.objects[bucket][key] = c
	return nil
}

// ---- deadlines

func (t *bounded) BucketAccess(ctx context.Context, appid string) (Access, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.BucketAccess(ctx, appid)
}

func (t *bounded) SetBucketPolicy(ctx context.Context, appid, doc string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetBucketPolicy(ctx, appid, doc)
}

func (t *bounded) SetBucketACL(ctx context.Context, appid string, acl *ACL) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetBucketACL(ctx, appid, acl)
}

func (t *bounded) SetOwnership(ctx context.Context, appid, ownership string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetOwnership(ctx, appid, ownership)
}

func (t *bounded) SetObjectACL(ctx context.Context, bucket, key string, acl *ACL) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetObjectACL(ctx, bucket, key, acl)
}
