package tnvtls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/connpool"
	"github.com/tnv-s3/tnv/internal/frameserver"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/internal/tnvtls"
	"github.com/tnv-s3/tnv/internal/tnvtls/tnvtlstest"
	"github.com/tnv-s3/tnv/proto"
)

func testKey(t *testing.T) *tnvauth.Key {
	k, err := tnvauth.NewKey([]byte("tnvtls-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serve runs a frameserver.Set on TLS (srv) with the cluster handshake of k
// that answers GROUPS with "ok".
func serve(t *testing.T, srv tnvtls.Files, k *tnvauth.Key) string {
	t.Helper()
	tc, err := srv.Server()
	if err != nil {
		t.Fatal(err)
	}
	s := &frameserver.Set{Auth: k, AuthReply: proto.CmdTrackerReply, TLS: tc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln, func(c *frameserver.Conn) {
		c.Requests(time.Minute, time.Minute, proto.CmdTrackerReply, s.Log, func(h proto.Header) bool {
			return c.Discard(h) && c.Reply(proto.CmdTrackerReply, time.Second, nil, []byte("ok\x00"))
		})
	})
	t.Cleanup(func() { s.Close(time.Second) })
	return ln.Addr().String()
}

func dial(t *testing.T, cli tnvtls.Files, k *tnvauth.Key, addr string) (net.Conn, error) {
	t.Helper()
	tc, err := cli.Client()
	if err != nil {
		t.Fatal(err)
	}
	return tnvtls.Dialer(tc, k, 5*time.Second)(context.Background(), addr)
}

func ask(nc net.Conn) error {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := proto.WriteFrame(nc, proto.CmdTrackerGroups, proto.StatusOK, nil); err != nil {
		return err
	}
	_, _, err := proto.ReadReply(nc, proto.CmdTrackerReply, 100)
	return err
}

// Mutual TLS and the cluster handshake inside it: a client with a
// certificate of the CA and the secret is served, on a *tls.Conn.
func TestDialer_MutualTLSThenClusterHandshake(t *testing.T) {
	ca := tnvtlstest.NewCA(t, "cluster")
	k := testKey(t)
	addr := serve(t, ca.Issue(t, "server", "127.0.0.1"), k)
	nc, err := dial(t, ca.Issue(t, "client"), k, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, ok := nc.(*tls.Conn); !ok {
		t.Fatalf("dialed a %T, want a *tls.Conn", nc)
	}
	if err := ask(nc); err != nil {
		t.Fatalf("GROUPS on TLS: %v", err)
	}
	// The secret is still checked inside TLS.
	other, err := tnvauth.NewKey([]byte("another-secret-of-32-bytes-at-least-yes"))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := dial(t, ca.Issue(t, "client2"), other, addr); err == nil {
		nc.Close()
		t.Fatal("a client with the wrong cluster secret was admitted over TLS")
	}
}

// Every way of not holding a certificate of the cluster's CA is refused.
func TestDialer_RefusedWithoutTheCA(t *testing.T) {
	ca := tnvtlstest.NewCA(t, "cluster")
	rogue := tnvtlstest.NewCA(t, "rogue")
	k := testKey(t)
	addr := serve(t, ca.Issue(t, "server", "127.0.0.1"), k)
	served := func(cli tnvtls.Files) error {
		nc, err := dial(t, cli, k, addr)
		if err != nil {
			return err
		}
		defer nc.Close()
		return ask(nc)
	}
	for _, tc := range []struct {
		name string
		cli  tnvtls.Files
		want string
	}{
		{"no client certificate", tnvtls.Files{CA: ca.CAFile}, "certificate required"},
		// A Go client offers no certificate the server's CA list does not
		// name: the same refusal.
		{"client certificate of another CA", func() tnvtls.Files {
			f := rogue.Issue(t, "rogue-client")
			f.CA = ca.CAFile
			return f
		}(), "certificate required"},
		{"server not trusted by the client", rogue.Issue(t, "client-of-rogue"), "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := served(tc.cli)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// A client that presents another CA's certificate anyway is refused
	// by the server's verification.
	t.Run("client certificate of another CA, forced", func(t *testing.T) {
		f := rogue.Issue(t, "rogue-forced")
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tnvtls.Files{CA: ca.CAFile}.Client()
		if err != nil {
			t.Fatal(err)
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		nc, err := tnvtls.Dialer(tc, k, 5*time.Second)(context.Background(), addr)
		if err == nil {
			err = ask(nc)
			nc.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "bad certificate") && !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Fatalf("got %v, want the server's refusal of the certificate", err)
		}
	})
	// The server's certificate must name the address dialed.
	wrongName := serve(t, ca.Issue(t, "server-elsewhere", "10.1.2.3"), k)
	if _, err := dial(t, ca.Issue(t, "client"), k, wrongName); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("a server certificate for another address: %v", err)
	}
}

// A plain TNV client of a TLS server is told so in a TNV error reply, and
// not served.
func TestServer_PlainClientToldTLSOnly(t *testing.T) {
	ca := tnvtlstest.NewCA(t, "cluster")
	k := testKey(t)
	addr := serve(t, ca.Issue(t, "server", "127.0.0.1"), k)
	_, err := tnvauth.Dialer(k, 5*time.Second)(context.Background(), addr)
	var e *proto.ErrorReply
	if !errors.As(err, &e) || e.Errno != proto.EACCES || !strings.Contains(e.Desc, "TLS only") {
		t.Fatalf("plain handshake with a TLS server: %v", err)
	}
	// A seed client (no handshake) gets the same answer to its request.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := ask(nc); !errors.As(err, &e) || e.Errno != proto.EACCES || !strings.Contains(e.Desc, "TLS only") {
		t.Fatalf("plain GROUPS to a TLS server: %v", err)
	}
}

func TestFiles_Errors(t *testing.T) {
	ca := tnvtlstest.NewCA(t, "cluster")
	node := ca.Issue(t, "node", "127.0.0.1")
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		f      tnvtls.Files
		server bool
		want   string
	}{
		{"cert without key", tnvtls.Files{Cert: node.Cert}, true, "go together"},
		{"key without cert", tnvtls.Files{Key: node.Key}, false, "go together"},
		{"server without cert", tnvtls.Files{CA: ca.CAFile}, true, "needs a certificate"},
		{"CA not PEM", tnvtls.Files{Cert: node.Cert, Key: node.Key, CA: notPEM}, true, "no PEM certificate"},
		{"CA missing", tnvtls.Files{CA: notPEM + ".missing"}, false, "no such file"},
		{"key of another cert", tnvtls.Files{Cert: node.Cert, Key: ca.Issue(t, "other").Key}, true, "private key does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.server {
				_, err = tc.f.Server()
			} else {
				_, err = tc.f.Client()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	// No files: plain TCP, no error.
	if c, err := (tnvtls.Files{}).Server(); c != nil || err != nil {
		t.Fatalf("empty files: %v, %v", c, err)
	}
	if c, err := (tnvtls.Files{}).Client(); c != nil || err != nil {
		t.Fatalf("empty files: %v, %v", c, err)
	}
	// A CA on the server demands client certificates; none, it does not.
	if c, _ := node.Server(); c.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("server with a CA: ClientAuth %v", c.ClientAuth)
	}
	if c, _ := (tnvtls.Files{Cert: node.Cert, Key: node.Key}).Server(); c.ClientAuth != tls.NoClientCert {
		t.Fatalf("server without a CA: ClientAuth %v", c.ClientAuth)
	}
}

// BenchmarkDial is a new connection's cost: TCP, then mutual TLS, then the
// cluster handshake inside it (compare BenchmarkDial in internal/tnvauth).
func BenchmarkDial(b *testing.B) {
	ca, err := tnvtlstest.New(b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := ca.IssueFiles("server", "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	cli, err := ca.IssueFiles("client")
	if err != nil {
		b.Fatal(err)
	}
	k, err := tnvauth.NewKey([]byte("tnvtls-bench-secret-0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	sc, err := srv.Server()
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cli.Client()
	if err != nil {
		b.Fatal(err)
	}
	s := &frameserver.Set{Auth: k, AuthReply: proto.CmdTrackerReply, TLS: sc, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln, func(c *frameserver.Conn) { io.Copy(io.Discard, c) })
	defer s.Close(time.Second)
	dial := tnvtls.Dialer(cc, k, 5*time.Second)
	for b.Loop() {
		nc, err := dial(context.Background(), ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}

// A pooled TLS connection is reused after a request (the liveness check
// sees a quiet socket under TLS: no stray record such as a session ticket
// waits there), and dropped once the server closed it.
func TestPool_ReusesTLSConnections(t *testing.T) {
	ca := tnvtlstest.NewCA(t, "cluster")
	k := testKey(t)
	addr := serve(t, ca.Issue(t, "server", "127.0.0.1"), k)
	tc, err := ca.Issue(t, "client").Client()
	if err != nil {
		t.Fatal(err)
	}
	p := connpool.New(connpool.Config{Dial: tnvtls.Dialer(tc, k, 5*time.Second)})
	defer p.Close()
	for i := range 3 {
		c, err := p.Get(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		if c.Reused != (i > 0) {
			t.Fatalf("request %d: reused %v", i, c.Reused)
		}
		if err := ask(c); err != nil {
			t.Fatal(err)
		}
		p.Put(c)
		time.Sleep(20 * time.Millisecond) // anything the server sent after the reply has arrived
	}
}
