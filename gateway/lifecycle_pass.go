package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/lifecycle"
)

// The lifecycle pass: every LifecycleInterval, each bucket with a
// configuration is scanned once, by one gateway at a time. The gateway
// takes the bucket's lease in the index (a conditional UPDATE: free, or
// expired), then walks the bucket's objects in key order and its uploads,
// expiring what the rules say is due, as DeleteObject and
// AbortMultipartUpload do (index row gone, blobs queued for the
// collector). It saves where it is after each batch, renewing the lease;
// a gateway that dies mid-pass leaves the lease to expire and the next
// taker resumes after the last saved key. In a versioned bucket the pass
// walks every version instead (key by key, newest first): an expired
// current object gets a delete marker, noncurrent versions and expired
// object delete markers are deleted for good, and a version under object
// lock (retention in force, a legal hold) is left and counted. Each
// action checks the lease (and that its object is still as read) in its
// own transaction, so a gateway that lost it (stalled past its expiry, or
// the configuration was replaced) acts on nothing more.
//
// Times come from Config.Now (the clock tests advance); pacing of actions
// is on the wall clock.

const (
	// DefaultLifecycleInterval is how often each bucket's rules are applied.
	DefaultLifecycleInterval = time.Hour
	// DefaultLifecycleRate is how many objects (or uploads) a pass expires
	// per second at most, per gateway.
	DefaultLifecycleRate = 100
	// lifecycleLeaseTTL is how long a lease lasts unless renewed; it is
	// renewed after each batch and before an action when half is gone.
	lifecycleLeaseTTL = 5 * time.Minute
	// lifecycleBatch is how many keys (or uploads) are read at once, and
	// how often progress is saved.
	lifecycleBatch = 500
)

// lifecycleVersions is what a pass needs of a versioned bucket's
// versions (indexVersions: the index's Versions and its lease-checked
// actions). Each action checks the lease, and that the version is still
// as listed, in its own transaction.
type lifecycleVersions interface {
	// ScanVersions lists the versions of keys after afterKey, by key then
	// newest first, with the facts lifecycle.Object holds: about limit of
	// them, the last key's complete (NewerNoncurrent and Alone need a
	// key's every version), and whether more may follow.
	ScanVersions(ctx context.Context, bucket, afterKey string, limit int) (vs []lifecycleVersion, more bool, err error)
	// AddDeleteMarker expires a current version as DeleteObject without
	// a version ID does in a bucket whose versioning is v, under the lease.
	AddDeleteMarker(ctx context.Context, l index.LeaseRef, appid string, ver lifecycleVersion, v index.Versioning, at time.Time, gcDue int64) (done, locked bool, err error)
	// DeleteVersion deletes a noncurrent version, or a current delete
	// marker alone on its key, for good, its blobs queued at gcDue, under
	// the lease; object lock (retention in force, a legal hold) keeps a
	// version: locked true, nothing done.
	DeleteVersion(ctx context.Context, l index.LeaseRef, appid string, ver lifecycleVersion, at time.Time, gcDue int64) (done, locked bool, err error)
}

// lifecycleVersion is one version as ScanVersions lists it.
type lifecycleVersion struct {
	lifecycle.Object
	VersionID string
}

// indexVersion is the listing entry ver was read from, as the index's
// actions take it (IsLatest: the current version or delete marker).
func (ver lifecycleVersion) indexVersion() index.Version {
	return index.Version{Key: ver.Key, VersionID: ver.VersionID, DeleteMarker: ver.DeleteMarker, IsLatest: !ver.Noncurrent, MTime: ver.ModTime}
}

// indexVersions is lifecycleVersions on the object index.
type indexVersions struct{ idx index.Index }

