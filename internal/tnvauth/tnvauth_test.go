package tnvauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef-a")
	secretB = []byte("0123456789abcdef0123456789abcdef-b")
)

func key(t testing.TB, s []byte) *Key {
	t.Helper()
	k, err := NewKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serve accepts connections on a loopback listener and runs Server with k on
// each; after a successful handshake it answers one GROUPS-like request
// (any frame) with "ok". Results of the handshakes go to the channel.
func serve(t *testing.T, k *Key) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 16)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				err := Server(nc, k, proto.CmdTrackerReply)
				results <- err
				if err != nil {
					return
				}
				nc.SetDeadline(time.Now().Add(5 * time.Second))
				h, err := proto.ReadHeader(nc)
				if err != nil {
					return
				}
				proto.ReadBody(nc, h, 1<<16)
				proto.WriteFrame(nc, proto.CmdTrackerReply, proto.StatusOK, []byte("ok\x00"))
			}()
		}
	}()
	return ln.Addr().String(), results
}

func TestHandshakeBothWays(t *testing.T) {
	addr, results := serve(t, key(t, secretA))
	nc, err := Dialer(key(t, secretA), time.Second)(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := <-results; err != nil {
		t.Fatalf("server: %v", err)
	}
	if _, ok := nc.(*net.TCPConn); !ok {
		t.Fatalf("dialer returned %T, want the *net.TCPConn itself (sendfile/splice)", nc)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := proto.WriteFrame(nc, proto.CmdTrackerGroups, proto.StatusOK, nil); err != nil {
		t.Fatal(err)
	}
	_, b, err := proto.ReadReply(nc, proto.CmdTrackerReply, 100)
	if err != nil || string(b) != "ok\x00" {
		t.Fatalf("request after handshake: %q %v", b, err)
	}
}

func TestWrongSecretRefusedBothSides(t *testing.T) {
	addr, results := serve(t, key(t, secretA))
	_, err := Dialer(key(t, secretB), time.Second)(context.Background(), addr)
	var e *proto.ErrorReply
	if !errors.As(err, &e) || e.Errno != proto.EACCES {
		t.Fatalf("client with wrong secret: %v, want EACCES", err)
	}
	if err := <-results; !errors.Is(err, ErrRefused) {
		t.Fatalf("server: %v, want ErrRefused", err)
	}
}

// A server without the secret cannot pass itself off: it sees the client's
// proof but cannot produce its own.
func TestFakeServerRefusedByClient(t *testing.T) {
	// A fake that accepts anything must still fail the client's check of
	// AUTH_OK: without the secret it can only guess.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	go func() {
		nc, err := ln2.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		h, _ := proto.ReadHeader(nc)
		proto.ReadBody(nc, h, 100)
		proto.WriteFrame(nc, proto.CmdAuthChallenge, 0, proto.EncodeAuthNonce(proto.AuthNonce{1}))
		h, _ = proto.ReadHeader(nc)
		proto.ReadBody(nc, h, 100)
		proto.WriteFrame(nc, proto.CmdAuthOK, 0, make([]byte, 32)) // no secret: a guess
		io.Copy(io.Discard, nc)
	}()
	_, err := Dialer(key(t, secretA), time.Second)(context.Background(), ln2.Addr().String())
	if !errors.Is(err, ErrServerProof) {
		t.Fatalf("client against a fake server: %v, want ErrServerProof", err)
	}
}

// recorder records what a client sends on one connection.
type recorder struct {
	net.Conn
	sent bytes.Buffer
	got  bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) { r.sent.Write(p); return r.Conn.Write(p) }
func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

func TestReplayedHandshakeRefused(t *testing.T) {
	addr, results := serve(t, key(t, secretA))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{Conn: nc}
	if err := Client(rec, key(t, secretA)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	// An eavesdropper replays the client's bytes on a new connection.
	nc, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(rec.sent.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := proto.ReadReply(nc, proto.CmdAuthChallenge, 100); err != nil {
		t.Fatal(err)
	}
	_, _, err = proto.ReadReply(nc, proto.CmdAuthOK, 100)
	var e *proto.ErrorReply
	if !errors.As(err, &e) || e.Errno != proto.EACCES {
		t.Fatalf("replayed proof: %v, want EACCES", err)
	}
	if err := <-results; !errors.Is(err, ErrRefused) {
		t.Fatalf("server: %v", err)
	}
	// A replayed server side does not fool a client either: a fresh
	// client nonce makes the recorded AUTH_OK wrong.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(rec.got.Bytes())
		io.Copy(io.Discard, c)
	}()
	if _, err := Dialer(key(t, secretA), time.Second)(context.Background(), ln.Addr().String()); !errors.Is(err, ErrServerProof) {
		t.Fatalf("replayed server: %v, want ErrServerProof", err)
	}
}

// A seed client's first request is answered with one error reply carrying
// the server's reply command, then the connection is closed.
func TestSeedRequestRefused(t *testing.T) {
	addr, results := serve(t, key(t, secretA))
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	proto.WriteFrame(nc, proto.CmdTrackerGroups, proto.StatusOK, nil)
	h, _, err := proto.ReadReply(nc, proto.CmdTrackerReply, 100)
	var e *proto.ErrorReply
	if !errors.As(err, &e) || e.Errno != proto.EACCES || h.Cmd != proto.CmdTrackerReply {
		t.Fatalf("GROUPS without handshake: cmd %d %v, want 100 EACCES", h.Cmd, err)
	}
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("connection still open after refusal: %d %v", n, err)
	}
	if err := <-results; !errors.Is(err, ErrRefused) {
		t.Fatalf("server: %v", err)
	}
}

func TestOpenServerSaysSo(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h, _ := proto.ReadHeader(c)
		proto.ReadBody(c, h, 100)
		proto.WriteError(c, proto.CmdTrackerReply, proto.Errorf(proto.ENOSYS, "unknown command 90"))
	}()
	_, err := Dialer(key(t, secretA), time.Second)(context.Background(), ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "--open-protocol") {
		t.Fatalf("against an open server: %v", err)
	}
}

