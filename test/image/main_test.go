package image

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad invocations fail before anything is written.
func TestMainRefuses(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\nARG VERSION=dev\nCOPY --chown=1:1 b /b\nUSER 1:1\nENTRYPOINT [\"/b\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no binary", []string{"--out", out}, "--binary and --out are required"},
		{"no out", []string{"--binary", self}, "--binary and --out are required"},
		{"stray argument", []string{"--binary", self, "--out", out, "extra"}, "and nothing else"},
		{"bad build arg", []string{"--binary", self, "--out", out, "--build-arg", "VERSION"}, `"VERSION" is not NAME=VALUE`},
		{"bad tag", []string{"--binary", self, "--out", out, "--tag", "Bad Tag"}, "--tag:"},
		{"missing Dockerfile", []string{"--binary", self, "--out", out, "--dockerfile", filepath.Join(dir, "nope")}, "no such file"},
		{"undeclared build arg", []string{"--binary", self, "--out", out, "--dockerfile", df, "--build-arg", "REV=1"}, "build arg REV is not declared"},
		{"not the sidecar", []string{"--binary", self, "--out", out, "--dockerfile", df}, "binary of github.com/cpen/router/test/image.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := Main(tc.args, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Main error %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s exists after a refusal", out)
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := Main([]string{"--help"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Main(--help) = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "-build-arg") {
		t.Fatalf("usage %q does not list -build-arg", stderr.String())
	}
}
