package status

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tnv-s3/tnv/gateway/index"
)

// Config says where the routes find the cluster and the metrics.
type Config struct {
	// Groups returns the tracker's GROUPS text (tnv.Client.Groups).
	Groups func(ctx context.Context) (string, error)
	// Registry gathers the metrics served at /_tnv/metrics; the routes add
	// the cluster's node metrics and the Go runtime's to it. nil = a new one.
	Registry *prometheus.Registry
	// Timeout bounds one GROUPS query and one database probe, default 3s.
	Timeout time.Duration
	// Database, when set, probes the metadata database for the health
	// check (gateway.ProbeDB); an error or no answer within Timeout is
	// not healthy.
	Database func(ctx context.Context) error
	// Logger receives the errors behind an unhealthy answer (which does
	// not carry them); nil = slog.Default().
	Logger *slog.Logger
	// Shares, when set, lists the share links (gateway.ListShares); the
	// page shows the active ones (shares.go).
	Shares func(ctx context.Context) ([]index.Share, error)
}

// Routes returns the function that mounts health, status and metrics on the
// gateway's reserved /_tnv/ router.
func Routes(cfg Config) func(r fiber.Router) {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	groups := func(ctx context.Context) ([]Group, error) {
		ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		text, err := cfg.Groups(ctx)
		if err != nil {
			return nil, err
		}
		return Parse(text), nil
	}
	cfg.Registry.MustRegister(&clusterCollector{groups: groups},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := adaptor.HTTPHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))

	return func(r fiber.Router) {
		r.Get("/health", func(c *fiber.Ctx) error {
			h := checkHealth(c.UserContext(), cfg, groups)
			c.Set(fiber.HeaderCacheControl, "no-store")
			if !h.OK {
				c.Status(http.StatusServiceUnavailable)
			}
			return c.JSON(h)
		})
		r.Get("/status", func(c *fiber.Ctx) error {
			gs, err := groups(c.UserContext())
			c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
			c.Set(fiber.HeaderCacheControl, "no-store")
			var sb strings.Builder
			d := pageData{Groups: gs, Err: err, Now: time.Now().UTC()}
			d.Shares, d.SharesErr = activeShares(c.UserContext(), cfg, d.Now)
			if terr := page.Execute(&sb, d); terr != nil {
				return terr
			}
			if err != nil {
				c.Status(http.StatusServiceUnavailable)
			}
			return c.SendString(sb.String())
		})
		r.Get("/metrics", metrics)
	}
}

type pageData struct {
	Groups    []Group
	Err       error
	Now       time.Time
	Shares    []index.Share // active share links; nil when not configured
	SharesErr error
}

func (d pageData) Nodes() (n int) {
	for _, g := range d.Groups {
		n += len(g.Nodes)
	}
	return n
}

// HumanBytes prints a byte count in binary units, or "-" when unknown (negative).
func HumanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func usedPct(free, total int64) int {
	if free < 0 || total <= 0 {
		return 0
	}
	return int((total - free) * 100 / total)
}

var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": HumanBytes,
	"used":  usedPct,
	"lower": strings.ToLower,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>TNV-S3 status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em} .sub{color:#666;margin-bottom:1.5em}
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em 1.2em;margin-bottom:1.2em}
h2{font-size:1.1em;margin:0 0 .6em} table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #eee;white-space:nowrap}
th{color:#555;font-weight:600} .state{font-weight:600;border-radius:4px;padding:.1em .45em}
.active{background:#dff5e1;color:#17692a} .online,.syncing,.wait_sync{background:#fff4d6;color:#7a5800}
.offline,.readonly,.full,.sick{background:#fde2e1;color:#9b1c1c} .ok{background:#dff5e1;color:#17692a} .bar{background:#eee;border-radius:3px;width:8em;height:.7em;display:inline-block}
.bar i{display:block;height:100%;background:#5b8def;border-radius:3px} .err{color:#9b1c1c;font-weight:600}
</style></head><body>
<h1>TNV-S3 cluster status</h1>
<div class="sub">{{len .Groups}} groups, {{.Nodes}} storage nodes &middot; {{.Now.Format "2006-01-02 15:04:05 UTC"}} &middot; refreshes every 5 s</div>
{{if .Err}}<p class="err">Tracker unreachable: {{.Err}}</p>{{end}}
{{range .Groups}}<section id="group-{{.Name}}">
<h2>Group {{.Name}} &mdash; {{.Read}} of {{.NodeCount}} nodes readable, {{bytes .Free}} free of {{bytes .Total}}</h2>
<table><thead><tr><th>Node</th><th>State</th><th>Sync</th><th>Health</th><th>Progress</th><th>Lag</th><th>Used</th><th>Free</th><th>Total</th><th>Last beat</th><th>Version</th></tr></thead><tbody>
{{range .Nodes}}<tr class="node" data-addr="{{.Addr}}">
<td>{{.Addr}}</td><td><span class="state {{lower .State}}">{{.State}}</span></td>
<td><span class="state {{lower .Sync}}">{{.Sync}}</span></td>
<td>{{if .Health}}<span class="state {{lower .Health}}">{{.Health}}</span>{{else}}-{{end}}</td>
<td>{{if ge .Progress 0}}{{.Progress}}%{{else}}-{{end}}</td>
<td>{{if ge .Lag 0}}{{.Lag}}{{else}}-{{end}}</td>
<td><span class="bar"><i style="width:{{used .Free .Total}}%"></i></span> {{used .Free .Total}}%</td>
<td>{{bytes .Free}}</td><td>{{bytes .Total}}</td>
<td>{{if ge .BeatAge 0}}{{.BeatAge}} s ago{{else}}never{{end}}</td><td>{{.Version}}</td></tr>
{{end}}</tbody></table></section>
{{else}}{{if not .Err}}<p>No groups yet: no storage node has joined.</p>{{end}}{{end}}
{{if or .Shares .SharesErr}}<section id="shares">
<h2>Active share links &mdash; {{len .Shares}}</h2>
{{if .SharesErr}}<p class="err">Share links unreadable: {{.SharesErr}}</p>{{end}}
<table><thead><tr><th>ID</th><th>Bucket</th><th>Prefix</th><th>Owner</th><th>Expires</th><th>Viewers</th><th>Rate</th></tr></thead><tbody>
{{range .Shares}}<tr class="share" data-id="{{.Hash}}">
<td>{{slice .Hash 0 12}}</td><td>{{.Bucket}}</td><td>{{.Prefix}}</td><td>{{.Owner}}</td><td>{{.Expires.Format "2006-01-02 15:04:05 UTC"}}</td>
<td>{{.Viewers}}{{if .MaxViewers}} / {{.MaxViewers}}{{end}}</td><td>{{if .Rate}}{{bytes .Rate}}/s{{else}}-{{end}}</td></tr>
{{end}}</tbody></table></section>{{end}}
</body></html>
`))
