// Package proctest runs the real tnv binary as separate processes on
// loopback for end-to-end tests: build once per test binary, start servers
// on free ports, wait until they listen, kill, freeze, restart, and read a
// process's peak RSS. A test package calls proctest.Main from TestMain.
package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binDir string
	binErr error
	once   sync.Once
)

// ClusterSecret is the cluster secret every process started here gets in
// its environment (TNV_CLUSTER_SECRET), so that servers and clients of a
// test authenticate each other. A process given --open-protocol on its
// command line speaks the open protocol regardless (the command line
// replaces the environment's secret).
const ClusterSecret = "proctest-cluster-secret-0123456789abcdef"

// ClusterEnv is the environment entry that carries ClusterSecret.
const ClusterEnv = "TNV_CLUSTER_SECRET=" + ClusterSecret

// environ is the environment of a process started here: this process's,
// the cluster secret, then extra (which may override it).
func environ(extra []string) []string {
	return append(append(os.Environ(), ClusterEnv), extra...)
}

// Main builds the tnv binary, runs the tests and removes the binary.
func Main(m *testing.M) {
	Secret(ClusterSecret) // no log may hold it
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Binary returns the path of a tnv binary built from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		binDir, binErr = os.MkdirTemp("", "tnv-bin-")
		if binErr != nil {
			return
		}
		root, err := ModuleRoot()
		if err != nil {
			binErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "tnv"), "./cmd/tnv")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/tnv: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "tnv")
}

// ModuleRoot is the directory of the tnv module's go.mod, as the go command
// in the working directory sees it (the bench builds from there too).
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the tnv module")
	}
	return filepath.Dir(mod), nil
}

// FreeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Proc is one running tnv process.
type Proc struct {
	Name string
	Args []string // after the binary
	Addr string   // the address it listens on, waited for at start
	Log  string   // stdout and stderr go here
	Env  []string // extra environment
	// Where, when set, runs the process inside a network namespace.
	Where *Where

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Where places a process in a network namespace: it runs as `ip netns exec
// Netns tnv args...`, and Dial (which connects from a namespace that reaches
// it) is how its address is waited for.
type Where struct {
	Netns string
	Dial  func(network, addr string) (net.Conn, error)
}

// StartWhere is StartEnv for a process inside a network namespace.
func StartWhere(t testing.TB, env []string, w *Where, name, addr string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Args: args, Addr: addr, Env: env, Where: w, t: t, Log: filepath.Join(t.TempDir(), name+".log")}
	p.Restart()
	p.killAtCleanup()
	return p
}

// Start runs `tnv args...` as name, and waits until addr accepts connections
// (if addr is not empty). The process is killed when the test ends, and its
// log is printed if the test failed.
func Start(t testing.TB, name, addr string, args ...string) *Proc {
	t.Helper()
	return StartEnv(t, nil, name, addr, args...)
}

// StartEnv is Start with extra environment variables (KEY=value).
func StartEnv(t testing.TB, env []string, name, addr string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, Args: args, Addr: addr, Env: env, t: t, Log: filepath.Join(t.TempDir(), name+".log")}
	p.Restart()
	p.killAtCleanup()
	return p
}

// killAtCleanup kills p when its test ends, showing its log if the test
// failed.
func (p *Proc) killAtCleanup() {
	p.t.Cleanup(func() {
		p.Kill()
		p.checkLogSecrets()
		if p.t.Failed() {
			p.dumpLog()
		}
	})
}

func (p *Proc) dumpLog() {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return
	}
	if len(b) > 16<<10 {
		b = append([]byte("…"), b[len(b)-16<<10:]...)
	}
	p.t.Logf("--- log of %s (%s):\n%s", p.Name, strings.Join(p.Args, " "), b)
}

// Restart starts the process again (after Kill or exit) and waits for Addr.
func (p *Proc) Restart() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.dumpLog()
		p.t.Fatalf("%s: %v", p.Name, err)
	}
}

