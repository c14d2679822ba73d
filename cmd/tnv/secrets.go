package main

import (
	"flag"
	"fmt"
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
	return &secretFlag{
		f:     f,
		name:  name,
		value: f.String(name, "", usage+" (visible in ps: prefer --"+name+"-file or the environment)"),
		file:  f.String(name+"-file", "", "read --"+name+" from this file (a trailing newline is dropped)"),
	}
}

// given reports whether the secret was given in any of its three ways.
func (s *secretFlag) given() bool { return *s.value != "" || *s.file != "" }

// get returns the secret ("" when not given), read from its file if that
// was the way, and checked for length. The error never shows the value.
// log (when not nil) is warned when the value came on the command line.
func (s *secretFlag) get(log *slog.Logger) (string, error) {
	v := *s.value
	if *s.file != "" {
		if v != "" {
			return "", fmt.Errorf("--%s and --%s-file: give one of them", s.name, s.name)
		}
		b, err := os.ReadFile(*s.file)
		if err != nil {
			return "", fmt.Errorf("--%s-file: %w", s.name, err)
		}
		v = strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("--%s-file %s: empty", s.name, *s.file)
		}
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
func (s *secretFlag) onCommandLine() bool {
	set := false
	s.f.Visit(func(fl *flag.Flag) {
		if fl.Name == s.name {
			set = true
		}
	})
	return set
}

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
