package main

import (
	"os"
	"runtime"
)

// Threads for blocking system calls. A storage node spends its requests in
// system calls that block the thread (fsync, open, link, and SQLite's
// reads, writes and syncs), and Go gives a blocked thread's processor (P)
// to another runnable goroutine only when its monitor notices, up to 10 ms
// later when it has been idle. With GOMAXPROCS at the core count (2 here)
// two fsyncs hold every P: replies that had arrived waited in the network
// poller (goroutine dumps at c = 32: a dozen nodes waiting on ID-server
// answers the server had sent). More Ps than cores lets the others run
// while some block; the CPU they use is still bounded by the cores.
// Measured with `tnv up`, 4 KiB PUTs at c = 32 on 2 cores (2026-12-02):
// 566–593 PUT/s at GOMAXPROCS 2, 610–933 at 8, 16 and 32. Only the roles
// whose requests block in the disk take it (`tnv up` and `tnv storage`):
// idle Ps send threads spinning for work, and for the multi-process
// cluster on the same 2 cores (gateway, tracker, ID server beside the
// nodes) runs at 2, 4, 8 and 16 for every process did not separate from
// the machine's noise, 16 looking worst.
//
// procsPerCore Ps per core the runtime found (which honours a cgroup CPU
// limit), at least minProcs; GOMAXPROCS in the environment wins.
const (
	procsPerCore = 4
	minProcs     = 8
	maxProcs     = 256
)

func setProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	runtime.GOMAXPROCS(min(max(runtime.GOMAXPROCS(0)*procsPerCore, minProcs), maxProcs))
}
