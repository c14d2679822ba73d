package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tnv-s3/tnv/gateway/status"
	"github.com/tnv-s3/tnv/internal/rpcmetrics"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
	"github.com/tnv-s3/tnv/storagenode"
)

func init() {
	register(command{name: "storage", summary: "run a storage node (files on disk, mirrored in its group); also 'storage scrub|stat ADDR'", run: runStorage})
}

func runStorage(ctx context.Context, args []string) error {
	setProcs() // blocking disk syscalls: procs.go
	if len(args) > 0 {
		switch args[0] {
		case "scrub":
			return runStorageScrub(ctx, args[1:])
		case "stat":
			return runStorageStat(ctx, args[1:])
		}
	}
	f := newFlags("storage", "--listen ADDR --group NAME --trackers A,B --idservers A,B --store DIR[,DIR] --db DSN [flags]\n"+
		"       tnv storage scrub [--repair] ADDR   (check every file of a running node against its CRC32C)\n"+
		"       tnv storage stat ADDR               (a running node's sync state)")
	addr := f.String("listen", ":23000", "address to listen on")
	group := f.String("group", "", "the node's group")
	trackers := f.String("trackers", "", "tracker addresses, comma-separated")
	idservers := f.String("idservers", "", "ID server addresses, comma-separated")
	stores := f.String("store", "", "store directories, comma-separated (created if missing)")
	dsn := f.String("db", "", "metadata database: mysql://user:pass@host:port/db[?socket=PATH] or sqlite:PATH (shared by the group's members)")
	beat := f.Duration("beat", 10*time.Second, "BEAT interval")
	advertise := f.String("advertise", "", "host (IP) clients and members reach this node at (default: the listen IP, or the address towards the first tracker)")
	retention := f.Duration("retention", 24*time.Hour, "deleted files are purged after this")
	purge := f.Duration("purge-interval", 0, "how often to purge (default min(retention/4, 10m))")
	reserve := f.Int64("reserve", 0, "bytes to leave free on each store's file system")
	replicaTimeout := f.Duration("replica-timeout", 5*time.Second, "a member making no progress this long is skipped for an upload (it catches up later)")
	scrubEvery := f.Duration("scrub-every", storagenode.DefaultScrubEvery, "verify every copy against its CRC32C (and repair a bad one from a member) at least this often, in the background; reads verify a copy last verified longer ago (0 = no background scrub)")
	scrubRate := f.Int64("scrub-rate", storagenode.DefaultScrubRate, "bytes per second the background scrub reads at most")
	healthEvery := f.Duration("health-interval", 2*time.Second, "how often each store is probed (a small file written and fsynced) to learn whether it takes writes")
	poolIdle := f.Duration("pool-idle-timeout", 30*time.Second, "idle connections to ID servers, trackers and peers are closed after this; keep it below their --idle-timeout")
	localSocket := f.String("local-socket", "", "Unix socket (mode 0600) on which a gateway of this machine and user opens this node's files directly and sends them with sendfile, instead of receiving them over TCP")
	rowCache := f.Int("row-cache", storagenode.DefaultRowCache, "rows of recently read files kept in memory for the reads a gateway vouches for (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE), which then need no database query; about 0.5 KiB each; 0 or less = none")
	metrics := f.metricsFlag()
	link := f.linkFlags("", true)
	if err := f.parse(args, "listen", "group", "trackers", "idservers", "store", "db"); err != nil {
		return err
	}
	log, err := f.logger()
	if err != nil {
		return err
	}
	if *poolIdle <= 0 {
		return fmt.Errorf("--pool-idle-timeout must be positive, got %v", *poolIdle)
	}
	auth, tc, err := link.server()
	if err != nil {
		return err
	}
	// A node on TLS dials its trackers, ID servers and members on TLS
	// too, presenting its own certificate to those that demand one.
	var peerTLS *tls.Config
	if tc != nil {
		if peerTLS, err = link.tls.client(); err != nil {
			return err
		}
	}
	db, err := metadb.Open(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	reg := newRegistry()
	srv, err := storagenode.New(storagenode.Config{
		Group: *group, Stores: list(*stores), Trackers: list(*trackers), IDServers: list(*idservers), DB: db,
		Advertise: *advertise, Beat: *beat, Retention: *retention, PurgeInterval: *purge, Reserve: *reserve,
		ReplicaTimeout: *replicaTimeout, ScrubEvery: scrubFlag(*scrubEvery), ScrubRate: *scrubRate, HealthInterval: *healthEvery,
		PoolIdleTimeout: *poolIdle,
		LocalSocket:     *localSocket, RowCache: cmp.Or(max(*rowCache, 0), -1), Logger: log, Metrics: rpcmetrics.New("storage", reg), Auth: auth,
		TLS: tc, PeerTLS: peerTLS,
	})
	if err != nil {
		return err
	}
	reg.MustRegister(storageCollector{srv})
	return runServer(ctx, log, "storage", srv, *addr, *metrics, reg,
		"group", *group, "db", metadb.Redact(*dsn), "auth", auth.String(), "tls", onOff(tc))
}

// scrubFlag maps --scrub-every 0 (off) onto the Config's negative.
func scrubFlag(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// storageCollector exports a storage node's capacity and sync state.
type storageCollector struct{ srv *storagenode.Server }

var (
	descStoreTotal = prometheus.NewDesc("tnv_storage_capacity_bytes", "Capacity of the node's stores.", nil, nil)
	descStoreFree  = prometheus.NewDesc("tnv_storage_free_bytes", "Free bytes on the node's stores.", nil, nil)
	descStoreLag   = prometheus.NewDesc("tnv_storage_replication_lag", "Group log entries this node has yet to apply.", nil, nil)
	descStoreSync  = prometheus.NewDesc("tnv_storage_sync_state", "1 for the node's sync state (ACTIVE, WAIT_SYNC, SYNCING).", []string{"sync"}, nil)
	descStoreWrite = prometheus.NewDesc("tnv_storage_health", "1 for the node's write health (OK, READONLY, FULL, SICK).", []string{"health"}, nil)
	descUnderRepl  = prometheus.NewDesc("tnv_storage_underreplicated_writes_total",
		"Uploads this node acknowledged with fewer copies than its group has members (the others copy them from the group log).", nil, nil)
	descRowCache = prometheus.NewDesc("tnv_row_cache_reads_total",
		"Live reads (DOWNLOAD_LIVE, LOCAL_OPEN_LIVE) the node answered from its row cache (hit) or with a database query (miss).", []string{"result"}, nil)
)

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descStoreTotal
	ch <- descStoreFree
	ch <- descStoreLag
	ch <- descStoreSync
	ch <- descStoreWrite
	ch <- descUnderRepl
	ch <- descRowCache
}

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stat()
	ch <- prometheus.MustNewConstMetric(descStoreTotal, prometheus.GaugeValue, float64(st.Total))
	ch <- prometheus.MustNewConstMetric(descStoreFree, prometheus.GaugeValue, float64(st.Free))
	ch <- prometheus.MustNewConstMetric(descStoreLag, prometheus.GaugeValue, float64(st.Lag))
	for _, s := range []string{"ACTIVE", "WAIT_SYNC", "SYNCING"} {
		v := 0.0
		if st.SyncState == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descStoreSync, prometheus.GaugeValue, v, s)
	}
	for _, h := range []string{"OK", "READONLY", "FULL", "SICK"} {
		v := 0.0
		if st.Health == h {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descStoreWrite, prometheus.GaugeValue, v, h)
	}
	ch <- prometheus.MustNewConstMetric(descUnderRepl, prometheus.CounterValue, float64(st.UnderReplicated))
	ch <- prometheus.MustNewConstMetric(descRowCache, prometheus.CounterValue, float64(st.RowCacheHits), "hit")
	ch <- prometheus.MustNewConstMetric(descRowCache, prometheus.CounterValue, float64(st.RowCacheMisses), "miss")
}

