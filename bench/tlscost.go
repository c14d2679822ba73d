package main

import "fmt"

// tlsCost compares the mirrored cluster with its gateway reading over TNV
// TCP (mirror-tcp) and over TNV on mutual TLS (mirror-tls), per workload:
// the cost of TLS on the TNV links (docs/operations.md). nil unless both
// ran.
func (r *Results) tlsCost() [][]string {
	if _, ok := r.system("mirror-tcp"); !ok {
		return nil
	}
	if _, ok := r.system("mirror-tls"); !ok {
		return nil
	}
	rows := [][]string{{"workload", "TNV over TCP", "TNV over mutual TLS", "TLS ÷ TCP (throughput)", "p99 TCP / TLS"}}
	for _, w := range r.workloads() {
		plain, ok1 := r.cell("mirror-tcp", w)
		tls, ok2 := r.cell("mirror-tls", w)
		if !ok1 || !ok2 {
			continue
		}
		rows = append(rows, []string{w, headline(plain), headline(tls), ratioText(tls, plain),
			fmt.Sprintf("%.1f / %.1f ms", plain.P99ms, tls.P99ms)})
	}
	return rows
}