func (p *Proc) start() error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return fmt.Errorf("restart while running")
	}
	lf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	fmt.Fprintf(lf, "=== start %s %s\n", p.Name, time.Now().Format(time.RFC3339Nano))
	noteSecrets(p.Env, p.Args)
	cmd := exec.Command(Binary(p.t), p.Args...)
	var dial func(network, addr string) (net.Conn, error)
	if p.Where != nil {
		// ip netns exec enters the namespace and execs the binary: the
		// process (and its PID) is tnv's.
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.Where.Netns, Binary(p.t)}, p.Args...)...)
		dial = p.Where.Dial
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = environ(p.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		p.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	if p.Addr != "" {
		return waitListening(p.Addr, 30*time.Second, done, dial)
	}
	return nil
}

// StartFree starts `tnv args(addr)...` as name on a free loopback address.
// Another process may take the port between its choice and the bind; then
// ("address already in use" in the log) it tries again on another, up to 5
// times. Cleanup as Start.
func StartFree(t testing.TB, env []string, name string, args func(addr string) []string) *Proc {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	for try := 1; ; try++ {
		addr := FreeAddr(t)
		p := &Proc{Name: name, Args: args(addr), Addr: addr, Env: env, t: t, Log: log}
		err := p.start()
		if err == nil {
			p.killAtCleanup()
			return p
		}
		p.Kill()
		if b, _ := os.ReadFile(log); try < 5 && bytes.Contains(b, []byte("address already in use")) {
			continue
		}
		p.dumpLog()
		t.Fatalf("%s: %v", name, err)
	}
}

// WaitListening waits until addr accepts a TCP connection, the timeout
// passes, or exited is closed.
func WaitListening(addr string, timeout time.Duration, exited <-chan struct{}) error {
	return waitListening(addr, timeout, exited, nil)
}

// waitListening is WaitListening connecting with dial (nil: from here).
func waitListening(addr string, timeout time.Duration, exited <-chan struct{}, dial func(network, addr string) (net.Conn, error)) error {
	if dial == nil {
		dial = func(network, addr string) (net.Conn, error) { return net.DialTimeout(network, addr, time.Second) }
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID returns the process ID, or 0 when it is not running.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the exit.
func (p *Proc) Kill() { p.stop(syscall.SIGKILL) }

// Terminate sends SIGTERM and waits for a clean exit (SIGKILL after 20 s).
func (p *Proc) Terminate() { p.stop(syscall.SIGTERM) }

func (p *Proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // a frozen process cannot exit
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Freeze sends SIGSTOP; Thaw sends SIGCONT.
func (p *Proc) Freeze() { p.signal(syscall.SIGSTOP) }
func (p *Proc) Thaw()   { p.signal(syscall.SIGCONT) }

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.cmd.Process.Signal(sig)
	}
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (p *Proc) PeakRSS() (int64, error) {
	pid := p.PID()
	if pid == 0 {
		return 0, fmt.Errorf("%s not running", p.Name)
	}
	return peakRSS(pid)
}

func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// Run runs `tnv args...` to completion and returns its stdout; a failure
// fails the test with its stderr.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := RunErr(t, args...)
	if err != nil {
		t.Fatalf("tnv %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// RunErr runs `tnv args...` and returns its stdout, or an error holding its
// stderr.
func RunErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return RunEnvErr(t, nil, args...)
}

// RunEnvErr is RunErr with extra environment variables (KEY=value).
func RunEnvErr(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	return RunInErr(t, "", env, args...)
}

// RunInErr is RunEnvErr inside network namespace netns ("": here).
func RunInErr(t testing.TB, netns string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	if netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", netns, Binary(t)}, args...)...)
	}
	cmd.Env = environ(env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// RunRSS runs `tnv args...` to completion and returns its stdout and its peak
// RSS in bytes; a failure fails the test. The peak is read from the
// process's own VmHWM while it runs: wait4's ru_maxrss would also count the
// moments before exec, when the child still shares the (large) test
// process's memory.
func RunRSS(t testing.TB, args ...string) (string, int64) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = environ(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if v, err := peakRSS(cmd.Process.Pid); err == nil {
			peak = max(peak, v)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("tnv %s: %v: %s", strings.Join(args, " "), err, stderr.String())
			}
			if peak == 0 {
				t.Fatalf("tnv %s: exited before its RSS could be read", strings.Join(args, " "))
			}
			return stdout.String(), peak
		case <-tick.C:
		}
	}
}
