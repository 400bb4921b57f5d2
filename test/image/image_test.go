package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/cpen/router/config"
)

const (
	wantEntrypoint = "/cpen-extproc"
	wantUser       = "65532:65532"
	testVersion    = "1.2.3-test"
	testTag        = "cpen-extproc:" + testVersion
)

// repoRoot is the main module's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// buildTools builds cpen-extproc the way the Dockerfile and `make image`
// do (static, vtprotobuf, trimmed paths, stripped), and the image builder,
// into dir, and returns their paths. The builder runs as its own process,
// outside the race detector, which would slow its compression tenfold.
func buildTools(t *testing.T, root, dir string) (sidecar, mkimage string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-tags", "vtprotobuf", "-trimpath", "-ldflags", "-s -w",
		"-o", dir+string(filepath.Separator), "./extproc/cmd/cpen-extproc", "./test/cmd/mkimage")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	t.Logf("static build: %v", time.Since(start).Round(time.Millisecond))
	return filepath.Join(dir, "cpen-extproc"), filepath.Join(dir, "mkimage")
}

// mkimage runs the builder as `make image` does.
func mkimage(t *testing.T, root, builder, binary, out string) {
	t.Helper()
	code, stderr := run(t, builder,
		"--binary", binary,
		"--dockerfile", filepath.Join(root, "Dockerfile"),
		"--build-arg", "VERSION="+testVersion,
		"--tag", testTag,
		"--out", out)
	if code != 0 {
		t.Fatalf("mkimage: exit %d\n%s", code, stderr)
	}
	t.Log(strings.TrimSpace(stderr))
}

// run runs a binary and returns its exit code and stderr; stdout must stay
// empty, since the sidecar writes only to stderr.
func run(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{} // as in the image: nothing inherited
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	if stdout.Len() > 0 {
		t.Errorf("%s %q wrote to stdout: %q", bin, args, stdout.String())
	}
	return code, stderr.String()
}

// layerFiles reads every entry of the image's layers.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (no base, the binary)", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, b
	}
	return hdrs, data
}

// wantCheckConfig is what `cpen-extproc --check-config path` prints for a
// valid catalog: its warnings, then the summary counted from the catalog.
func wantCheckConfig(t *testing.T, path string) string {
	t.Helper()
	c, err := config.LoadFile(path)
	if err != nil {
		t.Fatalf("the catalog %s does not load: %v", path, err)
	}
	var b strings.Builder
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	fmt.Fprintf(&b, "%s: ok (%d tiers, %d providers, %d routes, %d keys)\n",
		path, len(c.Tiers), len(c.Providers), len(c.Routes), len(c.Keys))
	return b.String()
}

// chartCatalog is the chart's default catalog, or the sidecar's own
// default catalog where the chart has none.
func chartCatalog(t *testing.T, root string) string {
	t.Helper()
	p := filepath.Join(root, "charts", "cpen-router", "files", "catalog.yaml")
	if _, err := os.Stat(p); err == nil {
		t.Logf("chart catalog: %s", p)
		return p
	}
	p = filepath.Join(root, "config", "default_catalog.yaml")
	t.Logf("no chart catalog; using %s", p)
	return p
}