func TestDialerGivesUpWithContext(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c) // never answers
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Dialer(key(t, secretA), time.Second)(ctx, ln.Addr().String())
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("silent server: %v after %v", err, time.Since(start))
	}
}

func TestShortSecret(t *testing.T) {
	if _, err := NewKey([]byte("short")); !errors.Is(err, ErrShortSecret) {
		t.Fatalf("NewKey(short): %v", err)
	}
	if got := key(t, secretA).String(); strings.Contains(got, string(secretA)) {
		t.Fatalf("Key.String shows the secret: %q", got)
	}
}

// Whatever a peer sends, Server never accepts it without the secret and
// always returns.
func FuzzServer(f *testing.F) {
	hello := append(proto.Header{BodyLen: proto.AuthHelloLen, Cmd: proto.CmdAuthHello}.Bytes(), proto.EncodeAuthNonce(proto.AuthNonce{7})...)
	proof := append(proto.Header{BodyLen: proto.AuthProofLen, Cmd: proto.CmdAuthProof}.Bytes(), make([]byte, 32)...)
	f.Add(append(append([]byte{}, hello...), proof...))
	f.Add(hello)
	f.Add(proto.Header{BodyLen: 0, Cmd: proto.CmdTrackerGroups}.Bytes())
	f.Add(proto.Header{BodyLen: 1 << 62, Cmd: proto.CmdAuthHello}.Bytes())
	k := &Key{secret: secretA, Timeout: time.Second}
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			defer b.Close()
			b.SetDeadline(time.Now().Add(time.Second))
			go io.Copy(io.Discard, b)
			b.Write(in)
		}()
		if err := Server(a, k, proto.CmdTrackerReply); err == nil {
			t.Fatalf("accepted %x without the secret", in)
		}
	})
}

// BenchmarkDial: a loopback TCP dial with and without the handshake, so the
// cost of authenticating a new connection is a number (pools keep
// connections, so it is paid once per connection, not per request).
func BenchmarkDial(b *testing.B) {
	for _, tc := range []struct {
		name string
		k    *Key
	}{{"open", nil}, {"handshake", key(b, secretA)}} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					nc, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer nc.Close()
						if Server(nc, tc.k, proto.CmdTrackerReply) == nil {
							io.Copy(io.Discard, nc)
						}
					}()
				}
			}()
			dial := Dialer(tc.k, time.Second)
			for b.Loop() {
				nc, err := dial(context.Background(), ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				nc.Close()
			}
		})
	}
}
