package main

import (
	"errors"
	"fmt"

	"github.com/tnv-s3/tnv/internal/tnvauth"
)

// clusterFlags are the cluster secret's flags, the same on every command
// that speaks TNV (docs/operations.md, "Trust model").
type clusterFlags struct {
	f      *flags
	secret *secretFlag
	open   *bool
	server bool
}

// clusterFlags defines --cluster-secret, --cluster-secret-file and
// --open-protocol. A server (one that listens for TNV) refuses to start
// with neither a secret nor --open-protocol; a client without a secret
// speaks the open protocol.
func (f *flags) clusterFlags(server bool) *clusterFlags {
	return &clusterFlags{
		f: f,
		secret: f.secretPair("cluster-secret",
			fmt.Sprintf("cluster secret (at least %d bytes) that every TNV connection proves, both ways, before its first frame; prefer the file or the environment (a flag shows in ps)", tnvauth.MinSecretLen),
			"read the cluster secret from this file (one line; a trailing newline is dropped)"),
		open:   f.Bool("open-protocol", false, "speak the seed's unauthenticated TNV protocol (course clients, tests): anyone who reaches the port can read, write, delete and join"),
		server: server,
	}
}

// key returns the cluster key, nil for the open protocol. What the command
// line says of the three flags replaces what the environment says of them,
// so `--cluster-secret-file F` or `--open-protocol` works in a shell whose
// environment holds another secret; within one source they must agree.
func (c *clusterFlags) key() (*tnvauth.Key, error) {
	secret, file, open := *c.secret.value, *c.secret.file, *c.open
	onCmdline := c.f.onCommandLine()
	if onCmdline["cluster-secret"] || onCmdline["cluster-secret-file"] || onCmdline["open-protocol"] {
		if !onCmdline["cluster-secret"] {
			secret = ""
		}
		if !onCmdline["cluster-secret-file"] {
			file = ""
		}
		if !onCmdline["open-protocol"] {
			open = false
		}
	}
	secret, err := c.secret.resolve(secret, file)
	if err != nil {
		return nil, err
	}
	switch {
	case secret != "" && open:
		return nil, errors.New("--open-protocol and a cluster secret exclude each other")
	case secret == "" && open:
		return nil, nil
	case secret == "" && c.server:
		return nil, fmt.Errorf("no cluster secret: give --cluster-secret-file PATH (or $%s), "+
			"e.g. from `openssl rand -hex 32`, or --open-protocol to run the seed's unauthenticated protocol",
			envName("cluster-secret"))
	case secret == "":
		return nil, nil
	}
	k, err := tnvauth.NewKey([]byte(secret))
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	return k, nil
}