func (x indexVersions) ScanVersions(ctx context.Context, bucket, afterKey string, limit int) ([]lifecycleVersion, bool, error) {
	list, err := x.idx.ListVersions(ctx, bucket, afterKey, false, "", "", limit)
	if err != nil {
		return nil, false, err
	}
	more := len(list) == limit
	for more { // the rest of the last key's versions
		last := list[len(list)-1]
		rest, err := x.idx.ListVersions(ctx, bucket, last.Key, false, last.VersionID, last.Key+"\x00", limit)
		if err != nil {
			return nil, false, err
		}
		list = append(list, rest...)
		if len(rest) < limit {
			break
		}
	}
	out := make([]lifecycleVersion, len(list))
	newer := 0 // noncurrent versions of the key seen so far
	for i, v := range list {
		if i == 0 || list[i-1].Key != v.Key {
			newer = 0
		}
		o := lifecycle.Object{Key: v.Key, Size: v.Size, Tags: lcTags(v.Tags), ModTime: v.MTime, DeleteMarker: v.DeleteMarker}
		if !v.IsLatest {
			o.Noncurrent, o.NoncurrentSince, o.NewerNoncurrent = true, v.NoncurrentSince, newer
			newer++
		} else if v.DeleteMarker {
			o.Alone = i+1 == len(list) || list[i+1].Key != v.Key
		}
		out[i] = lifecycleVersion{Object: o, VersionID: v.VersionID}
	}
	return out, more, nil
}

func (x indexVersions) AddDeleteMarker(ctx context.Context, l index.LeaseRef, appid string, ver lifecycleVersion, v index.Versioning, at time.Time, gcDue int64) (bool, bool, error) {
	done, err := x.idx.ExpireCurrentVersion(ctx, l, appid, ver.indexVersion(), v, at, gcDue)
	if errors.Is(err, index.ErrLocked) {
		return false, true, nil
	}
	return done, false, err
}

func (x indexVersions) DeleteVersion(ctx context.Context, l index.LeaseRef, appid string, ver lifecycleVersion, at time.Time, gcDue int64) (bool, bool, error) {
	done, err := x.idx.ExpireVersion(ctx, l, appid, ver.indexVersion(), at, gcDue)
	if errors.Is(err, index.ErrLocked) {
		return false, true, nil
	}
	return done, false, err
}

// lifecycleStats are what a round of passes did (tests read them; the
// metrics count them too).
type lifecycleStats struct {
	Passes   int // bucket passes finished
	Held     int // buckets skipped: another gateway holds the lease
	Examined int // objects and uploads read
	Expired  int // objects expired
	Bytes    int64
	Aborted  int // uploads aborted
	Locked   int // versions due but kept by object lock
	Errors   int
}

func (s *lifecycleStats) add(o lifecycleStats) {
	s.Passes += o.Passes
	s.Held += o.Held
	s.Examined += o.Examined
	s.Expired += o.Expired
	s.Bytes += o.Bytes
	s.Aborted += o.Aborted
	s.Locked += o.Locked
	s.Errors += o.Errors
}

// lifecycleState is a gateway's lifecycle runner.
type lifecycleState struct {
	owner string // this gateway in lease rows
	batch int
	// hook, set only by tests, runs at points of a pass: "leased" (the
	// lease is taken), "expired" (after each object expired), "aborted".
	hook func(event, key string)
	// versions serves the passes of versioned buckets.
	versions lifecycleVersions
	pace     *lcPacer
}

func newLifecycleState(rate float64, idx index.Index) *lifecycleState {
	b := make([]byte, 8)
	rand.Read(b)
	return &lifecycleState{owner: "gw-" + hex.EncodeToString(b), batch: lifecycleBatch, pace: newLCPacer(rate), versions: indexVersions{idx}}
}

