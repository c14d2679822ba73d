// Package tnvtls puts TNV links in TLS for networks that are not trusted
// (docs/operations.md, "TLS on the TNV links"). The cluster handshake
// (tnvauth) still runs, inside TLS: TLS proves who the servers (and, with a
// CA on the server, the clients) are to anyone holding the CA; the cluster
// secret still proves membership of this cluster.
//
// TLS costs the zero-copy paths: sendfile and splice need the kernel to
// move plain bytes, and a *tls.Conn is not a *net.TCPConn, so every such
// path falls back to a buffered copy on a TLS link (the type assertions in
// storagenode, backend/tnv and sockcheck see through it).
package tnvtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/tnv-s3/tnv/internal/tnvauth"
)

// Files names the PEM files of one side of a link. Cert and Key go
// together.
type Files struct {
	Cert, Key string // this side's certificate chain and its private key
	CA        string // the CA bundle the other side's certificate must chain to
}

// Empty reports whether no file is named: plain TCP.
func (f Files) Empty() bool { return f == Files{} }

func (f Files) load() (*tls.Config, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, errors.New("TLS: a certificate and its key go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.Cert != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", f.Cert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if f.CA != "" {
		b, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", f.CA)
		}
		cfg.RootCAs, cfg.ClientCAs = pool, pool
	}
	return cfg, nil
}

// Server is the configuration of a TNV server listening on TLS with f.Cert;
// with f.CA every client must present a certificate that chains to it
// (mutual TLS). Empty f: nil, plain TCP.
func (f Files) Server() (*tls.Config, error) {
	if f.Empty() {
		return nil, nil
	}
	if f.Cert == "" {
		return nil, errors.New("TLS: a server needs a certificate and its key to serve TLS")
	}
	cfg, err := f.load()
	if err != nil {
		return nil, err
	}
	if f.CA != "" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	// No client keeps sessions (a pooled link lives long), so a ticket
	// would be work and bytes for nothing, and an unread record on an
	// idle pooled connection besides.
	cfg.SessionTicketsDisabled = true
	return cfg, nil
}

// Client is the configuration of a TNV client on TLS: it verifies servers
// against f.CA (the system's roots when not given) and presents f.Cert to a
// server that asks for one. Empty f: nil, plain TCP.
func (f Files) Client() (*tls.Config, error) {
	if f.Empty() {
		return nil, nil
	}
	cfg, err := f.load()
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = nil
	return cfg, nil
}

// Dialer returns a dial function that connects to addr over TCP, runs the
// TLS handshake with tc (verifying the server's certificate for addr's
// host) and then the cluster handshake with k. nil tc: tnvauth.Dialer, the
// *net.TCPConn itself, so that splice and sendfile apply.
func Dialer(tc *tls.Config, k *tnvauth.Key, dialTimeout time.Duration) func(ctx context.Context, addr string) (net.Conn, error) {
	if tc == nil {
		return tnvauth.Dialer(k, dialTimeout)
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg := tc
		if cfg.ServerName == "" {
			cfg = tc.Clone()
			cfg.ServerName = host
		}
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		nc := tls.Client(raw, cfg)
		if err := nc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		if err := tnvauth.ClientContext(ctx, nc, k); err != nil {
			nc.Close()
			return nil, err
		}
		return nc, nil
	}
}
