// Package nsnet builds a private IPv4 network of Linux network namespaces
// for end-to-end tests: every host is a namespace of its own with one TUN
// interface, and this process is the wire between them. Each packet crosses
// a switch here that can delay it (a fixed one-way delay, as netem's), drop
// a share of it (loss) or drop everything between two hosts (a partition:
// silent, as a cut cable, so that TCP waits and retransmits rather than
// being told). Nothing leaves the namespaces: the range (10.213.0.0/24)
// exists only inside them, no address is added to the host's stack.
//
// Why not veth pairs on a bridge with tc netem: the kernels the tests run
// on are not always built with sch_netem or a tc drop action (the CI
// machine's is not), and the loss and partitions need exact, per-pair
// control anyway. A TUN device and a switch in the test process need only
// CONFIG_TUN and the ip command.
//
// Only root can build one (Available says why not). Namespaces are named
// "tnvt<pid>-<host>", so parallel runs never collide, and Sweep removes
// those of processes that are gone (a run that was killed).
package nsnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Prefix begins the name of every namespace this package creates.
const Prefix = "tnvt"

// MTU of every host's interface: jumbo frames, as in a data centre; the
// switch moves one packet per read, so fewer and larger packets keep the
// emulation cheap.
const MTU = 9000

// queueLimit is how many packets wait for one host at most (netem's default
// limit); more are dropped and counted.
const queueLimit = 1000

// Available reports why this process cannot build namespaces, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command (iproute2): %v", err)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("TUN device: %v", err)
	}
	return nil
}

// Sweep deletes the namespaces of this package whose process is gone.
func Sweep() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // still running: another run's
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// Net is one private network and its switch.
type Net struct {
	id string // "tnvt<pid>-<n>-"

	mu       sync.Mutex
	hosts    map[netip.Addr]*Host
	delay    time.Duration // one way
	cut      map[[2]netip.Addr]bool
	closed   bool
	lossRand *rand.Rand
	pairs    map[[2]netip.Addr]int64 // packets switched, by source and destination

	// Counters of packets: switched, dropped by loss, by a partition, by
	// a full queue.
	Packets, LossDrops, CutDrops, QueueDrops atomic.Int64
}

var netSeq atomic.Int64

// New starts an empty network. Close removes it.
func New() (*Net, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	Sweep()
	n := &Net{id: fmt.Sprintf("%s%d-%d-", Prefix, os.Getpid(), netSeq.Add(1)),
		hosts: map[netip.Addr]*Host{}, cut: map[[2]netip.Addr]bool{}, pairs: map[[2]netip.Addr]int64{},
		lossRand: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x1055))}
	return n, nil
}

// Host is one namespace on the network.
type Host struct {
	Name  string     // as given to AddHost
	Netns string     // the namespace's name (ip netns exec NETNS ...)
	IP    netip.Addr // its address
	n     *Net
	tun   *os.File
	out   chan packet
	loss  atomic.Uint64 // math.Float64bits of the share of packets lost to and from it
	done  chan struct{}
}

type packet struct {
	b   []byte
	due time.Time
}

// AddHost creates namespace and interface of a host named name (short:
// letters, digits and '-') with the next free address.
func (n *Net) AddHost(name string) (*Host, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errors.New("nsnet: closed")
	}
	ip := netip.AddrFrom4([4]byte{10, 213, 0, byte(len(n.hosts) + 1)})
	if len(n.hosts) >= 250 {
		n.mu.Unlock()
		return nil, errors.New("nsnet: network full")
	}
	h := &Host{Name: name, Netns: n.id + name, IP: ip, n: n, out: make(chan packet, queueLimit), done: make(chan struct{})}
	n.hosts[ip] = h // reserve the address
	n.mu.Unlock()
	if err := h.create(); err != nil {
		n.mu.Lock()
		delete(n.hosts, ip)
		n.mu.Unlock()
		h.remove()
		return nil, fmt.Errorf("nsnet: host %s: %w", name, err)
	}
	go h.readLoop()
	go h.writeLoop()
	return h, nil
}

func (h *Host) create() error {
	if err := run("ip", "netns", "add", h.Netns); err != nil {
		return err
	}
	err := h.in(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq("tnv0")
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		h.tun = os.NewFile(uintptr(fd), h.Netns+"/tnv0")
		return nil
	})
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-n", h.Netns, "link", "set", "lo", "up"},
		{"-n", h.Netns, "addr", "add", h.IP.String() + "/24", "dev", "tnv0"},
		{"-n", h.Netns, "link", "set", "tnv0", "mtu", strconv.Itoa(MTU), "up"},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// in runs fn on a thread that has entered the host's namespace: sockets
// created there belong to it for good.
func (h *Host) in(fn func() error) error {
	runtime.LockOSThread()
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(self)
	target, err := unix.Open("/run/netns/"+h.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", h.Netns, err)
	}
	ferr := fn()
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and in the wrong namespace: it ends
		// with this goroutine, and no other code ever runs on it.
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// DialContext connects from inside the host's namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.in(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Dial is DialContext without a context.
func (h *Host) Dial(network, addr string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, addr)
}

