package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
	"github.com/tnv-s3/tnv/proto"
)

// The frames of this file are hand-built (wire_test.go's helpers): what a
// peer without the cluster secret — a seed client, a scanner — sends.

// refused sends req on a new connection without the handshake and checks
// that the one reply is an EACCES error with replyCmd and that the server
// then closes the connection.
func refused(t *testing.T, name, addr string, replyCmd byte, req []byte) {
	t.Helper()
	w := dialWire(t, addr)
	cmd, st, body := w.roundTrip(req)
	if st != 0xFD || cmd != replyCmd || len(body) < 3 || int16(binary.BigEndian.Uint16(body)) != proto.EACCES {
		t.Fatalf("%s without the secret: reply cmd %d status %#x body %q, want %d/0xFD/EACCES", name, cmd, st, body, replyCmd)
	}
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := w.c.Read(make([]byte, 1)); n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("%s: connection not closed after the refusal: %d bytes, %v", name, n, err)
	}
}

// TestAuth_EveryCommandRefusedWithoutSecret: against real processes
// started with the cluster secret, no TNV command of a peer that does not
// prove it is served — and none had an effect.
func TestAuth_EveryCommandRefusedWithoutSecret(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	dir := t.TempDir()
	in, sum := writeRandom(t, dir, "in", 100<<10, 7)
	id := strings.TrimSpace(proctest.Run(t, client(c, "upload", "--appid", "app1", "--userid", "alice", in)...))
	node, trk, ids := c.Groups[0][0].Addr, c.Trackers[0].Addr, c.IDs[0].Addr
	ref := fileRefBytes("app1", "alice", id)
	host := field("127.0.0.1", 129)
	cases := []struct {
		name, addr string
		reply      byte
		req        []byte
	}{
		{"UPLOAD", node, 102, frame(70, fileRefBytes("app1", "alice", "rogue1"), i64(5), []byte("rogue"))},
		{"DOWNLOAD", node, 102, frame(72, ref, i64(0), i64(0))},
		{"FILESIZE", node, 102, frame(71, ref)},
		{"DELETE", node, 102, frame(73, ref)},
		{"REPLICATE", node, 102, frame(74, fileRefBytes("app1", "alice", "rogue2"), i64(1), field("127.0.0.1:1", 150), []byte("x"), []byte{0, 0, 0, 0})},
		{"REPLICATE_LINKED", node, 102, frame(83, fileRefBytes("app1", "alice", "rogue3"), i64(1), field("127.0.0.1:1", 150), []byte("x"), []byte{0, 0, 0, 0})},
		{"FETCH", node, 102, frame(76, ref, i64(0), i64(0))},
		{"NODESTAT", node, 102, frame(78)},
		{"JOIN", trk, 100, frame(10, field("2.0", 7), field("g1", 17), host, []byte{0x5d, 0xc0}, i64(1), i64(1))},
		{"BEAT", trk, 100, frame(11, field("g1", 17), host)},
		{"SADDRS", trk, 100, frame(12, ref)},
		{"GROUPS", trk, 100, frame(13)},
		{"MEMBERS", trk, 100, frame(14, field("g1", 17))},
		{"ID_GET", ids, 101, frame(40, []byte("app1/alice\x00"))},
		{"a forged AUTH_OK first", node, 102, frame(93, make([]byte, 32))},
	}
	for _, tc := range cases {
		refused(t, tc.name, tc.addr, tc.reply, tc.req)
	}
	// Nothing happened: the file is whole and undeleted, the rogue upload
	// and replica do not exist, no node listens at :23999.
	out := filepath.Join(dir, "out")
	proctest.Run(t, client(c, "download", "--appid", "app1", "--userid", "alice", "--fileid", id, "-o", out)...)
	if fileSHA(t, out) != sum {
		t.Fatal("file changed after refused requests")
	}
	for _, f := range []string{"rogue1", "rogue2", "rogue3"} {
		if _, err := proctest.RunErr(t, client(c, "filesize", "--appid", "app1", "--userid", "alice", "--fileid", f)...); err == nil {
			t.Fatalf("refused upload %s exists", f)
		}
	}
	text, err := c.GroupsText()
	if err != nil || strings.Count(text, "  node ") != 2 {
		t.Fatalf("GROUPS after a refused JOIN: %v\n%s", err, text)
	}
	// Every server logged the refusals, and none logged the secret.
	for _, p := range append(append(c.Members(), c.Trackers...), c.IDs...) {
		b, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(proctest.ClusterSecret)) {
			t.Fatalf("%s logged the cluster secret", p.Name)
		}
		if p != c.Groups[0][1] && !bytes.Contains(b, []byte("refused a connection")) {
			t.Fatalf("%s logged no refusal:\n%s", p.Name, b)
		}
	}
}

