package gateway

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/s3err"
)

// guardReserved stands before the reserved routes under /_tnv/: the health
// check is public (load balancers and compose ask it), everything else
// (the status page, metrics, what is added later) shows the cluster's
// insides and needs a credential: a request signed by the root key or an
// admin user's (SetUserAdmin), or "Authorization: Bearer
// <Config.MetricsToken>". Anything else gets S3's
// AccessDenied.
func (g *Gateway) guardReserved(c *fiber.Ctx) error {
	// fiber matches routes without regard to case or a trailing slash.
	if p := strings.TrimRight(strings.ToLower(c.Path()), "/"); p == "/_tnv/health" {
		return c.Next()
	}
	rctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	r := &request{g: g, c: c, id: newRequestID(), start: time.Now(), ctx: rctx, op: "Reserved"}
	err := r.parse()
	if err == nil {
		err = r.reservedCredential()
	}
	if err == nil {
		return c.Next()
	}
	c.Set("x-amz-request-id", r.id)
	r.writeError(err)
	l := r.line(err)
	l.write()
	return nil
}

// reservedCredential checks the credential of a request for a reserved
// route.
func (r *request) reservedCredential() error {
	if tok, ok := strings.CutPrefix(r.header.Get("Authorization"), "Bearer "); ok {
		want := r.g.cfg.MetricsToken
		if want != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
			return nil
		}
		return errMsg(s3err.AccessDenied, "The bearer token is not this gateway's --metrics-token.")
	}
	if err := r.authenticate(); err != nil {
		return err
	}
	if r.root {
		return nil
	}
	if r.user != "" {
		admin, err := r.g.idx.IsAdmin(r.ctx, r.user)
		if err != nil {
			return errInternal(err)
		}
		if admin {
			return nil
		}
	}
	return errMsg(s3err.AccessDenied, "The cluster's status and metrics need a request signed by the root key or an admin user's, or --metrics-token as a bearer token.")
}
