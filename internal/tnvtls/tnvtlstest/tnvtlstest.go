// Package tnvtlstest makes a certificate authority and certificates for
// tests (and the bench) of TLS on the TNV links, with crypto/x509: nothing
// comes from outside.
package tnvtlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/internal/tnvtls"
)

// CA is a certificate authority whose certificate is in the PEM file
// CAFile.
type CA struct {
	CAFile string
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// NewCA makes a CA in a directory of the test.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := New(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Issue is IssueFiles for a test.
func (ca *CA) Issue(t testing.TB, name string, hosts ...string) tnvtls.Files {
	t.Helper()
	f, err := ca.IssueFiles(name, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// New makes a CA, valid for a day, whose files go to dir.
func New(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{dir: dir, cert: cert, key: key, serial: 1, CAFile: filepath.Join(dir, name+"-ca.pem")}
	return ca, writePEM(ca.CAFile, "CERTIFICATE", der)
}

// IssueFiles signs a certificate for name, valid for both server and
// client use, for the IP addresses and DNS names in hosts, and returns the
// files of a side that presents it and trusts this CA.
func (ca *CA) IssueFiles(name string, hosts ...string) (tnvtls.Files, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tnvtls.Files{}, err
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tnvtls.Files{}, fmt.Errorf("certificate %s: %w", name, err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tnvtls.Files{}, err
	}
	f := tnvtls.Files{Cert: filepath.Join(ca.dir, name+".pem"), Key: filepath.Join(ca.dir, name+"-key.pem"), CA: ca.CAFile}
	if err := writePEM(f.Cert, "CERTIFICATE", der); err != nil {
		return f, err
	}
	return f, writePEM(f.Key, "PRIVATE KEY", kb)
}

// Env is the environment that gives a tnv process the files: its
// --tls-cert, --tls-key and --tls-ca (prefix "TNV_"), or the gateway's
// --tnv-tls-* (prefix "TNV_TNV_"). Empty files are left out.
func Env(prefix string, f tnvtls.Files) []string {
	var env []string
	for _, kv := range [][2]string{{"TLS_CERT", f.Cert}, {"TLS_KEY", f.Key}, {"TLS_CA", f.CA}} {
		if kv[1] != "" {
			env = append(env, prefix+kv[0]+"="+kv[1])
		}
	}
	return env
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