// adminRequest sends an admin command to a running node and prints the text
// it answers.
func adminRequest(ctx context.Context, dial dialFunc, addr string, cmd uint8, body []byte, timeout time.Duration) error {
	text, err := adminText(ctx, dial, addr, cmd, body, timeout)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(os.Stdout, text)
	return err
}

// adminText sends an admin command to a running node and returns the text
// it answers.
func adminText(ctx context.Context, dial dialFunc, addr string, cmd uint8, body []byte, timeout time.Duration) (string, error) {
	nc, err := dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	nc.SetDeadline(time.Now().Add(timeout))
	if err := proto.WriteFrame(nc, cmd, proto.StatusOK, body); err != nil {
		return "", err
	}
	_, b, err := proto.ReadReply(nc, proto.CmdStorageReply, proto.MaxTextReply)
	if err != nil {
		return "", err
	}
	return proto.DecodeText(b)
}

func runStorageScrub(ctx context.Context, args []string) error {
	f := newFlags("storage scrub", "[--repair] ADDR")
	repair := f.Bool("repair", false, "replace bad or missing copies by a healthy member's")
	timeout := f.Duration("timeout", 24*time.Hour, "give up after this long")
	link := f.linkFlags("", false)
	if err := f.parse(args); err != nil {
		return err
	}
	dial, err := link.dialer()
	if err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want the address of one storage node")
	}
	mode := byte(0)
	if *repair {
		mode = proto.ScrubRepair
	}
	// The scrub is one request; its progress comes from NODESTAT on a
	// second connection, a few times a second, on stderr when it changes.
	done := make(chan struct{})
	defer close(done)
	go scrubProgress(ctx, dial, f.Arg(0), done)
	return adminRequest(ctx, dial, f.Arg(0), proto.CmdStorageScrub, []byte{mode}, *timeout)
}

// scrubProgress prints the node's scrub progress until done is closed.
func scrubProgress(ctx context.Context, dial dialFunc, addr string, done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		text, err := adminText(ctx, dial, addr, proto.CmdStorageStat, nil, 5*time.Second)
		if err != nil {
			continue
		}
		var files, totalFiles, bytes, totalBytes int64
		for _, l := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(l, "scrub "); ok {
				fmt.Sscan(rest, &files, &totalFiles, &bytes, &totalBytes)
			}
		}
		if totalFiles == 0 {
			continue
		}
		line := fmt.Sprintf("scrub: %d of %d files, %s of %s (%d%%)", files, totalFiles,
			status.HumanBytes(bytes), status.HumanBytes(totalBytes), bytes*100/max(totalBytes, 1))
		if line != last {
			fmt.Fprintln(os.Stderr, line)
			last = line
		}
	}
}

func runStorageStat(ctx context.Context, args []string) error {
	f := newFlags("storage stat", "ADDR")
	link := f.linkFlags("", false)
	if err := f.parse(args); err != nil {
		return err
	}
	dial, err := link.dialer()
	if err != nil {
		return err
	}
	if f.NArg() != 1 {
		return fmt.Errorf("want the address of one storage node")
	}
	return adminRequest(ctx, dial, f.Arg(0), proto.CmdStorageStat, nil, 10*time.Second)
}
