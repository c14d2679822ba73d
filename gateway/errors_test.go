package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

func TestErrInternal_UnreachableServerIs503(t *testing.T) {
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		name  string
		cause error
		want  s3err.Code
	}{
		{"context deadline", fmt.Errorf("index: %w", context.DeadlineExceeded), s3err.ServiceUnavailable},
		// What the MySQL driver returned when the gateway's database sat
		// behind a partition (e2e TestNetns, mysql-cut-from-gateway).
		{"dial i/o timeout", fmt.Errorf("index: put: %w", dialTimeout), s3err.ServiceUnavailable},
		{"dial refused", fmt.Errorf("index: %w", refused), s3err.ServiceUnavailable},
		{"read i/o timeout", readTimeout, s3err.ServiceUnavailable},
		{"anything else", errors.New("index: duplicate entry"), s3err.InternalError},
		{"reset mid-read", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, s3err.InternalError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := errInternal(tc.cause)
			if e.Code != tc.want || e.Status != tc.want.Status() {
				t.Fatalf("code %v status %d, want %v %d", e.Code, e.Status, tc.want, tc.want.Status())
			}
			if !errors.Is(e, tc.cause) {
				t.Fatal("the cause is not kept for the log")
			}
		})
	}
}
