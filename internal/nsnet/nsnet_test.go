package nsnet

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// needRoot skips without root and fails when, as root, the machine lacks
// what Available checks.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if err := Available(); err != nil {
		t.Fatal(err)
	}
}

func newNet(t *testing.T) *Net {
	t.Helper()
	needRoot(t)
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func addHost(t *testing.T, n *Net, name string) *Host {
	t.Helper()
	h, err := n.AddHost(name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// echo serves one-line echoes on h:port.
func echo(t *testing.T, h *Host, port int) string {
	t.Helper()
	addr := netip.AddrPortFrom(h.IP, uint16(port)).String()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return addr
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := r.ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	return time.Since(start)
}

func TestNet_DelayIsPerPacketAndBothWays(t *testing.T) {
	n := newNet(t)
	a, b := addHost(t, n, "a"), addHost(t, n, "b")
	addr := echo(t, b, 7000)
	n.SetDelay(20 * time.Millisecond)
	c, err := a.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	best := time.Hour
	for range 3 {
		best = min(best, roundTrip(t, c, r))
	}
	// A round trip crosses the switch twice: at least 40 ms, whatever the load.
	if best < 40*time.Millisecond {
		t.Fatalf("round trip %v with a 20 ms one-way delay", best)
	}
	t.Logf("round trip %v (one-way delay 20 ms)", best)
	ps := n.Pairs()
	if len(ps) != 2 || ps[0].Packets < 3 || ps[1].Packets < 3 {
		t.Fatalf("packets by pair: %+v, want a→b and b→a, at least 3 each", ps)
	}
	n.ResetPairs()
	if ps := n.Pairs(); len(ps) != 0 {
		t.Fatalf("after ResetPairs: %+v", ps)
	}
}

func TestNet_CutDropsSilentlyAndMendHeals(t *testing.T) {
	n := newNet(t)
	a, b, c3 := addHost(t, n, "a"), addHost(t, n, "b"), addHost(t, n, "c")
	addr := echo(t, b, 7000)
	conn, err := a.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	roundTrip(t, conn, r)

	n.Cut(a, b)
	// A cut is silent: the write succeeds (into the socket buffer) and no
	// answer comes; no reset, no ICMP.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err == nil || !os.IsTimeout(err) {
		t.Fatalf("read across a cut: %v, want a timeout", err)
	}
	// c still reaches b.
	other, err := c3.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("a host outside the cut: %v", err)
	}
	other.Close()

	n.Mend()
	// TCP retransmits the queued "ping" once the cut heals.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("after Mend: %q, %v", line, err)
	}
	if n.CutDrops.Load() == 0 {
		t.Fatal("no packet counted as dropped by the cut")
	}
}

func TestNet_LossDropsAShare(t *testing.T) {
	n := newNet(t)
	a, b := addHost(t, n, "a"), addHost(t, n, "b")
	addr := echo(t, b, 7000)
	b.SetLoss(0.2)
	conn, err := a.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	r := bufio.NewReader(conn)
	for range 20 {
		roundTrip(t, conn, r) // TCP hides the loss: every echo arrives
	}
	if n.LossDrops.Load() == 0 {
		t.Fatal("no packet lost at 20 % loss over 20 round trips")
	}
	t.Logf("%d packets switched, %d lost", n.Packets.Load(), n.LossDrops.Load())
}

func TestSweep_RemovesNamespacesOfDeadRuns(t *testing.T) {
	needRoot(t)
	// A pid that is not running: above the kernel's pid_max.
	name := Prefix + "4194399-1-stale"
	if err := run("ip", "netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run("ip", "netns", "del", name) })
	Sweep()
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name) {
			t.Fatalf("namespace %s of a dead run still there", name)
		}
	}
}

func TestNet_CloseRemovesNamespaces(t *testing.T) {
	needRoot(t)
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	h, err := n.AddHost("x")
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	n.Close()
	if _, err := os.Stat("/run/netns/" + h.Netns); !os.IsNotExist(err) {
		t.Fatalf("namespace %s after Close: %v", h.Netns, err)
	}
}