// lifecycleLoop runs the passes until the gateway closes. It looks for
// due buckets every minute (or every interval when shorter): a bucket is
// due an interval after its last pass started, whichever gateway ran it,
// and at once when a pass was left unfinished or its configuration is new.
func (g *Gateway) lifecycleLoop() {
	defer g.wg.Done()
	t := time.NewTicker(min(g.cfg.LifecycleInterval, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		g.lifecycleOnce(g.ctx)
	}
}

// lifecycleOnce runs the pass of every due bucket whose lease it gets.
// With the loop off (LifecycleInterval < 0: tests) every bucket is due.
func (g *Gateway) lifecycleOnce(ctx context.Context) lifecycleStats {
	var total lifecycleStats
	states, err := g.idx.LifecycleStates(ctx)
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("gateway: lifecycle: list configurations", "err", err)
			total.Errors++
			g.cfg.Metrics.lifecycleCount(total)
		}
		return total
	}
	interval := int64(g.cfg.LifecycleInterval.Seconds())
	for _, st := range states {
		now := g.nowUnix()
		if interval > 0 && st.Phase == index.PhaseIdle && st.Started != 0 && now-st.Started < interval {
			continue
		}
		if st.Owner != "" && st.Until > now {
			total.Held++
			continue
		}
		s := g.lifecyclePass(ctx, st.Bucket)
		g.cfg.Metrics.lifecycleCount(s)
		total.add(s)
		if ctx.Err() != nil {
			break
		}
	}
	return total
}

// passRun is one bucket's pass in progress.
type passRun struct {
	g          *Gateway
	lease      index.LeaseRef
	appid      string
	versioning index.Versioning
	rules      []lifecycle.Rule
	p          index.LifecycleProgress
	until      int64 // the lease's expiry as last set
	stats      lifecycleStats
}

var errLeaseGone = errors.New("lifecycle: lease lost")

// lifecyclePass takes a bucket's lease and runs (or resumes) its pass.
func (g *Gateway) lifecyclePass(ctx context.Context, bucket string) lifecycleStats {
	lc := g.lc
	now := g.nowUnix()
	ttl := int64(lifecycleLeaseTTL.Seconds())
	st, ok, err := g.idx.TakeLifecycleLease(ctx, bucket, lc.owner, now, now+ttl)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			g.log.Warn("gateway: lifecycle: take lease", "bucket", bucket, "err", err)
			return lifecycleStats{Errors: 1}
		}
		return lifecycleStats{Held: 1}
	}
	run := &passRun{g: g, lease: index.LeaseRef{Bucket: bucket, Epoch: st.Epoch}, p: st.LifecycleProgress, until: now + ttl}
	if lc.hook != nil {
		lc.hook("leased", "")
	}
	err = run.run(ctx, st.Doc)
	switch {
	case err == nil:
		run.stats.Passes++
		g.log.Info("gateway: lifecycle: pass", "bucket", bucket, "examined", run.stats.Examined, "expired", run.stats.Expired,
			"bytes", run.stats.Bytes, "aborted", run.stats.Aborted, "locked", run.stats.Locked)
	case errors.Is(err, errLeaseGone) || errors.Is(err, index.ErrLeaseLost):
		g.log.Info("gateway: lifecycle: lease lost, pass left to its new holder", "bucket", bucket)
	case ctx.Err() != nil:
		// Closing: the lease expires and the next taker resumes.
	default:
		run.stats.Errors++
		g.log.Warn("gateway: lifecycle: pass", "bucket", bucket, "err", err)
	}
	return run.stats
}

