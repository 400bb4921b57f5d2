package image

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
)

// SidecarPackage is the main package the image must hold.
const SidecarPackage = "github.com/cpen/router/extproc/cmd/cpen-extproc"

// goarch maps an ELF machine to the image's architecture.
func goarch(f *elf.File) (string, bool) {
	switch {
	case f.Machine == elf.EM_X86_64:
		return "amd64", true
	case f.Machine == elf.EM_AARCH64:
		return "arm64", true
	case f.Machine == elf.EM_PPC64 && f.Data == elf.ELFDATA2LSB:
		return "ppc64le", true
	case f.Machine == elf.EM_S390:
		return "s390x", true
	case f.Machine == elf.EM_RISCV:
		return "riscv64", true
	}
	return "", false
}

// Platform reads the binary's ELF header and returns the OS and
// architecture it runs on. An image without a base holds no dynamic loader
// and no libc, so a binary that names an interpreter (PT_INTERP) or needs
// shared libraries is refused.
func Platform(binary []byte) (osName, arch string, err error) {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return "", "", fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return "", "", fmt.Errorf("ELF OS ABI %v is not Linux", f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", "", errors.New("dynamically linked (PT_INTERP): build with CGO_ENABLED=0")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", "", fmt.Errorf("reading the dynamic section: %w", err)
	}
	if len(libs) > 0 {
		return "", "", fmt.Errorf("needs shared libraries %v: build with CGO_ENABLED=0", libs)
	}
	arch, ok := goarch(f)
	if !ok {
		return "", "", fmt.Errorf("ELF machine %v has no image architecture here", f.Machine)
	}
	return "linux", arch, nil
}

// CheckBuild refuses a binary that is not the sidecar built as the
// Dockerfile builds it: the sidecar's main package, cgo off, the
// vtprotobuf tag, paths trimmed. The settings are read from the build
// information the Go linker embeds, which stripping symbols keeps.
func CheckBuild(binary []byte) error {
	info, err := buildinfo.Read(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("no Go build information: %w", err)
	}
	return checkBuildInfo(info)
}

func checkBuildInfo(info *debug.BuildInfo) error {
	if info.Path != SidecarPackage {
		return fmt.Errorf("binary of %s, want %s", info.Path, SidecarPackage)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var problems []error
	if settings["CGO_ENABLED"] != "0" {
		problems = append(problems, fmt.Errorf("CGO_ENABLED=%q, want 0", settings["CGO_ENABLED"]))
	}
	if !slices.Contains(strings.Split(settings["-tags"], ","), "vtprotobuf") {
		problems = append(problems, fmt.Errorf("build tags %q lack vtprotobuf", settings["-tags"]))
	}
	if settings["-trimpath"] != "true" {
		problems = append(problems, errors.New("built without -trimpath"))
	}
	return errors.Join(problems...)
}
