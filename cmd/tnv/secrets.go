package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/tnv-s3/tnv/gateway"
)

// MinSecretLen is the shortest S3 secret key accepted where one is given.
const MinSecretLen = gateway.MinSecretLen

// secretFlag is a secret that may come from --NAME, $TNV_NAME or a file
// (--NAME-file, $TNV_NAME_FILE). A value on the command line is visible to
// every user of the machine in ps and /proc; the file and the environment
// are not.
type secretFlag struct {
	f           *flags
	name        string
	value, file *string
}

// secret defines --name and --name-file.
func (f *flags) secret(name, usage string) *secretFlag {
	return f.secretPair(name,
		usage+" (visible in ps: prefer --"+name+"-file or the environment)",
		"read --"+name+" from this file (a trailing newline is dropped)")
}

// secretPair defines --name and --name-file with the usages given; it is
// the one way a secret is taken, for S3 keys and the cluster secret alike.
func (f *flags) secretPair(name, usage, fileUsage string) *secretFlag {
	return &secretFlag{
		f:     f,
		name:  name,
		value: f.String(name, "", usage),
		file:  f.String(name+"-file", "", fileUsage),
	}
}

// maxSecretFile bounds what is read from a --NAME-file.
const maxSecretFile = 4 << 10

// resolve returns value, or the contents of file (one line: a trailing
// newline is dropped) when file is named; "" when neither is. value and
// file are passed in so that a caller can first drop what only the
// environment said (clusterFlags.key). The error never shows the value.
func (s *secretFlag) resolve(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", fmt.Errorf("--%s and --%s-file exclude each other: give one of them", s.name, s.name)
	}
	fh, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", s.name, err)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxSecretFile+1))
	fh.Close()
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", s.name, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("--%s-file %s: over %d bytes, not a secret", s.name, file, maxSecretFile)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("--%s-file %s is empty", s.name, file)
	}
	return v, nil
}

// given reports whether the secret was given in any of its three ways.
func (s *secretFlag) given() bool { return *s.value != "" || *s.file != "" }

// get returns the secret ("" when not given), read from its file if that
// was the way, and checked for length. The error never shows the value.
// log (when not nil) is warned when the value came on the command line.
func (s *secretFlag) get(log *slog.Logger) (string, error) {
	v, err := s.resolve(*s.value, *s.file)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", nil
	}
	if err := checkSecret("--"+s.name, v); err != nil {
		return "", err
	}
	if log != nil && s.onCommandLine() {
		log.Warn("a secret on the command line is visible to every user of this machine (ps); use --"+s.name+"-file or $"+envName(s.name),
			"flag", "--"+s.name)
	}
	return v, nil
}

// onCommandLine reports whether --name itself was among the arguments (the
// environment fallback only changes the default).
func (s *secretFlag) onCommandLine() bool { return s.f.onCommandLine()[s.name] }

// checkSecret applies the rules of an S3 secret key: at least MinSecretLen
// characters, printable ASCII (what a client can put in its configuration
// and the HMAC key is computed from), at most 256 bytes (the users table).
func checkSecret(what, v string) error {
	if n := len(v); n < MinSecretLen {
		return fmt.Errorf("%s: a secret needs at least %d characters, this one has %d", what, MinSecretLen, n)
	}
	if len(v) > 256 {
		return fmt.Errorf("%s: a secret has at most 256 bytes, this one has %d", what, len(v))
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return fmt.Errorf("%s: a secret is printable ASCII without spaces (character %d is not)", what, i+1)
		}
	}
	return nil
}
