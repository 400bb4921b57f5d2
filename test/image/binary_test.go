package image

import (
	"debug/elf"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// A dynamically linked binary cannot run on an image without a base, so
// the build refuses it.
func TestPlatformRefusesDynamicBinary(t *testing.T) {
	const dynamic = "/bin/true"
	f, err := elf.Open(dynamic)
	if err != nil {
		t.Skipf("no ELF %s here: %v", dynamic, err)
	}
	interp := false
	for _, p := range f.Progs {
		interp = interp || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !interp {
		t.Skipf("%s is statically linked here", dynamic)
	}
	b, err := os.ReadFile(dynamic)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Platform(b)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked (PT_INTERP)") {
		t.Fatalf("Platform(%s) error %v, want a refusal naming PT_INTERP", dynamic, err)
	}
}

func TestPlatformRefusesNonELF(t *testing.T) {
	_, _, err := Platform([]byte("#!/bin/sh\necho hi\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "not an ELF binary") {
		t.Fatalf("error %v, want not an ELF binary", err)
	}
}

func TestCheckBuildInfo(t *testing.T) {
	good := []debug.BuildSetting{{Key: "-tags", Value: "netgo,vtprotobuf"}, {Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "0"}}
	tests := []struct {
		name     string
		path     string
		settings []debug.BuildSetting
		want     []string // each in the error; none means no error
	}{
		{"as the Dockerfile builds it", SidecarPackage, good, nil},
		{"another program", "example.com/other", good, []string{"binary of example.com/other"}},
		{"cgo on, no tags, no trimpath", SidecarPackage, []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "1"}},
			[]string{`CGO_ENABLED="1", want 0`, `build tags "" lack vtprotobuf`, "without -trimpath"}},
		{"a tag that only contains the name", SidecarPackage,
			[]debug.BuildSetting{{Key: "-tags", Value: "novtprotobuf"}, {Key: "-trimpath", Value: "true"}, {Key: "CGO_ENABLED", Value: "0"}},
			[]string{`build tags "novtprotobuf" lack vtprotobuf`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBuildInfo(&debug.BuildInfo{Path: tc.path, Settings: tc.settings})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The test binary itself is a Go program, but not the sidecar.
func TestCheckBuildRefusesAnotherProgram(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckBuild(b)
	if err == nil || !strings.Contains(err.Error(), "binary of github.com/cpen/router/test/image.test, want "+SidecarPackage) {
		t.Fatalf("CheckBuild(test binary) = %v", err)
	}
}