// The image built without a daemon has the Dockerfile's entrypoint, user
// and labels, holds only the static binary, and that binary, taken out of
// the layer, validates the chart's catalog and the default one.
func TestImageTarball(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	binary, builder := buildTools(t, root, dir)
	out := filepath.Join(dir, "image.tar")
	start := time.Now()
	mkimage(t, root, builder, binary, out)
	t.Logf("image build: %v", time.Since(start).Round(time.Millisecond))

	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stage, err := FinalStage(df, map[string]string{"VERSION": testVersion})
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if !reflect.DeepEqual(stage.Entrypoint, []string{wantEntrypoint}) || stage.User != wantUser {
		t.Fatalf("Dockerfile: ENTRYPOINT %q USER %q, want [%q] %q", stage.Entrypoint, stage.User, wantEntrypoint, wantUser)
	}

	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || !reflect.DeepEqual(manifest[0].RepoTags, []string{testTag}) {
		t.Fatalf("manifest.json %+v, want one image tagged %s", manifest, testTag)
	}
	tag, err := name.NewTag(testTag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	t.Logf("config: entrypoint %q, user %q, workdir %q, %s/%s, labels %v", cfg.Entrypoint, cfg.User, cfg.WorkingDir, cf.OS, cf.Architecture, cfg.Labels)
	if !reflect.DeepEqual(cfg.Entrypoint, stage.Entrypoint) || cfg.Cmd != nil {
		t.Errorf("entrypoint %q cmd %q, want the Dockerfile's %q and no cmd", cfg.Entrypoint, cfg.Cmd, stage.Entrypoint)
	}
	if cfg.User != stage.User {
		t.Errorf("user %q, want the Dockerfile's %q", cfg.User, stage.User)
	}
	uid, gid, ok := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); !ok || err != nil || n == 0 {
		t.Errorf("user %q is not a numeric non-root uid:gid", cfg.User)
	} else if _, err := strconv.Atoi(gid); err != nil {
		t.Errorf("user %q has a non-numeric group", cfg.User)
	}
	if cfg.WorkingDir != "/" || len(cfg.Env) != 0 {
		t.Errorf("workdir %q env %q, want / and none", cfg.WorkingDir, cfg.Env)
	}
	if !reflect.DeepEqual(cfg.Labels, stage.Labels) {
		t.Errorf("labels %v, want the Dockerfile's %v", cfg.Labels, stage.Labels)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source":  "https://github.com/cpen/router",
		"org.opencontainers.image.version": testVersion,
	} {
		if cfg.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], want)
		}
	}
	if cfg.Labels["org.opencontainers.image.licenses"] == "" {
		t.Error("no org.opencontainers.image.licenses label")
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}

	hdrs, data := layerFiles(t, img)
	h, ok := hdrs["cpen-extproc"]
	if len(hdrs) != 1 || !ok {
		t.Fatalf("layer entries %v, want only cpen-extproc", keys(hdrs))
	}
	if h.Typeflag != tar.TypeReg || h.Mode != 0o755 || h.Uid != 65532 || h.Gid != 65532 {
		t.Errorf("cpen-extproc: type %c mode %o owner %d:%d, want a regular file, 0755, 65532:65532", h.Typeflag, h.Mode, h.Uid, h.Gid)
	}
	built, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(data["cpen-extproc"]) != sha256.Sum256(built) {
		t.Fatal("the binary in the layer is not the one built")
	}
	extracted := filepath.Join(t.TempDir(), "cpen-extproc")
	if err := os.WriteFile(extracted, data["cpen-extproc"], 0o755); err != nil {
		t.Fatal(err)
	}
	assertStatic(t, extracted)

	code, stderr := run(t, extracted, "--help")
	if code != 0 || !strings.HasPrefix(stderr, "Usage of cpen-extproc:\n") || !strings.Contains(stderr, "-check-config file") {
		t.Errorf("--help: exit %d, stderr %q", code, stderr)
	}
	for _, catalog := range []string{chartCatalog(t, root), filepath.Join(root, "config", "default_catalog.yaml")} {
		code, stderr := run(t, extracted, "--check-config", catalog)
		if want := wantCheckConfig(t, catalog); code != 0 || stderr != want {
			t.Errorf("--check-config %s: exit %d, stderr %q; want 0, %q", catalog, code, stderr, want)
		}
	}
	bad := filepath.Join(root, "config", "testdata", "bad_price.yaml")
	if code, stderr := run(t, extracted, "--check-config", bad); code != 1 || !strings.HasPrefix(stderr, "cpen-extproc: catalog "+bad+": ") {
		t.Errorf("--check-config on a bad catalog: exit %d, stderr %q; want 1 and the reason", code, stderr)
	}

	// The same binary and Dockerfile give the same tarball, byte for byte.
	again := filepath.Join(dir, "again.tar")
	mkimage(t, root, builder, binary, again)
	if a, b := fileSum(t, out), fileSum(t, again); a != b {
		t.Errorf("two builds differ: %x and %x", a, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binary %d bytes, tarball %d bytes", len(built), fi.Size())
}

// assertStatic checks the ELF header: no interpreter, no shared library.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has PT_INTERP: dynamically linked", path)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Fatalf("%s needs shared libraries %v (%v)", path, libs, err)
	}
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
