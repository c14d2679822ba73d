package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The chaos suite's own rules, checked without a cluster: how an error is
// named, which errors a fault window allows, which failures are known
// defects. A rule that let a lie or an unclean error through would make the
// suite pass what it must catch.

func responseErr(status int, code string, err error) error {
	if err == nil {
		err = &smithy.GenericAPIError{Code: code, Message: "m"}
	}
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestChaosErrKind_NamesAnswersAndFailedConnections(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://x", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want string
	}{
		{responseErr(503, "SlowDown", nil), "503 SlowDown"},
		{responseErr(400, "IncompleteBody", nil), "400 IncompleteBody"},
		{responseErr(500, "", errors.New("no code")), "500 -"},
		// No answer at all: the SDK reports status 0; named by the cause.
		{responseErr(0, "", refused), "conn refused"},
		{responseErr(0, "", fmt.Errorf("send: %w", io.EOF)), "conn closed"},
		{responseErr(0, "", fmt.Errorf("write: %w", syscall.EPIPE)), "conn reset"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "conn reset"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "conn closed"},
		{responseErr(0, "", fmt.Errorf("write: %w", net.ErrClosed)), "conn closed"},
		{errors.New("something else"), "other"},
	} {
		if got := errKind(c.err); got != c.want {
			t.Errorf("errKind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestChaosJudge_OnlyClean5xxInTheFaultWindow(t *testing.T) {
	t0 := time.Now()
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &scenarioResult{Start: t0, FaultStart: at(2), FaultEnd: at(5), Recovery: time.Second, Ops: map[string]int{},
		OpErrors: map[string]int{}, Errors: map[string]int{}}
	gw0Killed := chaosScenario{gatewayKilled: func(gw int) bool { return gw == 0 }}
	ev := func(op, kind string, gw int, start, end float64) opEvent {
		return opEvent{Op: op, Kind: kind, GW: gw, Start: at(start), End: at(end), Lie: len(kind) > 3 && kind[:4] == "200 "}
	}
	for _, c := range []struct {
		name string
		sc   chaosScenario
		ev   opEvent
		want string // the check that fails, "" for none
	}{
		{"success", gw0Killed, ev("PUT", "", 1, 3, 3.1), ""},
		{"5xx in the window", gw0Killed, ev("PUT", "503 SlowDown", 1, 3, 3.1), ""},
		{"5xx of a request started before the fault, ended in it", gw0Killed, ev("PUT", "500 InternalError", 1, 1.5, 2.5), ""},
		{"5xx during recovery", gw0Killed, ev("GET", "500 InternalError", 1, 5.5, 5.6), ""},
		{"5xx after recovery, within its bound", gw0Killed, ev("GET", "500 InternalError", 1, 19, 19.1), ""},
		{"5xx before the fault", gw0Killed, ev("PUT", "500 InternalError", 1, 1, 1.1), "no-errors-outside-fault"},
		{"5xx after the recovery bound", gw0Killed, ev("PUT", "500 InternalError", 1, 20.5, 20.6), "no-errors-outside-fault"},
		{"4xx in the window", gw0Killed, ev("PUT", "400 IncompleteBody", 1, 3, 3.1), "clean-errors"},
		{"refused by the killed gateway", gw0Killed, ev("GET", "conn refused", 0, 3, 3.1), ""},
		{"refused by a live gateway", gw0Killed, ev("GET", "conn refused", 1, 3, 3.1), "clean-errors"},
		{"dropped by a live gateway", chaosScenario{}, ev("GET", "conn closed", 0, 3, 3.1), "clean-errors"},
		{"timeout", chaosScenario{}, ev("GET", "timeout", 0, 3, 3.1), "clean-errors"},
		{"5xx where none is allowed", chaosScenario{noErrors: true}, ev("PUT", "500 InternalError", 0, 3, 3.1), "clean-errors"},
		{"200 cut off by the killed gateway", gw0Killed, ev("GET", "200 then cut (conn reset)", 0, 3, 3.1), ""},
		{"200 cut off by a live gateway", gw0Killed, ev("GET", "200 then cut (conn closed)", 1, 3, 3.1), "no-cut-reads"},
		{"200 reset by a live gateway in the window", gw0Killed, ev("GET", "200 then cut (conn reset)", 1, 3, 3.1), ""},
		{"200 reset by a live gateway outside the window", gw0Killed, ev("GET", "200 then cut (conn reset)", 1, 0.5, 0.6), "no-cut-reads"},
		{"200 wrong bytes, even from the killed gateway", gw0Killed, ev("GET", "200 wrong bytes", 0, 3, 3.1), "no-wrong-bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fails := map[string][]string{}
			judgeEvents(c.sc, r, []opEvent{c.ev}, fails)
			var got []string
			for k, v := range fails {
				if len(v) > 0 {
					got = append(got, k)
				}
			}
			switch {
			case c.want == "" && len(got) > 0:
				t.Fatalf("failed %v, want no failure", got)
			case c.want != "" && (len(got) != 1 || got[0] != c.want):
				t.Fatalf("failed %v, want %s", got, c.want)
			}
		})
	}
}

func TestChaosKnownDefects_MatchOnlyTheirScenarioCheckAndText(t *testing.T) {
	// The list as it stood while issue 13's defects were open.
	defer func(saved []knownDefect) { knownDefects = saved }(knownDefects)
	knownDefects = []knownDefect{
		{"storage-kill/clean-errors", "PUT 400 IncompleteBody", "issue 13 item 1"},
		{"*/clean-errors", "MPU conn reset", "issue 13 item 1"},
		{"tracker-kill/no-cut-reads", "", "issue 13 item 1"},
	}
	for _, c := range []struct {
		scenario, check, failure string
		known                    bool
	}{
		{"storage-kill", "clean-errors", "PUT 400 IncompleteBody via gateway 1 at +2.0s", true},
		{"storage-kill", "clean-errors", "GET 404 NoSuchKey via gateway 1 at +2.0s", false},
		{"storage-kill", "copies", "PUT 400 IncompleteBody", false},
		{"gateway-kill", "clean-errors", "PUT 400 IncompleteBody", false},
		{"idserver-kill", "clean-errors", "MPU conn reset via gateway 2", true}, // "*" scenario
		{"idserver-kill", "no-wrong-bytes", "MPU conn reset via gateway 2", false},
		{"tracker-kill", "no-cut-reads", "GET 200 then cut (conn closed) via gateway 1", true},
	} {
		if got := knownDefectOf(c.scenario, c.check, c.failure) != nil; got != c.known {
			t.Errorf("%s/%s %q: known %v, want %v", c.scenario, c.check, c.failure, got, c.known)
		}
	}
	// No known defect may ever excuse wrong bytes.
	for _, d := range knownDefects {
		if _, check, _ := strings.Cut(d.check, "/"); check == "no-wrong-bytes" {
			t.Errorf("known defect %v excuses wrong bytes", d)
		}
	}
}
