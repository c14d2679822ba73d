package sockcheck_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/sockcheck"
	"github.com/tnv-s3/tnv/internal/tnvtls"
	"github.com/tnv-s3/tnv/internal/tnvtls/tnvtlstest"
)

// pair returns both ends of a TLS connection on loopback.
func pair(t *testing.T) (client, server *tls.Conn) {
	t.Helper()
	ca := tnvtlstest.NewCA(t, "sockcheck")
	f := ca.Issue(t, "server", "127.0.0.1")
	f.CA = "" // no client certificate asked
	sc, err := f.Server()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tnvtls.Files{CA: ca.CAFile}.Client()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", sc)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		tc := nc.(*tls.Conn)
		tc.Handshake()
		accepted <- tc
	}()
	nc, err := tnvtls.Dialer(cc, nil, 5*time.Second)(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { nc.Close(); server.Close() })
	return nc.(*tls.Conn), server
}

// An idle TLS connection is checked on the socket under it: alive while
// open and quiet, dead once the server closed it (close_notify) or when a
// byte waits unread.
func TestAlive_TLS(t *testing.T) {
	t.Run("server closed", func(t *testing.T) {
		c, s := pair(t)
		// One exchange, as a pooled connection has had.
		go func() { s.Write([]byte{1}); io.ReadFull(s, make([]byte, 1)) }()
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{2})
		time.Sleep(50 * time.Millisecond)
		if !sockcheck.Alive(c) {
			t.Fatal("an open idle TLS connection counted dead")
		}
		s.Close()
		waitDead(t, c)
	})
	t.Run("unread bytes", func(t *testing.T) {
		c, s := pair(t)
		if _, err := s.Write([]byte("stray")); err != nil {
			t.Fatal(err)
		}
		waitDead(t, c)
	})
}

func waitDead(t *testing.T, c net.Conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for sockcheck.Alive(c) {
		if time.Now().After(deadline) {
			t.Fatal("a TLS connection with something to read still counted alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
