package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// readDockerignore returns the patterns of a .dockerignore. Exceptions
// (`!pattern`) are refused: the check below does not model them.
func readDockerignore(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pats []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			t.Fatalf("%s: exception %q is not supported by this check", file, p)
		}
		pats = append(pats, strings.TrimPrefix(path.Clean(p), "/"))
	}
	return pats
}

// ignored reports whether Docker leaves rel (slash-separated, relative to
// the context) out of the build context: a pattern matches the path or one
// of its parent directories, and `**` matches any number of directories.
func ignored(pats []string, rel string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range pats {
		for n := 1; n <= len(parts); n++ {
			if matchSegments(strings.Split(p, "/"), parts[:n]) {
				return true
			}
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegments(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return err == nil && ok && matchSegments(pat[1:], name[1:])
}

func TestIgnoredMatcher(t *testing.T) {
	pats := []string{"bin", "**/*.test", "**/testdata", "docs/*.md"}
	tests := []struct {
		path string
		want bool
	}{
		{"bin", true},
		{"bin/cpen-extproc", true},
		{"cmd/bin/x.go", false},
		{"x.test", true},
		{"a/b/x.test", true},
		{"config/testdata/valid.yaml", true},
		{"testdata/a", true},
		{"config/load.go", false},
		{"docs/a.md", true},
		{"docs/sub/a.md", false},
		{"README.md", false},
	}
	for _, tc := range tests {
		if got := ignored(pats, tc.path); got != tc.want {
			t.Errorf("ignored(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// The Docker build context keeps every file the sidecar's build reads (the
// module files, and the Go and embedded files of each of its packages in
// this module) and leaves out the local build output and the git history.
func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	root := repoRoot(t)
	pats := readDockerignore(t, filepath.Join(root, ".dockerignore"))

	cmd := exec.Command("go", "list", "-tags", "vtprotobuf", "-deps", "-json=ImportPath,Dir,Module,GoFiles,EmbedFiles", "./extproc/cmd/cpen-extproc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Dir     string
			Module              *struct{ Path string }
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/cpen/router" {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			need = append(need, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(need) < 10 {
		t.Fatalf("only %d build inputs found: %q", len(need), need)
	}
	for _, f := range need {
		if ignored(pats, f) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", f)
		}
	}
	t.Logf("%d build inputs kept", len(need))

	for _, f := range []string{"bin/cpen-extproc", ".git/HEAD", "config/testdata/valid.yaml", "extproc/extproc.test"} {
		if !ignored(pats, f) {
			t.Errorf(".dockerignore sends %s to the build context", f)
		}
	}
}
