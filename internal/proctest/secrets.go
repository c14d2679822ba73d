package proctest

import (
	"bytes"
	"os"
	"strings"
	"sync"
)

// Secrets never appear in a server's log. Every secret a test hands a
// process (an environment variable or flag named like one) is noted, and
// when the test ends each process's log is searched for every secret noted
// so far: a log that holds one fails the test. Secrets a process reads
// from a file are noted with Secret.

var secrets struct {
	mu  sync.Mutex
	set map[string]bool
}

// Secret notes s as a secret that no process may log.
func Secret(s string) {
	if len(s) < 8 { // shorter values would match ordinary text
		return
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.set == nil {
		secrets.set = map[string]bool{}
	}
	secrets.set[s] = true
}

// secretFlags are the flags whose value is a secret.
var secretFlags = []string{"--secret-key", "--cluster-secret", "--metrics-token"}

// noteSecrets notes the secrets in a process's environment and arguments.
func noteSecrets(env, args []string) {
	for _, e := range env {
		name, v, ok := strings.Cut(e, "=")
		if ok && !strings.HasSuffix(name, "_FILE") &&
			(strings.Contains(name, "SECRET") || strings.Contains(name, "TOKEN") || strings.Contains(name, "PASSWORD")) {
			Secret(v)
		}
	}
	for i, a := range args {
		for _, f := range secretFlags {
			if a == f && i+1 < len(args) {
				Secret(args[i+1])
			} else if v, ok := strings.CutPrefix(a, f+"="); ok {
				Secret(v)
			}
		}
	}
}

// checkLogSecrets fails the test if p's log holds a noted secret (without
// showing it).
func (p *Proc) checkLogSecrets() {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	for s := range secrets.set {
		if bytes.Contains(b, []byte(s)) {
			p.t.Errorf("proctest: the log of %s (%s) holds a secret (%d characters)", p.Name, p.Log, len(s))
		}
	}
}