func (r *passRun) run(ctx context.Context, doc string) error {
	g := r.g
	b, err := g.idx.Bucket(ctx, r.lease.Bucket)
	if err != nil {
		return err
	}
	r.appid, r.versioning = b.AppID, b.Versioning
	if r.rules, err = lifecycle.Rules([]byte(doc)); err != nil {
		return err
	}
	if r.p.Phase == index.PhaseIdle {
		r.p = index.LifecycleProgress{Phase: index.PhaseObjects, Started: g.nowUnix(), Done: r.p.Done}
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	if r.p.Phase == index.PhaseObjects {
		if err := r.objects(ctx); err != nil {
			return err
		}
		r.p.Phase, r.p.NextKey, r.p.NextUpload = index.PhaseUploads, "", ""
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	if err := r.uploads(ctx); err != nil {
		return err
	}
	r.p = index.LifecycleProgress{Phase: index.PhaseIdle, Started: r.p.Started, Done: g.nowUnix()}
	held, err := g.idx.SaveLifecycleProgress(ctx, r.lease, r.p, g.nowUnix(), 0)
	if err == nil && !held {
		return errLeaseGone
	}
	return err
}

// save records progress and renews the lease.
func (r *passRun) save(ctx context.Context) error {
	now := r.g.nowUnix()
	until := now + int64(lifecycleLeaseTTL.Seconds())
	held, err := r.g.idx.SaveLifecycleProgress(ctx, r.lease, r.p, now, until)
	if err != nil {
		return err
	}
	if !held {
		return errLeaseGone
	}
	r.until = until
	return nil
}

// beforeAction paces actions and renews the lease when half of it is gone.
func (r *passRun) beforeAction(ctx context.Context) error {
	if err := r.g.lc.pace.wait(ctx); err != nil {
		return err
	}
	if r.until-r.g.nowUnix() < int64(lifecycleLeaseTTL.Seconds())/2 {
		return r.save(ctx)
	}
	return nil
}

// objects expires the bucket's current objects that are due, after
// r.p.NextKey.
func (r *passRun) objects(ctx context.Context) error {
	g := r.g
	if r.versioning != index.Unversioned {
		if !lifecycle.ExpiresVersions(r.rules) {
			return nil
		}
		return r.versions(ctx, g.lc.versions)
	}
	if !lifecycle.ExpiresCurrent(r.rules) {
		return nil
	}
	for {
		rows, err := g.idx.ExpiryScan(ctx, r.lease.Bucket, r.p.NextKey, g.lc.batch)
		if err != nil {
			return err
		}
		for _, row := range rows {
			r.stats.Examined++
			o := lifecycle.Object{Key: row.Key, Size: row.Size, ModTime: time.UnixMilli(row.MTime), Tags: lcTags(row.Tags)}
			if d := lifecycle.Evaluate(r.rules, o, g.cfg.Now()); d.Action == lifecycle.Expire {
				if err := r.beforeAction(ctx); err != nil {
					return err
				}
				done, err := g.idx.ExpireObject(ctx, r.lease, r.appid, row.Key, row.Version, g.nowUnix(), g.gcDue())
				if err != nil {
					return err
				}
				if done {
					r.stats.Expired++
					r.stats.Bytes += row.Size
					g.cfg.Metrics.lifecycleExpired(row.Size)
					g.log.Debug("gateway: lifecycle: expired", "bucket", r.lease.Bucket, "key", row.Key, "rule", d.Rule)
					if g.lc.hook != nil {
						g.lc.hook("expired", row.Key)
					}
				}
			}
		}
		if len(rows) == 0 {
			return nil
		}
		r.p.NextKey = rows[len(rows)-1].Key
		if err := r.save(ctx); err != nil {
			return err
		}
		if len(rows) < g.lc.batch {
			return nil
		}
	}
}

// versions applies every rule to a versioned bucket's versions (see
// lifecycleVersions), key by key after r.p.NextKey: Expiration puts a
// delete marker on a current object (in a Suspended bucket the null
// version goes), NoncurrentVersionExpiration deletes noncurrent versions,
// ExpiredObjectDeleteMarker deletes a delete marker alone on its key.
// Object lock keeps a version from deletion: it is counted, and left.
func (r *passRun) versions(ctx context.Context, v lifecycleVersions) error {
	g := r.g
	for {
		vs, more, err := v.ScanVersions(ctx, r.lease.Bucket, r.p.NextKey, g.lc.batch)
		if err != nil {
			return err
		}
		for _, ver := range vs {
			r.stats.Examined++
			d := lifecycle.Evaluate(r.rules, ver.Object, g.cfg.Now())
			if d.Action == lifecycle.None {
				continue
			}
			if err := r.beforeAction(ctx); err != nil {
				return err
			}
			var done, locked bool
			freed := ver.Size // bytes whose data goes
			if d.Action == lifecycle.Expire {
				done, locked, err = v.AddDeleteMarker(ctx, r.lease, r.appid, ver, r.versioning, g.cfg.Now(), g.gcDue())
				if r.versioning == index.VersioningEnabled || ver.VersionID != index.NullVersion {
					freed = 0 // kept as a noncurrent version
				}
			} else {
				done, locked, err = v.DeleteVersion(ctx, r.lease, r.appid, ver, g.cfg.Now(), g.gcDue())
			}
			if err != nil {
				return err
			}
			if locked {
				r.stats.Locked++
				g.cfg.Metrics.lifecycleLocked()
				g.log.Debug("gateway: lifecycle: kept by object lock", "bucket", r.lease.Bucket, "key", ver.Key, "version", ver.VersionID, "rule", d.Rule)
				continue
			}
			if done {
				r.stats.Expired++
				r.stats.Bytes += freed
				g.cfg.Metrics.lifecycleExpired(freed)
				g.log.Debug("gateway: lifecycle: expired", "bucket", r.lease.Bucket, "key", ver.Key, "version", ver.VersionID, "action", d.Action, "rule", d.Rule)
				if g.lc.hook != nil {
					g.lc.hook("expired", ver.Key)
				}
			}
		}
		if len(vs) == 0 {
			return nil
		}
		r.p.NextKey, r.p.NextUpload = vs[len(vs)-1].Key, ""
		if err := r.save(ctx); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// uploads aborts the bucket's incomplete multipart uploads that are due,
// after (r.p.NextKey, r.p.NextUpload).
func (r *passRun) uploads(ctx context.Context) error {
	g := r.g
	if !lifecycle.AbortsUploads(r.rules) {
		return nil
	}
	for {
		us, err := g.idx.Uploads(ctx, r.lease.Bucket, r.p.NextKey, r.p.NextUpload, g.lc.batch)
		if err != nil {
			return err
		}
		for _, u := range us {
			r.stats.Examined++
			due, rule := lifecycle.AbortDue(r.rules, u.Key, u.Initiated, g.cfg.Now())
			if !due {
				continue
			}
			if err := r.beforeAction(ctx); err != nil {
				return err
			}
			done, err := g.idx.ExpireUpload(ctx, r.lease, r.appid, u.Key, u.ID, g.nowUnix(), g.gcDue())
			if err != nil {
				return err
			}
			if done {
				r.stats.Aborted++
				g.cfg.Metrics.lifecycleAborted()
				g.log.Debug("gateway: lifecycle: aborted upload", "bucket", r.lease.Bucket, "key", u.Key, "upload", u.ID, "rule", rule)
				if g.lc.hook != nil {
					g.lc.hook("aborted", u.Key)
				}
			}
		}
		if len(us) == 0 {
			return nil
		}
		r.p.NextKey, r.p.NextUpload = us[len(us)-1].Key, us[len(us)-1].ID
		if err := r.save(ctx); err != nil {
			return err
		}
		if len(us) < g.lc.batch {
			return nil
		}
	}
}

func lcTags(ts []index.Tag) []lifecycle.Tag {
	if len(ts) == 0 {
		return nil
	}
	out := make([]lifecycle.Tag, len(ts))
	for i, t := range ts {
		out[i] = lifecycle.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// lcPacer spaces actions at most rate per second, on the wall clock.
type lcPacer struct {
	rate  float64
	start time.Time
	n     int64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newLCPacer(rate float64) *lcPacer {
	return &lcPacer{rate: rate, now: time.Now, sleep: sleepCtx}
}

// wait returns when one more action keeps the pace: the n-th action since
// the lcPacer started (or last fell idle) waits until n/rate seconds after
// the start.
func (p *lcPacer) wait(ctx context.Context) error {
	now := p.now()
	want := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	if p.n == 0 || now.Sub(want) > time.Second {
		// First action, or the lcPacer was idle: start counting afresh,
		// so that idle time buys no burst.
		p.start, p.n = now, 0
		want = now
	}
	p.n++
	if d := want.Sub(now); d > 0 {
		return p.sleep(ctx, d)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
