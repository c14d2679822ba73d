package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// reComposeRequired is compose's ${VAR:?message}: no value, no start.
var reComposeRequired = regexp.MustCompile(`\$\{([A-Z0-9_]+):\?([^}]*)\}`)

// reVar is any ${...} reference compose interpolates.
var reVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// interpolate does what `docker compose config` does to the file's
// ${VAR}, ${VAR:-default} and ${VAR:?message} references with env, and
// fails as it does: naming the first required variable that is unset or
// empty.
func interpolate(text string, env map[string]string) (string, error) {
	var missing error
	out := reVar.ReplaceAllStringFunc(text, func(m string) string {
		p := reVar.FindStringSubmatch(m)
		name, op, arg := p[1], p[2], p[3]
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if (op == ":?" && v == "") || !set {
				if missing == nil {
					missing = fmt.Errorf("required variable %s is missing a value: %s", name, arg)
				}
				return ""
			}
		}
		return v
	})
	return out, missing
}

// composeRules is the part of docker-compose.yml these rules read.
type composeRules struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Networks    map[string]struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"networks"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet  string `yaml:"subnet"`
				IPRange string `yaml:"ip_range"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
}

// TestCompose_RefusesToStartWithoutSecrets interpolates docker-compose.yml
// as compose does: without any one of TNV_ACCESS_KEY, TNV_SECRET_KEY and
// TNV_CLUSTER_SECRET (unset or empty) it fails naming that variable; no
// credential has a default anywhere in the file.
func TestCompose_RefusesToStartWithoutSecrets(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if _, err := interpolate(text, composeSecrets); err != nil {
		t.Fatalf("with every secret set: %v", err)
	}
	for name := range composeSecrets {
		for _, empty := range []bool{false, true} {
			env := map[string]string{}
			for k, v := range composeSecrets {
				if k != name {
					env[k] = v
				}
			}
			if empty {
				env[name] = ""
			}
			_, err := interpolate(text, env)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("without %s (empty=%v): %v, want a refusal naming it", name, empty, err)
			}
		}
	}
	// No default for a credential, nor a credential written out.
	for _, m := range reVar.FindAllStringSubmatch(text, -1) {
		if strings.Contains(m[1], "KEY") || strings.Contains(m[1], "SECRET") || strings.Contains(m[1], "TOKEN") {
			if m[2] == ":-" && m[3] != "" || m[2] == "-" {
				t.Errorf("%s has a default: %s", m[1], m[0])
			}
		}
	}
	if strings.Contains(text, "change-me") || strings.Contains(text, "tnvadmin") {
		t.Error("docker-compose.yml still has the old default credentials")
	}
	var cf composeRules
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	for name, s := range cf.Services {
		if name == "mariadb" {
			continue
		}
		if v := s.Environment["TNV_CLUSTER_SECRET"]; !reComposeRequired.MatchString(v) {
			t.Errorf("%s: TNV_CLUSTER_SECRET is %q, want ${TNV_CLUSTER_SECRET:?...}", name, v)
		}
		if len(s.Command) > 0 && s.Command[0] == "gateway" {
			for _, k := range []string{"TNV_ACCESS_KEY", "TNV_SECRET_KEY"} {
				if v := s.Environment[k]; !reComposeRequired.MatchString(v) || !strings.HasPrefix(v, "${"+k+":?") {
					t.Errorf("%s: %s is %q, want ${%s:?...}", name, k, v, k)
				}
			}
		}
	}
}

// TestCompose_PublishesOnlyS3OnLoopback: only the gateways publish a port,
// their S3 port, on 127.0.0.1 unless TNV_S3_BIND says otherwise; trackers,
// ID server, storage nodes, metrics and MariaDB publish nothing.
func TestCompose_PublishesOnlyS3OnLoopback(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bind, want string
	}{{"", "127.0.0.1"}, {"0.0.0.0", "0.0.0.0"}} {
		env := map[string]string{"TNV_S3_BIND": tc.bind}
		for k, v := range composeSecrets {
			env[k] = v
		}
		text, err := interpolate(string(b), env)
		if err != nil {
			t.Fatal(err)
		}
		var cf composeRules
		if err := yaml.Unmarshal([]byte(text), &cf); err != nil {
			t.Fatal(err)
		}
		gateways := 0
		for name, s := range cf.Services {
			if len(s.Command) == 0 || s.Command[0] != "gateway" {
				if len(s.Ports) > 0 {
					t.Errorf("%s publishes %v", name, s.Ports)
				}
				continue
			}
			gateways++
			if len(s.Ports) != 1 {
				t.Errorf("%s publishes %v, want its S3 port only", name, s.Ports)
				continue
			}
			// HOST_IP:HOST_PORT:CONTAINER_PORT; the container port is --listen's.
			f := strings.Split(s.Ports[0], ":")
			if len(f) != 3 || f[0] != tc.want || ":"+f[2] != s.Command[2] {
				t.Errorf("TNV_S3_BIND=%q: %s publishes %q, want %s:PORT:%s", tc.bind, name, s.Ports[0], tc.want, strings.TrimPrefix(s.Command[2], ":"))
			}
		}
		if gateways == 0 {
			t.Fatal("no gateway in docker-compose.yml")
		}
	}
}

// TestCompose_StorageNodesKeepTheirAddress: every storage node advertises
// a fixed address that is its own on the compose network, distinct, in
// the subnet and outside the range the other containers are given, so a
// recreated container comes back as the same node.
func TestCompose_StorageNodesKeepTheirAddress(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeRules
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatal(err)
	}
	nets := cf.Networks["default"].IPAM.Config
	if len(nets) != 1 {
		t.Fatalf("default network: %d ipam configs, want 1", len(nets))
	}
	subnet, err1 := netip.ParsePrefix(nets[0].Subnet)
	dynamic, err2 := netip.ParsePrefix(nets[0].IPRange)
	if err1 != nil || err2 != nil {
		t.Fatalf("default network: subnet %q, ip_range %q", nets[0].Subnet, nets[0].IPRange)
	}
	seen := map[string]string{}
	for name, s := range cf.Services {
		if len(s.Command) == 0 || s.Command[0] != "storage" {
			continue
		}
		adv := ""
		for i, a := range s.Command {
			if a == "--advertise" && i+1 < len(s.Command) {
				adv = s.Command[i+1]
			}
		}
		ip, err := netip.ParseAddr(adv)
		if err != nil {
			t.Errorf("%s: --advertise %q, want a fixed IP", name, adv)
			continue
		}
		if own := s.Networks["default"].IPv4; own != adv {
			t.Errorf("%s advertises %s but its address is %q", name, adv, own)
		}
		if !subnet.Contains(ip) || dynamic.Contains(ip) {
			t.Errorf("%s: %s not in %s outside %s", name, adv, subnet, dynamic)
		}
		if other, dup := seen[adv]; dup {
			t.Errorf("%s and %s both advertise %s", name, other, adv)
		}
		seen[adv] = name
	}
	if len(seen) != 4 {
		t.Fatalf("%d storage nodes with an address, want 4", len(seen))
	}
}

// TestDockerfile_DataOwnedByTheImageUser: the image creates /data owned by
// the user it runs as (a fresh named volume copies that owner, so a storage
// node can write to it) before switching to that user.
func TestDockerfile_DataOwnedByTheImageUser(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatchIndex(text)
	if user == nil {
		t.Fatal("Dockerfile has no USER: the servers would run as root")
	}
	name := text[user[2]:user[3]]
	before := text[:user[0]]
	if !regexp.MustCompile(`mkdir -p /data\b`).MatchString(before) ||
		!regexp.MustCompile(`chown `+regexp.QuoteMeta(name)+`(:`+regexp.QuoteMeta(name)+`)? /data\b`).MatchString(before) {
		t.Fatalf("Dockerfile does not create /data owned by %s before USER:\n%s", name, b)
	}
	if !regexp.MustCompile(`(?m)^VOLUME\s+/data\s*$`).MatchString(text) {
		t.Error("Dockerfile does not declare VOLUME /data")
	}
}