// TestAuth_RogueNodeNeverListedNeverReplicatedTo: a real storage node
// process with a wrong secret in the group's name is never listed by the
// tracker and never receives a replica of the uploads that follow.
func TestAuth_RogueNodeNeverListedNeverReplicatedTo(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	rogueStore := filepath.Join(t.TempDir(), "rogue-store")
	rogue := proctest.StartFree(t, []string{"TNV_CLUSTER_SECRET=rogue-guess-rogue-guess-rogue-guess-0000"}, "rogue", func(a string) []string {
		return []string{"storage", "--listen", a, "--group", "g1", "--trackers", c.TrackerList(),
			"--idservers", c.IDList(), "--store", rogueStore, "--db", dsn, "--beat", "200ms"}
	})
	dir := t.TempDir()
	for i := range 10 {
		in, _ := writeRandom(t, dir, "in", 10<<10, uint64(i))
		proctest.Run(t, client(c, "upload", "--appid", "app1", "--userid", "bob", in)...)
	}
	time.Sleep(2 * time.Second) // beats of the rogue (every 200 ms) had their chance
	text, err := c.GroupsText()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, rogue.Addr) || strings.Count(text, "  node ") != 2 {
		t.Fatalf("rogue %s listed:\n%s", rogue.Addr, text)
	}
	// Blobs live 4 directories deep (512-ary paths); the same count on a
	// real member shows the count sees them.
	if n := blobFiles(t, argAfter(c.Groups[0][0].Args, "--store")); n < 10 {
		t.Fatalf("member's store holds %d blobs, want >= 10", n)
	}
	if n := blobFiles(t, rogueStore); n != 0 {
		t.Fatalf("rogue store holds %d blobs", n)
	}
	b, _ := os.ReadFile(rogue.Log)
	if !bytes.Contains(b, []byte("authentication required")) {
		t.Fatalf("rogue's log shows no refusal:\n%s", b)
	}
}

// blobFiles counts the files at least 3 directories below dir.
func blobFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() && strings.Count(rel, string(filepath.Separator)) >= 3 {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// recordConn records the bytes a client writes.
type recordConn struct {
	net.Conn
	sent bytes.Buffer
}

func (r *recordConn) Write(p []byte) (int, error) { r.sent.Write(p); return r.Conn.Write(p) }

// TestAuth_ReplayAndWrongSecretRefused: an eavesdropper's copy of a real
// handshake and request does not open a second connection; a wrong secret
// does not either, through the tnv client as through a hand-run handshake.
func TestAuth_ReplayAndWrongSecretRefused(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 1})
	trk := c.Trackers[0].Addr
	key, err := tnvauth.NewKey([]byte(proctest.ClusterSecret))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", trk)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordConn{Conn: nc}
	if err := tnvauth.Client(rec, key); err != nil {
		t.Fatalf("handshake with the right secret: %v", err)
	}
	rec.Write(frame(13))
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := proto.ReadReply(nc, proto.CmdTrackerReply, proto.MaxTextReply); err != nil {
		t.Fatalf("GROUPS after the handshake: %v", err)
	}
	nc.Close()

	w := dialWire(t, trk)
	if _, err := w.c.Write(rec.sent.Bytes()); err != nil {
		t.Fatal(err)
	}
	if h, _, err := proto.ReadReply(w.c, proto.CmdAuthChallenge, 100); err != nil || h.Status != 0 {
		t.Fatalf("replay: first reply %d/%d %v, want a fresh AUTH_CHALLENGE", h.Cmd, h.Status, err)
	}
	h, _, err := proto.ReadReply(w.c, proto.CmdAuthOK, 100)
	var e *proto.ErrorReply
	if h.Cmd != proto.CmdAuthOK || !errors.As(err, &e) || e.Errno != proto.EACCES {
		t.Fatalf("replayed proof: reply %d %v, want AUTH_OK EACCES", h.Cmd, err)
	}
	w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := w.c.Read(make([]byte, 1)); n != 0 {
		t.Fatal("replayed GROUPS answered")
	}

	wrong := "wrong-secret-wrong-secret-wrong-secret-00"
	_, err = proctest.RunErr(t, "client", "--trackers", trk, "--cluster-secret", wrong, "groups")
	if err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("tnv client with a wrong secret: %v", err)
	}
	wk, _ := tnvauth.NewKey([]byte(wrong))
	if _, err := tnvauth.Dialer(wk, time.Second)(context.Background(), c.Groups[0][0].Addr); err == nil {
		t.Fatal("storage node accepted a wrong secret")
	}
	// A client without any secret (the seed's protocol) is refused as well.
	_, err = proctest.RunErr(t, "client", "--trackers", trk, "--open-protocol", "groups")
	if err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("tnv client without a secret: %v", err)
	}
}

