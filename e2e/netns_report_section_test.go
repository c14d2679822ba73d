package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The netns section of docs/reliability.md is appended once, replaced in
// place by the next long run, and found again by the chaos suite's writer,
// which rewrites everything else.
func TestNetnsSection_AppendedReplacedAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reliability.md")
	chaos := "# Reliability: the chaos suite\n\nchaos table\n"
	if err := os.WriteFile(path, []byte(chaos), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := netnsSection(path); s != "" {
		t.Fatalf("a file without the section: %q", s)
	}
	first := netnsBegin + "\nrun 1\n" + netnsEnd
	if err := replaceNetnsSection(path, first); err != nil {
		t.Fatal(err)
	}
	if got := netnsSection(path); got != first {
		t.Fatalf("after appending: %q", got)
	}
	second := netnsBegin + "\nrun 2\n" + netnsEnd
	if err := replaceNetnsSection(path, second); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), chaos) || strings.Contains(string(b), "run 1") || strings.Count(string(b), netnsBegin) != 1 {
		t.Fatalf("after replacing:\n%s", b)
	}
	if got := netnsSection(path); got != second {
		t.Fatalf("the chaos writer would keep %q, want %q", got, second)
	}
}
