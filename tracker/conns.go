package tracker

import (
	"errors"
	"net"
	"sync"
	"time"
)

// connSet tracks listeners and connections so that Close can stop accepting,
// close idle connections at once and give busy ones time to finish.
type connSet struct {
	mu      sync.Mutex
	closing bool
	lns     map[net.Listener]struct{}
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
	lastID  uint64
}

// conn is one client connection; busy while a request is being served.
type conn struct {
	net.Conn
	id   uint64 // a seed BEAT is matched to the node JOINed on its connection
	set  *connSet
	busy bool
}

func (cs *connSet) init() {
	cs.lns = map[net.Listener]struct{}{}
	cs.conns = map[*conn]struct{}{}
}

func (cs *connSet) serve(ln net.Listener, handle func(*conn)) error {
	cs.mu.Lock()
	if cs.closing {
		cs.mu.Unlock()
		ln.Close()
		return nil
	}
	cs.lns[ln] = struct{}{}
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		delete(cs.lns, ln)
		cs.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			cs.mu.Lock()
			closing := cs.closing
			cs.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: wait, retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		cs.mu.Lock()
		cs.lastID++
		c := &conn{Conn: nc, id: cs.lastID, set: cs}
		if cs.closing {
			cs.mu.Unlock()
			nc.Close()
			return nil
		}
		cs.conns[c] = struct{}{}
		cs.wg.Add(1)
		cs.mu.Unlock()
		go func() {
			defer cs.wg.Done()
			defer func() {
				cs.mu.Lock()
				delete(cs.conns, c)
				cs.mu.Unlock()
				nc.Close()
			}()
			handle(c)
		}()
	}
}

// begin marks c busy; false means the server is closing.
func (c *conn) begin() bool {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	if c.set.closing {
		return false
	}
	c.busy = true
	return true
}

// end marks c idle; false means the server is closing.
func (c *conn) end() bool {
	c.set.mu.Lock()
	defer c.set.mu.Unlock()
	c.busy = false
	return !c.set.closing
}

func (cs *connSet) close(timeout time.Duration) {
	cs.mu.Lock()
	if cs.closing {
		cs.mu.Unlock()
		cs.wg.Wait()
		return
	}
	cs.closing = true
	for ln := range cs.lns {
		ln.Close()
	}
	for c := range cs.conns {
		if !c.busy {
			c.Close()
		}
	}
	cs.mu.Unlock()
	finished := make(chan struct{})
	go func() { cs.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return
	case <-time.After(timeout):
	}
	cs.mu.Lock()
	for c := range cs.conns {
		c.Close()
	}
	cs.mu.Unlock()
	<-finished
}
