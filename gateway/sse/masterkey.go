package sse

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// LoadMasterKey reads a master key file: 64 hexadecimal digits (32 bytes),
// surrounding white space allowed. A file others may read is refused: the
// key opens every SSE-S3 object.
func LoadMasterKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(k) != KeySize {
		return nil, fmt.Errorf("master key %s: want %d hexadecimal digits", path, 2*KeySize)
	}
	return k, nil
}

// EnsureMasterKeyFile creates a master key file with a random key (mode
// 0600) unless one exists, and returns the key it holds.
func EnsureMasterKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadMasterKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k := make([]byte, KeySize)
	rand.Read(k)
	_, err = fmt.Fprintln(f, hex.EncodeToString(k))
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("master key: %w", err)
	}
	return k, nil
}
