package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/internal/tnvtls"
)

// tlsFlags are the TLS flags of the TNV links (docs/operations.md, "TLS on
// the TNV links"): --tls-cert, --tls-key, --tls-ca on the TNV servers and
// clients; with a prefix ("tnv-") on the gateway, whose --tls-* are its
// HTTPS.
type tlsFlags struct {
	cert, key, ca *string
}

// tlsFlags defines the flags; server says which side they are for.
func (f *flags) tlsFlags(prefix string, server bool) *tlsFlags {
	if server {
		return &tlsFlags{
			cert: f.String(prefix+"tls-cert", "", "serve TNV on TLS with this certificate (PEM; it names the address clients dial); a storage node also presents it to the servers it dials"),
			key:  f.String(prefix+"tls-key", "", "the private key of --"+prefix+"tls-cert (PEM)"),
			ca:   f.String(prefix+"tls-ca", "", "CA bundle (PEM): every TNV client must present a certificate it signed (mutual TLS); a storage node also verifies the servers it dials with it"),
		}
	}
	return &tlsFlags{
		cert: f.String(prefix+"tls-cert", "", "client certificate (PEM) for TNV servers that demand one (their --tls-ca)"),
		key:  f.String(prefix+"tls-key", "", "the private key of --"+prefix+"tls-cert (PEM)"),
		ca:   f.String(prefix+"tls-ca", "", "speak TLS to the TNV servers and verify them with this CA bundle (PEM)"),
	}
}

func (t *tlsFlags) files() tnvtls.Files { return tnvtls.Files{Cert: *t.cert, Key: *t.key, CA: *t.ca} }

// server is the configuration to serve with (nil: plain TCP).
func (t *tlsFlags) server() (*tls.Config, error) { return t.files().Server() }

// client is the configuration to dial with (nil: plain TCP).
func (t *tlsFlags) client() (*tls.Config, error) { return t.files().Client() }

// onOff is what the start line logs.
func onOff(c *tls.Config) string {
	if c == nil {
		return "off"
	}
	if c.ClientAuth == tls.RequireAndVerifyClientCert {
		return "mutual"
	}
	return "on"
}

// dialFunc opens one authenticated TNV connection (an admin request's).
type dialFunc = func(ctx context.Context, addr string) (net.Conn, error)

// linkFlags are the flags of a command's TNV links: the cluster secret
// and TLS.
type linkFlags struct {
	cluster *clusterFlags
	tls     *tlsFlags
}

// linkFlags defines them; prefix as for tlsFlags, server says which side.
func (f *flags) linkFlags(prefix string, server bool) linkFlags {
	return linkFlags{cluster: f.clusterFlags(server), tls: f.tlsFlags(prefix, server)}
}

// server is a TNV server's cluster key and TLS configuration (nil: plain).
func (l linkFlags) server() (*tnvauth.Key, *tls.Config, error) {
	auth, err := l.cluster.key()
	if err != nil {
		return nil, nil, err
	}
	tc, err := l.tls.server()
	return auth, tc, err
}

// client is a TNV client's cluster key and TLS configuration (nil: plain).
func (l linkFlags) client() (*tnvauth.Key, *tls.Config, error) {
	auth, err := l.cluster.key()
	if err != nil {
		return nil, nil, err
	}
	tc, err := l.tls.client()
	return auth, tc, err
}

// dialer is the dialer of a one-connection TNV client (an admin
// request's).
func (l linkFlags) dialer() (dialFunc, error) {
	auth, tc, err := l.client()
	if err != nil {
		return nil, err
	}
	return tnvtls.Dialer(tc, auth, 5*time.Second), nil
}

// newClient is a TNV client of trackers on these links.
func (l linkFlags) newClient(trackers []string, log *slog.Logger) (*tnv.Client, error) {
	auth, tc, err := l.client()
	if err != nil {
		return nil, err
	}
	return tnv.New(tnv.Config{Trackers: trackers, Logger: log, Auth: auth, TLS: tc})
}