// Listen listens inside the host's namespace.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.in(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Forward accepts connections on port of the host and relays each, both
// ways and streaming, to target as this process reaches it (a server of the
// host's own network stack, e.g. a MariaDB on 127.0.0.1). It stops when the
// network closes.
func (h *Host) Forward(port int, target string) error {
	ln, err := h.Listen("tcp", netip.AddrPortFrom(h.IP, uint16(port)).String())
	if err != nil {
		return err
	}
	go func() { <-h.done; ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c, target)
		}
	}()
	return nil
}

func relay(c net.Conn, target string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	<-done
}

// SetDelay sets the one-way delay of every packet (RTT/2 for a round trip
// between any two hosts).
func (n *Net) SetDelay(oneWay time.Duration) {
	n.mu.Lock()
	n.delay = oneWay
	n.mu.Unlock()
}

// SetLoss makes the switch drop share (0..1) of the packets to and from h.
func (h *Host) SetLoss(share float64) {
	h.loss.Store(uint64(share * 1e9))
}

func (h *Host) lossShare() float64 { return float64(h.loss.Load()) / 1e9 }

// Cut drops every packet between a and b, both ways, until Mend.
func (n *Net) Cut(a, b *Host) {
	n.mu.Lock()
	n.cut[[2]netip.Addr{a.IP, b.IP}] = true
	n.cut[[2]netip.Addr{b.IP, a.IP}] = true
	n.mu.Unlock()
}

// Isolate cuts h from every other host.
func (n *Net) Isolate(h *Host) {
	for _, o := range n.Hosts() {
		if o != h {
			n.Cut(h, o)
		}
	}
}

// Mend ends every partition.
func (n *Net) Mend() {
	n.mu.Lock()
	n.cut = map[[2]netip.Addr]bool{}
	n.mu.Unlock()
}

// Pair is the traffic from one host to another since ResetPairs.
type Pair struct {
	From, To string // host names
	Packets  int64
}

// ResetPairs starts counting the packets between hosts afresh.
func (n *Net) ResetPairs() {
	n.mu.Lock()
	n.pairs = map[[2]netip.Addr]int64{}
	n.mu.Unlock()
}

// Pairs returns the packets switched between hosts since ResetPairs, by
// pair, most first.
func (n *Net) Pairs() []Pair {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Pair
	for k, v := range n.pairs {
		if a, b := n.hosts[k[0]], n.hosts[k[1]]; a != nil && b != nil {
			out = append(out, Pair{From: a.Name, To: b.Name, Packets: v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Packets != out[j].Packets {
			return out[i].Packets > out[j].Packets
		}
		return out[i].From+out[i].To < out[j].From+out[j].To
	})
	return out
}

// Hosts returns every host.
func (n *Net) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	var hs []*Host
	for _, h := range n.hosts {
		hs = append(hs, h)
	}
	return hs
}

func (h *Host) readLoop() {
	n := h.n
	for {
		buf := make([]byte, MTU+64)
		k, err := h.tun.Read(buf)
		if err != nil {
			return
		}
		b := buf[:k]
		dst, ok := packetDst(b)
		if !ok {
			continue
		}
		n.mu.Lock()
		to := n.hosts[dst]
		cut := n.cut[[2]netip.Addr{h.IP, dst}]
		delay := n.delay
		lost := false
		if to != nil && !cut {
			if p := h.lossShare() + to.lossShare(); p > 0 && n.lossRand.Float64() < p {
				lost = true
			}
		}
		if to != nil && !cut && !lost {
			n.pairs[[2]netip.Addr{h.IP, dst}]++
		}
		n.mu.Unlock()
		switch {
		case to == nil:
			continue
		case cut:
			n.CutDrops.Add(1)
			continue
		case lost:
			n.LossDrops.Add(1)
			continue
		}
		n.Packets.Add(1)
		select {
		case to.out <- packet{b: b, due: time.Now().Add(delay)}:
		default:
			n.QueueDrops.Add(1)
		}
	}
}

// packetDst returns the destination of an IPv4 packet as a TUN device
// hands it over (no link header); false for anything else: IPv6 (no IPv6
// address is configured, so only the kernel's own probes), or a packet too
// short for its header.
func packetDst(b []byte) (netip.Addr, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0x0f)*4 < 20 || int(b[0]&0x0f)*4 > len(b) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[16:20])), true
}

func (h *Host) writeLoop() {
	for {
		select {
		case <-h.done:
			return
		case p := <-h.out:
			wait(p.due)
			h.tun.Write(p.b)
		}
	}
}

// spinBelow is the wait under which wait spins instead of sleeping: a
// timer sleep of less than a millisecond takes about one on a busy machine
// (a 0.25 ms one-way delay came out as 0.9 ms), which would make a 0.5 ms
// RTT one of 2 ms. Spinning costs CPU only while packets wait.
const spinBelow = time.Millisecond

// wait returns at due.
func wait(due time.Time) {
	d := time.Until(due)
	if d <= 0 {
		return
	}
	if d > spinBelow {
		time.Sleep(d - spinBelow/2)
	}
	for time.Now().Before(due) {
		runtime.Gosched()
	}
}

func (h *Host) remove() {
	if h.tun != nil {
		h.tun.Close()
	}
	exec.Command("ip", "netns", "del", h.Netns).Run()
}

// Close stops the switch and deletes every namespace. Processes still
// running inside lose their network; the caller stops them first.
func (n *Net) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	hs := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hs = append(hs, h)
	}
	n.mu.Unlock()
	for _, h := range hs {
		close(h.done)
		h.remove()
	}
}
