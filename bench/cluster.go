package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/internal/tnvtls/tnvtlstest"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/proto"
)

// proc is a server process the bench started; it is killed at the end.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(name, logDir string, env []string, bin string, args ...string) (*proc, error) {
	lf := filepath.Join(logDir, name+".log")
	f, err := os.Create(lf)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: lf, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListen(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited; see %s", p.name, p.log)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s not listening after %v; see %s", p.name, addr, timeout, p.log)
}

// System is one S3 endpoint under test and the processes behind it.
type System struct {
	Key      string `json:"key"`
	Label    string `json:"label"`
	Copies   int    `json:"copies"` // copies of each byte written to disk
	Endpoint string `json:"-"`
	AK, SK   string `json:"-"`
	// Processes is what the RSS column sums: the PIDs of every process of
	// the system (rss.go). OnMariaDB: MariaDB's RSS is reported beside.
	Processes int  `json:"processes"`
	OnMariaDB bool `json:"on_mariadb,omitempty"`
	// SSERefused: the SSE modes the system answered with an error (MinIO:
	// SSE-C over plain HTTP, SSE-S3 without a KMS), with its answer.
	SSERefused map[string]string `json:"sse_refused,omitempty"`
	mem        memory
	// metrics are the system's Prometheus endpoints (phases.go); none for
	// MinIO. pprof maps a role to its pprof address.
	metrics []metricsEndpoint
	pprof   map[string]string
	procs   []*proc
	cleanup []func()
}

// findProcesses fills mem from the processes started, once the system is
// up.
func (s *System) findProcesses() {
	var roots []int
	for _, p := range s.procs {
		roots = append(roots, p.pid())
	}
	s.mem.pids = processTree(roots)
	s.Processes = len(s.mem.pids)
	if s.OnMariaDB {
		s.mem.db = findProcess("mariadbd", "mysqld")
	}
}

func (s *System) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	for _, f := range s.cleanup {
		f()
	}
}

const benchAK, benchSK = "benchaccesskey", "benchsecretkey1234567890"

// gcArgs make a gateway collect replaced blobs at once (no grace for GETs
// in flight, which the bench does not have on the keys it overwrites) and
// look for them every 100 ms, so that an overwrite cell can wait for its
// collection to finish (drive).
var gcArgs = []string{"--gc-delay", "1ms", "--gc-interval", "100ms"}

// metricsToken opens tnv up's /_tnv/metrics to the bench.
const metricsToken = "bench-metrics-token"

