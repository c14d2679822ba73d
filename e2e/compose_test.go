package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/metadb/metadbtest"
)

// composeFile is the part of docker-compose.yml the test reads; YAML
// anchors and merge keys are resolved by the decoder.
type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
	} `yaml:"services"`
}

var (
	reDefault  = regexp.MustCompile(`\$\{([A-Z_]+):-([^}]*)\}`)
	reRequired = regexp.MustCompile(`\$\{([A-Z_]+):\?[^}]*\}`)
)

// composeRequired are the values this test gives the variables compose
// requires (`${NAME:?message}`).
var composeRequired = map[string]string{"TNV_CLUSTER_SECRET": proctest.ClusterSecret}

// composeSecrets stand for the secrets an operator must set (the file's
// ${VAR:?message} references).
var composeSecrets = map[string]string{
	"TNV_ACCESS_KEY":     "composeroot",
	"TNV_SECRET_KEY":     "compose-root-secret-0123456789",
	"TNV_CLUSTER_SECRET": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

// composeService is one service of the file, mapped onto loopback.
type composeService struct {
	name   string
	args   []string
	env    []string
	listen string // 127.0.0.1:PORT standing for the container's main port
}

// loadCompose reads docker-compose.yml and maps it onto this machine: every
// service's ports onto free loopback ports, service host names onto those,
// volumes onto temporary directories, the MariaDB service onto dsn.
func loadCompose(t *testing.T, dsn string) []composeService {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if _, ok := cf.Services["mariadb"]; !ok {
		t.Fatal("docker-compose.yml has no mariadb service")
	}
	// Every "host:port" a service listens on becomes 127.0.0.1:free.
	addrOf := map[string]string{} // "tracker1:21000" → "127.0.0.1:N"
	listenPort := func(args []string, flag string) string {
		for i, a := range args {
			if a == flag && i+1 < len(args) {
				_, p, _ := net.SplitHostPort(args[i+1])
				return p
			}
		}
		return ""
	}
	names := make([]string, 0, len(cf.Services))
	for n := range cf.Services {
		if n != "mariadb" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		s := cf.Services[n]
		for _, flag := range []string{"--listen", "--metrics-listen"} {
			if p := listenPort(s.Command, flag); p != "" {
				addrOf[n+":"+p] = proctest.FreeAddr(t)
			}
		}
	}
	mysqlDSN := regexp.MustCompile(`mysql://[^@]*@mariadb:3306/[a-z]+`)
	replace := func(v string) string {
		v = reComposeRequired.ReplaceAllStringFunc(v, func(m string) string {
			name := reComposeRequired.FindStringSubmatch(m)[1]
			val, ok := composeSecrets[name]
			if !ok {
				t.Fatalf("docker-compose.yml requires $%s, which the test does not know", name)
			}
			return val
		})
		v = reDefault.ReplaceAllString(v, "$2")
		v = reRequired.ReplaceAllStringFunc(v, func(m string) string {
			name := reRequired.FindStringSubmatch(m)[1]
			val, ok := composeRequired[name]
			if !ok {
				t.Fatalf("docker-compose.yml requires $%s, which this test does not know", name)
			}
			return val
		})
		v = mysqlDSN.ReplaceAllString(v, dsn)
		for from, to := range addrOf {
			v = strings.ReplaceAll(v, from, to)
		}
		return v
	}
	var out []composeService
	for _, n := range names {
		s := cf.Services[n]
		cs := composeService{name: n}
		data := filepath.Join(t.TempDir(), "data")
		for i := 0; i < len(s.Command); i++ {
			a := s.Command[i]
			if (a == "--listen" || a == "--metrics-listen") && i+1 < len(s.Command) {
				_, p, _ := net.SplitHostPort(s.Command[i+1])
				addr := addrOf[n+":"+p]
				if a == "--listen" {
					cs.listen = addr
				}
				cs.args = append(cs.args, a, addr)
				i++
				continue
			}
			if a == "/data" {
				a = data
			}
			if a == "--advertise" && i+1 < len(s.Command) {
				// The container's fixed address is loopback here;
				// the port tells the nodes apart.
				cs.args = append(cs.args, a, "127.0.0.1")
				i++
				continue
			}
			cs.args = append(cs.args, replace(a))
		}
		for k, v := range s.Environment {
			cs.env = append(cs.env, k+"="+replace(v))
		}
		sort.Strings(cs.env)
		out = append(out, cs)
	}
	return out
}

// TestCompose_TopologyAsProcesses starts the services of docker-compose.yml
// (2 trackers, 1 ID server, 2 groups x 2 storage nodes, 2 gateways) as
// processes on loopback against MariaDB, with the file's commands and
// environment, then writes through one gateway and reads through the other.
func TestCompose_TopologyAsProcesses(t *testing.T) {
	dsn := metadbtest.NewTestMySQL(t)
	services := loadCompose(t, dsn)
	byRole := map[string][]composeService{}
	for _, s := range services {
		byRole[s.args[0]] = append(byRole[s.args[0]], s)
	}
	if len(byRole["tracker"]) != 2 || len(byRole["idserver"]) != 1 || len(byRole["storage"]) != 4 || len(byRole["gateway"]) != 2 {
		t.Fatalf("topology: %d trackers, %d ID servers, %d storage nodes, %d gateways; want 2, 1, 4, 2",
			len(byRole["tracker"]), len(byRole["idserver"]), len(byRole["storage"]), len(byRole["gateway"]))
	}
	procs := map[string]*proctest.Proc{}
	for _, role := range []string{"idserver", "tracker", "storage", "gateway"} {
		for _, s := range byRole[role] {
			procs[s.name] = proctest.StartEnv(t, s.env, s.name, s.listen, s.args...)
		}
	}
	// Every gateway's health check (the file's healthcheck URL) passes once
	// the storage nodes are ACTIVE.
	gw := byRole["gateway"]
	for _, g := range gw {
		waitHTTP(t, "http://"+g.listen+"/_tnv/health", 60*time.Second)
	}
	access, secret := envOf(gw[0].env, "TNV_ACCESS_KEY"), envOf(gw[0].env, "TNV_SECRET_KEY")
	c1, c2 := s3Client("http://"+gw[0].listen, access, secret), s3Client("http://"+gw[1].listen, access, secret)
	ctx := context.Background()
	if _, err := c1.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("compose")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("tnv compose "), 300000) // 3.6 MB
	for i := range 8 {
		key := fmt.Sprintf("k%d", i)
		if _, err := c1.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("compose"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		out, err := c2.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("compose"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s through the other gateway: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get %s: %d bytes, %v", key, len(got), err)
		}
	}
	// A tracker down: both gateways go on.
	procs[byRole["tracker"][0].name].Kill()
	for i, c := range []*s3.Client{c1, c2} {
		key := fmt.Sprintf("after-tracker-down-%d", i)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("compose"), Key: aws.String(key), Body: bytes.NewReader(data[:1000])}); err != nil {
			t.Fatalf("put with a tracker down: %v", err)
		}
	}
	// The gateway's /_tnv/metrics counts requests as they come.
	before := putCount(t, gw[0].listen, access, secret)
	if _, err := c1.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("compose"), Key: aws.String("counted"), Body: bytes.NewReader(data[:10])}); err != nil {
		t.Fatal(err)
	}
	if after := putCount(t, gw[0].listen, access, secret); after != before+1 {
		t.Errorf("PutObject counter went from %v to %v after one PUT", before, after)
	}
	// Each server's --metrics-listen serves its own metrics.
	want := map[string][]string{
		"tracker": {`tnv_requests_total{cmd="SADDRS",result="ok",role="tracker"}`, `tnv_node_state{`},
		// The storage nodes take their file IDs in blocks.
		"idserver": {`tnv_requests_total{cmd="ID_GET_BLOCK",result="ok",role="idserver"}`},
		"storage":  {`tnv_storage_free_bytes `, `tnv_storage_sync_state{sync="ACTIVE"} 1`, `process_resident_memory_bytes`},
	}
	for _, s := range services {
		for i, a := range s.args {
			if a == "--metrics-listen" && s.name != byRole["tracker"][0].name {
				body := httpGet(t, "http://"+s.args[i+1]+"/metrics")
				for _, w := range want[s.args[0]] {
					if !strings.Contains(body, w) {
						t.Errorf("%s /metrics lacks %s", s.name, w)
					}
				}
			}
		}
	}
}

func envOf(env []string, key string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

func s3Client(endpoint, access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(access, secret, ""),
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func waitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy after %v (last: %v)", url, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var rePutCount = regexp.MustCompile(`(?m)^tnv_s3_requests_total\{op="PutObject",status="200"\} (\d+)$`)

// putCount scrapes a gateway's successful PutObject counter, signed by the
// root key (/_tnv/metrics needs a credential).
func putCount(t *testing.T, addr, access, secret string) int {
	t.Helper()
	return gatewayMetric(t, addr, access, secret, rePutCount)
}