// TestAuth_ClientAndGatewayWorkWithSecret: with the secret from a file, the
// tnv client and a gateway process do their work; a secret that is too
// short is refused with a clear error.
func TestAuth_ClientAndGatewayWorkWithSecret(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	c := proctest.StartCluster(t, proctest.Topology{DB: dsn, Groups: 1, Members: 2})
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	os.WriteFile(sf, []byte(proctest.ClusterSecret+"\n"), 0o600)
	in, sum := writeRandom(t, dir, "in", 300<<10, 3)
	// The command line's file replaces the environment's secret: a wrong
	// one in the environment does not matter.
	run := func(args ...string) string {
		cmd := exec.Command(proctest.Binary(t), append([]string{"client", "--trackers", c.TrackerList(), "--cluster-secret-file", sf}, args...)...)
		cmd.Env = append(os.Environ(), "TNV_CLUSTER_SECRET=not-this-one-not-this-one-not-this-one")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tnv client %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	id := run("upload", "--appid", "app1", "--userid", "carol", in)
	out := filepath.Join(dir, "out")
	run("download", "--appid", "app1", "--userid", "carol", "--fileid", id, "-o", out)
	if fileSHA(t, out) != sum {
		t.Fatal("download differs")
	}

	gw := startGateway(t, c, "authgwkey", "authgwsecret-0123")
	s3c := s3Client("http://"+gw.Addr, "authgwkey", "authgwsecret-0123")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("authb")}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("tnv"), 100000)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("authb"), Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	got, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("authb"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(b, body) {
		t.Fatal("gateway GET differs")
	}

	_, err = proctest.RunErr(t, "client", "--trackers", c.TrackerList(), "--cluster-secret", "short", "groups")
	if err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("short secret: %v", err)
	}
}

// TestAuth_ServerWithoutSecretRefusesToStart: tracker, ID server and
// storage node refuse to start with neither a secret nor --open-protocol,
// and with a short secret; --open-protocol starts them.
func TestAuth_ServerWithoutSecretRefusesToStart(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "meta.db")
	store := filepath.Join(t.TempDir(), "store")
	roles := map[string][]string{
		"tracker":  {"tracker", "--listen", "127.0.0.1:0", "--db", dsn},
		"idserver": {"idserver", "--listen", "127.0.0.1:0", "--db", dsn},
		"storage": {"storage", "--listen", "127.0.0.1:0", "--group", "g1", "--trackers", "127.0.0.1:1",
			"--idservers", "127.0.0.1:1", "--store", store, "--db", dsn},
	}
	for role, args := range roles {
		for _, tc := range []struct{ env, want string }{
			{"TNV_CLUSTER_SECRET=", "no cluster secret"},
			{"TNV_CLUSTER_SECRET=0123456789", "at least 32 bytes"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, proctest.Binary(t), args...)
			cmd.Env = append(os.Environ(), tc.env)
			out, err := cmd.CombinedOutput()
			cancel()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("%s with %s: %v, output %q; want a refusal saying %q", role, tc.env, err, out, tc.want)
			}
		}
	}
	// With --open-protocol the tracker serves the seed's protocol.
	p := proctest.StartFree(t, []string{"TNV_CLUSTER_SECRET="}, "open-tracker", func(a string) []string {
		return []string{"tracker", "--listen", a, "--db", dsn, "--open-protocol"}
	})
	if cmd, st, _ := dialWire(t, p.Addr).roundTrip(frame(13)); cmd != 100 || st != 0 {
		t.Fatalf("open tracker: GROUPS reply %d/%d", cmd, st)
	}
}
