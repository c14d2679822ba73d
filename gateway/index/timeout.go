package index

import (
	"context"
	"time"
)

// WithTimeout returns ix with a deadline of d on every call (d <= 0: ix as
// it is): a locked or unreachable database fails the call with
// context.DeadlineExceeded instead of holding its request forever.
func WithTimeout(ix Index, d time.Duration) Index {
	if d <= 0 {
		return ix
	}
	return &bounded{ix: ix, d: d}
}

// bounded is WithTimeout's Index. A CompleteUpload's build runs under the
// deadline too: it only checks the parts it is given.
type bounded struct {
	ix Index
	d  time.Duration
}

func (t *bounded) Close() error { return t.ix.Close() }

func (t *bounded) Secret(ctx context.Context, accessKey string) (secret string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Secret(ctx, accessKey)
}

func (t *bounded) AddUser(ctx context.Context, accessKey, secret string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.AddUser(ctx, accessKey, secret)
}

func (t *bounded) RemoveUser(ctx context.Context, accessKey, reassignTo string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.RemoveUser(ctx, accessKey, reassignTo)
}

func (t *bounded) Users(ctx context.Context) ([]User, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Users(ctx)
}

func (t *bounded) SetAdmin(ctx context.Context, accessKey string, on bool) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetAdmin(ctx, accessKey, on)
}

func (t *bounded) IsAdmin(ctx context.Context, accessKey string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.IsAdmin(ctx, accessKey)
}

func (t *bounded) SetBucketOwner(ctx context.Context, bucket, owner string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetBucketOwner(ctx, bucket, owner)
}

func (t *bounded) Bucket(ctx context.Context, name string) (*Bucket, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Bucket(ctx, name)
}

func (t *bounded) Buckets(ctx context.Context, owner string) ([]Bucket, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Buckets(ctx, owner)
}

func (t *bounded) CreateBucket(ctx context.Context, name, owner string) (existing *Bucket, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.CreateBucket(ctx, name, owner)
}

func (t *bounded) DeleteBucket(ctx context.Context, b *Bucket, gcDue int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.DeleteBucket(ctx, b, gcDue)
}

func (t *bounded) SetCORS(ctx context.Context, bucket, doc string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetCORS(ctx, bucket, doc)
}

func (t *bounded) SetEncryption(ctx context.Context, bucket, alg string) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetEncryption(ctx, bucket, alg)
}

func (t *bounded) SetPublic(ctx context.Context, bucket string, on bool) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.SetPublic(ctx, bucket, on)
}

func (t *bounded) Usage(ctx context.Context, bucket string) (objects, bytes int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Usage(ctx, bucket)
}

func (t *bounded) BucketObject(ctx context.Context, bucket, key string) (*Bucket, *Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.BucketObject(ctx, bucket, key)
}

func (t *bounded) Object(ctx context.Context, bucket, key string) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Object(ctx, bucket, key)
}

func (t *bounded) PutObject(ctx context.Context, appid string, o *Object, cond PutCond, intents []int64, gcDue int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.PutObject(ctx, appid, o, cond, intents, gcDue)
}

func (t *bounded) DeleteObject(ctx context.Context, appid, bucket, key string, gcDue int64) (found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.DeleteObject(ctx, appid, bucket, key, gcDue)
}

func (t *bounded) ScanKeys(ctx context.Context, bucket, from string, incl bool, upTo string, limit int) ([]ListRow, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ScanKeys(ctx, bucket, from, incl, upTo, limit)
}

func (t *bounded) CreateUpload(ctx context.Context, appid string, u *Upload) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.CreateUpload(ctx, appid, u)
}

func (t *bounded) Upload(ctx context.Context, id, bucket, key string) (*Upload, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Upload(ctx, id, bucket, key)
}

func (t *bounded) Uploads(ctx context.Context, bucket, keyMarker, idMarker string, limit int) ([]Upload, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Uploads(ctx, bucket, keyMarker, idMarker, limit)
}

func (t *bounded) PutPart(ctx context.Context, appid, bucket, key, id string, p *Part, intents []int64, gcDue int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.PutPart(ctx, appid, bucket, key, id, p, intents, gcDue)
}

func (t *bounded) Parts(ctx context.Context, id string, after, limit int) ([]Part, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Parts(ctx, id, after, limit)
}

func (t *bounded) CompleteUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64, cond PutCond, build func(*Upload, []Part) (*Object, error)) (*Object, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.CompleteUpload(ctx, appid, bucket, key, id, gcDue, cond, build)
}

func (t *bounded) AbortUpload(ctx context.Context, appid, bucket, key, id string, gcDue int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.AbortUpload(ctx, appid, bucket, key, id, gcDue)
}

func (t *bounded) ReserveIntents(ctx context.Context, appid string, names []BlobName, due int64) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ReserveIntents(ctx, appid, names, due)
}

func (t *bounded) DropIntents(ctx context.Context, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.DropIntents(ctx, ids)
}

func (t *bounded) ExpediteIntents(ctx context.Context, ids []int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.ExpediteIntents(ctx, ids)
}

func (t *bounded) DueBlobs(ctx context.Context, now int64, limit int) ([]GCRow, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.DueBlobs(ctx, now, limit)
}

func (t *bounded) Collected(ctx context.Context, id int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Collected(ctx, id)
}

func (t *bounded) Postpone(ctx context.Context, id int64, due int64) error {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	return t.ix.Postpone(ctx, id, due)
}