// waitS3 waits until the endpoint creates the bench bucket.
func waitS3(s *System, timeout time.Duration) error {
	c := newS3(s.Endpoint, s.AK, s.SK)
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		for _, p := range s.procs {
			if p.exited() {
				return fmt.Errorf("%s exited; see %s", p.name, p.log)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		if err == nil {
			// and one object round trip
			if err = put(ctx, c, "warmup", 1024); err == nil {
				_, _, err = get(ctx, c, "warmup", "", make([]byte, 4096))
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("%s: S3 endpoint not ready after %v: %v", s.Label, timeout, err)
}

// startUp runs `tnv up` on SQLite.
func startUp(bin, dataDir, logDir string) (*System, error) {
	s := &System{Key: "up", Label: "tnv up (SQLite, 2x2 mirrored)", Copies: 2, AK: benchAK, SK: benchSK,
		pprof: map[string]string{"up": freeAddr()}}
	addr := freeAddr()
	s.Endpoint = "http://" + addr
	s.metrics = []metricsEndpoint{{url: s.Endpoint + "/_tnv/metrics", bearer: metricsToken}}
	p, err := startProc("tnv-up", logDir, []string{"TNV_ACCESS_KEY=" + benchAK, "TNV_SECRET_KEY=" + benchSK,
		"TNV_PPROF_LISTEN=" + s.pprof["up"], "TNV_LOG_LEVEL=warn", "TNV_METRICS_TOKEN=" + metricsToken},
		bin, append([]string{"up", "--data", filepath.Join(dataDir, "up"), "--s3-addr", addr}, gcArgs...)...)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	s.cleanup = append(s.cleanup, func() { retire(filepath.Join(dataDir, "up")) })
	if err := waitS3(s, 90*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// Links says how the gateway of a multi-process cluster reaches its storage
// nodes' bytes.
type Links int

const (
	// LocalReads: through the nodes' --local-socket and sendfile (the
	// gateway shares their machine), TNV TCP for the rest.
	LocalReads Links = iota
	// PlainTCP: every byte over TNV TCP (a gateway on another machine).
	PlainTCP
	// MutualTLS: every byte over TNV on mutual TLS (an untrusted network).
	MutualTLS
)

// startMulti runs ID server, tracker, groups×members storage nodes and a
// gateway as separate processes on a fresh MariaDB database.
func startMulti(bin, dataDir, logDir, mysqlBase string, groups, members int, links Links) (*System, error) {
	key := "mirror"
	label := fmt.Sprintf("processes (MariaDB, %dx%d mirrored)", groups, members)
	if members == 1 {
		key, label = "single", fmt.Sprintf("processes (MariaDB, %dx1 single)", groups)
	}
	switch links {
	case PlainTCP:
		key, label = key+"-tcp", label[:len(label)-1]+", TNV over TCP)"
	case MutualTLS:
		key, label = key+"-tls", label[:len(label)-1]+", TNV over mutual TLS)"
	}
	s := &System{Key: key, Label: label, Copies: members, AK: benchAK, SK: benchSK, pprof: map[string]string{}, OnMariaDB: true}
	dbName := fmt.Sprintf("tnvbench_%s_%d", strings.ReplaceAll(key, "-", "_"), time.Now().Unix())
	admin, err := metadb.Open(mysqlBase)
	if err != nil {
		return nil, fmt.Errorf("MariaDB (%s): %w", metadb.Redact(mysqlBase), err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName); err != nil {
		admin.Close()
		return nil, err
	}
	s.cleanup = append(s.cleanup, func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+dbName)
		admin.Close()
	})
	dsn := withDatabase(mysqlBase, dbName)
	dir := filepath.Join(dataDir, key)
	s.cleanup = append(s.cleanup, func() { retire(dir) })
	env := []string{"TNV_LOG_LEVEL=warn"}
	if err := clusterSecretEnv(); err != nil {
		return nil, err
	}
	// The gateway's SSE-S3 master key (tnv up makes its own, DATA/kms.key).
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kmsKey := filepath.Join(dir, "kms.key")
	if err := writeMasterKey(kmsKey); err != nil {
		return nil, err
	}
	var gwEnv []string
	if links == MutualTLS {
		// One certificate for every server (all on 127.0.0.1), one for
		// the gateway, from a CA made for this run.
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
			return nil, err
		}
		ca, err := tnvtlstest.New(filepath.Join(dir, "tls"), "bench")
		if err != nil {
			return nil, err
		}
		node, err := ca.IssueFiles("node", "127.0.0.1")
		if err != nil {
			return nil, err
		}
		gw, err := ca.IssueFiles("gateway")
		if err != nil {
			return nil, err
		}
		env = append(env, tnvtlstest.Env("TNV_", node)...)
		gwEnv = tnvtlstest.Env("TNV_TNV_", gw)
	}
	fail := func(err error) (*System, error) { s.stop(); return nil, err }
	start := func(name, addr string, extra []string, args ...string) (*proc, error) {
		p, err := startProc(key+"-"+name, logDir, append(env, extra...), bin, args...)
		if err != nil {
			return nil, err
		}
		s.procs = append(s.procs, p)
		return p, waitListen(p, addr, 30*time.Second)
	}
	ida, tra := freeAddr(), freeAddr()
	if _, err := start("idserver", ida, nil, "idserver", "--listen", ida, "--db", dsn); err != nil {
		return fail(err)
	}
	if _, err := start("tracker", tra, nil, "tracker", "--listen", tra, "--db", dsn, "--offline-after", "30s"); err != nil {
		return fail(err)
	}
	var storage []string
	for g := 1; g <= groups; g++ {
		for m := 1; m <= members; m++ {
			a, metrics := freeAddr(), freeAddr()
			s.metrics = append(s.metrics, metricsEndpoint{url: "http://" + metrics + "/metrics"})
			name := fmt.Sprintf("storage-g%d-%d", g, m)
			var extra []string
			if g == 1 && m == 1 {
				s.pprof["storage"] = freeAddr()
				extra = []string{"TNV_PPROF_LISTEN=" + s.pprof["storage"]}
			}
			// Each node offers a local socket: the gateway, on the same
			// machine, opens its files through it (--local-reads).
			args := []string{"storage", "--listen", a, "--group", fmt.Sprintf("g%d", g),
				"--trackers", tra, "--idservers", ida, "--store", filepath.Join(dir, name), "--db", dsn, "--beat", "1s",
				"--metrics-listen", metrics}
			if links == LocalReads {
				sock := filepath.Join(dir, name+".sock")
				if len(sock) > 100 { // a socket path has at most 107 bytes
					sock = filepath.Join(os.TempDir(), fmt.Sprintf("tnv-bench-%d-%s.sock", os.Getpid(), name))
				}
				args = append(args, "--local-socket", sock)
			}
			if _, err := start(name, a, extra, args...); err != nil {
				return fail(err)
			}
			storage = append(storage, a)
		}
	}
	if err := waitActive(bin, env, tra, storage, 60*time.Second); err != nil {
		return fail(err)
	}
	gwa, gwMetrics := freeAddr(), freeAddr()
	s.metrics = append(s.metrics, metricsEndpoint{url: "http://" + gwMetrics + "/metrics"})
	gwArgs := append([]string{"gateway", "--listen", gwa, "--trackers", tra, "--db", dsn, "--metrics-listen", gwMetrics, "--kms-key-file", kmsKey}, gcArgs...)
	if links != LocalReads {
		// Every byte over TNV, as from a gateway on another machine:
		// the nodes offer no socket, and the gateway does not look for one.
		gwArgs = append(gwArgs, "--local-reads=false")
	}
	s.pprof["gateway"] = freeAddr()
	// The gateway's environment must not carry the servers' TNV_TLS_*:
	// for it they mean HTTPS on the S3 port.
	env = []string{"TNV_LOG_LEVEL=warn"}
	_, err = start("gateway", gwa, append([]string{"TNV_ACCESS_KEY=" + benchAK, "TNV_SECRET_KEY=" + benchSK,
		"TNV_PPROF_LISTEN=" + s.pprof["gateway"]}, gwEnv...), gwArgs...)
	if err != nil {
		return fail(err)
	}
	s.Endpoint = "http://" + gwa
	if err := waitS3(s, 60*time.Second); err != nil {
		return fail(err)
	}
	return s, nil
}

// waitActive waits until the tracker shows every storage node ACTIVE and in
// sync (so mirrored uploads really go to every member).
func waitActive(bin string, env []string, tracker string, nodes []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var text string
	for time.Now().Before(deadline) {
		cmd := exec.Command(bin, "client", "--trackers", tracker, "groups")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		text = string(out)
		if err == nil {
			ok := 0
			groups := proto.ParseGroups(text)
			for _, n := range nodes {
				if st, found := proto.FindNode(groups, n); found && st.Readable() {
					ok++
				}
			}
			if ok == len(nodes) {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("storage nodes not ACTIVE after %v:\n%s", timeout, text)
}

// startMinIO runs a single-node, single-drive MinIO on dataDir.
func startMinIO(bin, dataDir, logDir string) (*System, error) {
	s := &System{Key: "minio", Label: "MinIO (single node, 1 drive)", Copies: 1, AK: benchAK, SK: benchSK}
	addr, console := freeAddr(), freeAddr()
	s.Endpoint = "http://" + addr
	dir := filepath.Join(dataDir, "minio")
	// Not MINIO_CI_CD: MinIO as it runs in production.
	p, err := startProc("minio", logDir, []string{"MINIO_ROOT_USER=" + benchAK, "MINIO_ROOT_PASSWORD=" + benchSK,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off"},
		bin, "server", "--quiet", "--address", addr, "--console-address", console, dir)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	s.cleanup = append(s.cleanup, func() { retire(dir) })
	if err := waitHTTP(s.Endpoint+"/minio/health/live", 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	if err := waitS3(s, 60*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		var r *http.Response
		if r, err = http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", r.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s: %v", url, err)
}

// clusterSecretEnv gives the bench's processes — servers, gateways and the
// `tnv client` it runs — one cluster secret, through this process's
// environment, which they inherit: TNV_CLUSTER_SECRET when set, else a
// random one for this run.
func clusterSecretEnv() error {
	if os.Getenv("TNV_CLUSTER_SECRET") != "" {
		return nil
	}
	b := make([]byte, 32)
	if _, err := crand.Read(b); err != nil {
		return err
	}
	return os.Setenv("TNV_CLUSTER_SECRET", hex.EncodeToString(b))
}

// retired is where a stopped system's data directory goes (retire); the
// run removes it at its end.
const retired = ".retired"

var retiredN atomic.Int64

// retire puts a stopped system's data out of the way without freeing its
// small files' inodes until the run ends. On ext4 without a journal (this
// machine's disk) the kernel will not reuse an inode freed in the last
// 60-300 s, and finds a free one by walking past each such inode of the
// directory's block group: after a system's tens of thousands of small
// files were removed, the next system's data directory (placed in the
// group just emptied) paid ~1 ms of kernel CPU per file created, against
// 15 µs elsewhere (measured with O_TMPFILE opens, 2026-12-02). Whichever
// system ran after a removal was slowed by its predecessor's data. So the
// files of 256 KiB and more (the space, and few inodes) are removed now and
// the rest is moved aside.
func retire(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Size() >= 256<<10 {
				os.Remove(p)
			}
		}
		return nil
	})
	to := filepath.Join(filepath.Dir(dir), retired)
	os.MkdirAll(to, 0o755)
	if err := os.Rename(dir, filepath.Join(to, fmt.Sprintf("%s-%d", filepath.Base(dir), retiredN.Add(1)))); err != nil {
		os.RemoveAll(dir)
	}
}

// withDatabase is the DSN base with its database replaced by name, its
// parameters kept (a ?socket= path holds slashes too).
func withDatabase(base, name string) string {
	b, query, _ := strings.Cut(base, "?")
	dsn := b[:strings.LastIndex(b, "/")] + "/" + name
	if query != "" {
		dsn += "?" + query
	}
	return dsn
}
